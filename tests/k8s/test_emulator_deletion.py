"""Finalizers and owner-reference garbage collection.

https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/ and
https://kubernetes.io/docs/concepts/architecture/garbage-collection/
"""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.k8s.emulator import ApiError, Change, KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, job, pod, widget


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_client)


def names(api: KubernetesEmulator, resource: str) -> list[str]:
    return [o["metadata"]["name"] for o in api.list(resource, "default")]


def test_finalizers_hold_deletion_until_removed(
    widgets: KubernetesEmulator, custom: client.CustomObjectsApi
) -> None:
    """DELETE on an object with finalizers only sets deletionTimestamp; removing the last
    finalizer removes the object, with a DELETED event.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/#how-finalizers-work
    """
    body = widget("w1")
    body["metadata"]["finalizers"] = ["example.test/cleanup"]
    created = widgets.create(WIDGETS, "default", body)
    changes: list[Change] = []
    widgets.subscribe(changes.append, WIDGETS)
    answer = custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    assert answer["metadata"]["deletionTimestamp"]
    marked = widgets.get(WIDGETS, "default", "w1")
    assert int(marked["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"metadata": {"finalizers": None}}
    )
    assert names(widgets, WIDGETS) == []
    assert [c.type for c in changes] == ["MODIFIED", "DELETED"]  # no MODIFIED for the release


def test_no_new_finalizers_while_deleting(widgets: KubernetesEmulator) -> None:
    """Once deletionTimestamp is set, finalizers can only be removed, not added.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/#how-finalizers-work
    """
    body = widget("w1")
    body["metadata"]["finalizers"] = ["a"]
    widgets.create(WIDGETS, "default", body)
    widgets.delete(WIDGETS, "default", "w1")
    with pytest.raises(ApiError) as caught:
        widgets.patch(WIDGETS, "default", "w1", {"metadata": {"finalizers": ["a", "b"]}})
    assert caught.value.code == 422


def test_background_deletion_collects_dependents(
    k8s_api: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """Deleting an owner (Background) deletes objects whose ownerReferences name it.

    https://kubernetes.io/docs/concepts/architecture/garbage-collection/#background-deletion
    """
    owner = k8s_api.create("batch/v1/jobs", "default", job("j1"))
    k8s_api.create("v1/pods", "default", pod("j1-a", owner))
    k8s_api.create("v1/pods", "default", pod("other"))
    client.BatchV1Api(k8s_client).delete_namespaced_job(
        "j1", "default", propagation_policy="Background"
    )
    assert names(k8s_api, "v1/pods") == ["other"]


def test_foreground_deletion_waits_for_blocking_dependents(k8s_api: KubernetesEmulator) -> None:
    """Foreground: the owner gets the foregroundDeletion finalizer and goes only after its
    blockOwnerDeletion dependents are gone.

    https://kubernetes.io/docs/concepts/architecture/garbage-collection/#foreground-deletion
    """
    owner = k8s_api.create("batch/v1/jobs", "default", job("j1"))
    stuck = pod("j1-a", owner)
    stuck["metadata"]["finalizers"] = ["example.test/hold"]
    k8s_api.create("v1/pods", "default", stuck)
    k8s_api.delete("batch/v1/jobs", "default", "j1", propagation_policy="Foreground")
    marked = k8s_api.get("batch/v1/jobs", "default", "j1")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert marked["metadata"]["deletionTimestamp"]
    k8s_api.patch("v1/pods", "default", "j1-a", {"metadata": {"finalizers": None}})
    assert names(k8s_api, "v1/pods") == []
    assert names(k8s_api, "batch/v1/jobs") == []


def test_orphan_deletion_keeps_dependents_without_owner(k8s_api: KubernetesEmulator) -> None:
    """Orphan: dependents stay, with the owner's reference removed.

    https://kubernetes.io/docs/concepts/architecture/garbage-collection/#orphaned-dependents
    """
    owner = k8s_api.create("batch/v1/jobs", "default", job("j1"))
    k8s_api.create("v1/pods", "default", pod("j1-a", owner))
    k8s_api.delete("batch/v1/jobs", "default", "j1", propagation_policy="Orphan")
    [orphan] = k8s_api.list("v1/pods", "default")
    assert "ownerReferences" not in orphan["metadata"]


def test_job_deletion_without_policy_orphans_pods(
    k8s_api: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """batch/v1 Jobs default to orphaning their pods when no propagation policy is given.

    https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup
    """
    owner = k8s_api.create("batch/v1/jobs", "default", job("j1"))
    k8s_api.create("v1/pods", "default", pod("j1-a", owner))
    client.BatchV1Api(k8s_client).delete_namespaced_job("j1", "default")
    assert names(k8s_api, "v1/pods") == ["j1-a"]


def test_cascade_through_custom_resource_owner(widgets: KubernetesEmulator) -> None:
    """Ownership chains cascade: Widget -> Job -> Pod (as kopf.adopt builds them).

    https://kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents/
    """
    owner = widgets.create(WIDGETS, "default", widget("w1"))
    child = job("w1-job")
    child["metadata"]["ownerReferences"] = [pod("x", owner)["metadata"]["ownerReferences"][0]]
    created_job = widgets.create("batch/v1/jobs", "default", child)
    widgets.create("v1/pods", "default", pod("w1-job-a", created_job))
    widgets.delete(WIDGETS, "default", "w1")
    assert names(widgets, "batch/v1/jobs") == [] and names(widgets, "v1/pods") == []


def test_dependent_with_a_living_owner_survives(k8s_api: KubernetesEmulator) -> None:
    """An object is collected only when none of its owners exists any more.

    https://kubernetes.io/docs/concepts/architecture/garbage-collection/#owners-dependents
    """
    first = k8s_api.create("batch/v1/jobs", "default", job("j1"))
    second = k8s_api.create("batch/v1/jobs", "default", job("j2"))
    shared = pod("shared", first)
    shared["metadata"]["ownerReferences"].append(
        pod("x", second, block=False)["metadata"]["ownerReferences"][0]
    )
    k8s_api.create("v1/pods", "default", shared)
    k8s_api.delete("batch/v1/jobs", "default", "j1", propagation_policy="Background")
    assert names(k8s_api, "v1/pods") == ["shared"]


def test_delete_preconditions(k8s_api: KubernetesEmulator, k8s_client: client.ApiClient) -> None:
    """DeleteOptions preconditions on uid/resourceVersion fail with 409 when stale.

    https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/
    """
    k8s_api.create("v1/configmaps", "default", {"metadata": {"name": "c1"}})
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(k8s_client).delete_namespaced_config_map("c1", "default", body=options)
    assert caught.value.status == 409


def test_deleting_a_namespace_deletes_its_objects(k8s_api: KubernetesEmulator) -> None:
    """Objects in a deleted namespace are deleted with it.

    https://kubernetes.io/docs/tasks/administer-cluster/namespaces/#deleting-a-namespace
    """
    k8s_api.create("v1/namespaces", None, {"metadata": {"name": "team-a"}})
    k8s_api.create("v1/configmaps", "team-a", {"metadata": {"name": "c1"}})
    k8s_api.delete("v1/namespaces", None, "team-a")
    assert k8s_api.list("v1/configmaps", "team-a") == []
