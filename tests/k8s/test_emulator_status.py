"""The status subresource: spec and status are written separately, and
``metadata.generation`` counts spec changes only.

https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
"""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, job, widget


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    custom = client.CustomObjectsApi(k8s_client)
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, widget("w1"))
    return custom


def read(custom: client.CustomObjectsApi) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")


def test_create_cannot_set_status(widgets: KubernetesEmulator) -> None:
    """With a status subresource, the status in a create request is ignored.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    body = widget("w2")
    body["status"] = {"phase": "Forged"}
    assert "status" not in widgets.create("widgets", "default", body)


def test_main_resource_writes_ignore_status(custom: client.CustomObjectsApi) -> None:
    """PUT/PATCH on the main resource ignore changes to the status stanza.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    patched = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "w1",
        {"spec": {"size": 2}, "status": {"phase": "Forged"}},
    )
    assert patched["spec"]["size"] == 2
    assert "status" not in patched


def test_status_writes_ignore_everything_but_status(custom: client.CustomObjectsApi) -> None:
    """PUT/PATCH on /status change only the status; spec and metadata stay.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    patch = {
        "spec": {"size": 9},
        "metadata": {"labels": {"x": "y"}},
        "status": {"phase": "Running"},
    }
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "w1", patch
    )
    assert patched["status"] == {"phase": "Running"}
    assert patched["spec"]["size"] == 1
    assert "labels" not in patched["metadata"]
    replaced = custom.replace_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "w1", dict(patched, status={"phase": "Done"})
    )
    assert replaced["status"] == {"phase": "Done"}


def test_generation_counts_spec_changes_only(custom: client.CustomObjectsApi) -> None:
    """``metadata.generation`` increments on spec changes, not on status or metadata.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    """
    patch_status = custom.patch_namespaced_custom_object_status
    patch_main = custom.patch_namespaced_custom_object
    patch_status(GROUP, VERSION, "default", PLURAL, "w1", {"status": {"phase": "Running"}})
    patch_main(GROUP, VERSION, "default", PLURAL, "w1", {"metadata": {"labels": {"a": "b"}}})
    assert read(custom)["metadata"]["generation"] == 1
    patch_main(GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": 5}})
    assert read(custom)["metadata"]["generation"] == 2


def test_every_change_bumps_resource_version_but_no_ops_do_not(
    custom: client.CustomObjectsApi,
) -> None:
    """Each write that changes the object gets a new resourceVersion; a no-op keeps it.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
    """
    before = read(custom)["metadata"]["resourceVersion"]
    same = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": 1}}
    )
    changed = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "w1", {"status": {"phase": "Running"}}
    )
    assert same["metadata"]["resourceVersion"] == before
    assert int(changed["metadata"]["resourceVersion"]) > int(before)


def test_job_status_subresource(k8s_client: client.ApiClient) -> None:
    """batch/v1 Jobs have a /status subresource too: the Job controller writes there.

    https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup
    """
    batch = client.BatchV1Api(k8s_client)
    batch.create_namespaced_job("default", job("j1"))
    batch.patch_namespaced_job_status("j1", "default", {"status": {"active": 1}})
    batch.patch_namespaced_job(
        "j1", "default", {"status": {"active": 7}, "metadata": {"labels": {"a": "b"}}}
    )
    current = batch.read_namespaced_job_status("j1", "default")
    assert current.status.active == 1
    assert current.metadata.labels == {"a": "b"}
    assert current.metadata.generation == 1
