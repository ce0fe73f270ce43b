"""The patch formats: JSON merge patch, JSON patch and strategic merge patch.

https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
"""

from __future__ import annotations

import httpx
import pytest
from kubernetes import client

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, pod, widget

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
WIDGET_URL = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/w1"


@pytest.fixture
def stored(widgets: KubernetesEmulator) -> KubernetesEmulator:
    widgets.create(
        WIDGETS, "default", widget("w1", labels={"a": "1", "b": "2"}, extra={"list": [1, 2]})
    )
    return widgets


def test_merge_patch_merges_objects_deletes_nulls_replaces_lists(
    stored: KubernetesEmulator, http: httpx.Client
) -> None:
    """RFC 7386: maps merge, ``null`` removes a key, lists are replaced whole.

    https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-json-merge-patch-to-update-a-deployment
    """
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"extra": {"list": [9]}}}
    answer = http.patch(WIDGET_URL, json=patch, headers=MERGE)
    assert answer.status_code == 200
    assert answer.json()["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert answer.json()["spec"]["extra"] == {"list": [9]}


def test_json_patch_operations(stored: KubernetesEmulator, k8s_client: client.ApiClient) -> None:
    """RFC 6902 operations apply in order (official client, explicit content type).

    https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
    """
    operations = [
        {"op": "replace", "path": "/spec/size", "value": 4},
        {"op": "add", "path": "/spec/extra/list/-", "value": 3},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.test/keep"]},
    ]
    patched = client.CustomObjectsApi(k8s_client).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "w1",
        operations,
        _content_type="application/json-patch+json",
    )
    assert patched["spec"]["size"] == 4 and patched["spec"]["extra"]["list"] == [1, 2, 3]
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert patched["metadata"]["finalizers"] == ["example.test/keep"]


def test_json_patch_failed_test_is_422(stored: KubernetesEmulator, http: httpx.Client) -> None:
    """A failed ``test`` operation rejects the whole patch (kopf relies on this).

    https://datatracker.ietf.org/doc/html/rfc6902#section-4.6 via
    https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
    """
    operations = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/size", "value": 4},
    ]
    answer = http.patch(WIDGET_URL, json=operations, headers=JSON_PATCH)
    assert answer.status_code == 422
    assert stored.get(WIDGETS, "default", "w1")["spec"]["size"] == 1


def test_strategic_merge_patch_merges_lists_by_key(
    k8s_api: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """Strategic merge: containers merge by name, env by name, finalizers as a set.

    https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/#use-a-strategic-merge-patch-to-update-a-deployment
    """
    body = pod("p1")
    body["metadata"]["finalizers"] = ["a"]
    body["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    k8s_api.create("v1/pods", "default", body)
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "containers": [
                {"name": "main", "env": [{"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "busybox"},
            ]
        },
    }
    patched = client.CoreV1Api(k8s_client).patch_namespaced_pod("p1", "default", patch)  # strategic
    containers = {c.name: c for c in patched.spec.containers}
    assert set(containers) == {"main", "sidecar"}
    assert containers["main"].image == "busybox"
    assert [(e.name, e.value) for e in containers["main"].env] == [("A", "1"), ("B", "2")]
    assert patched.metadata.finalizers == ["a", "b"]


def test_strategic_merge_patch_delete_directive(
    k8s_api: KubernetesEmulator, http: httpx.Client
) -> None:
    """``$patch: delete`` removes one keyed item from a list.

    https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
    via https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
    """
    body = pod("p1")
    body["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    k8s_api.create("v1/pods", "default", body)
    patch = {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    answer = http.patch("/api/v1/namespaces/default/pods/p1", json=patch, headers=STRATEGIC)
    assert [c["name"] for c in answer.json()["spec"]["containers"]] == ["main"]


def test_strategic_merge_patch_on_custom_resource_is_415(
    stored: KubernetesEmulator, http: httpx.Client
) -> None:
    """Custom resources do not support strategic merge patch: 415.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#advanced-topics
    """
    answer = http.patch(WIDGET_URL, json={"spec": {"size": 2}}, headers=STRATEGIC)
    assert answer.status_code == 415
    assert answer.json()["reason"] == "UnsupportedMediaType"


def test_apply_patch_is_refused_415(stored: KubernetesEmulator, http: httpx.Client) -> None:
    """Server-side apply is not emulated: the emulator answers 415 rather than guess.

    https://kubernetes.io/docs/reference/using-api/server-side-apply/
    """
    answer = http.patch(
        WIDGET_URL,
        content=b"spec: {size: 2}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert answer.status_code == 415


def test_merge_patch_with_stale_resource_version_is_409(
    stored: KubernetesEmulator, http: httpx.Client
) -> None:
    """A patch that names a resourceVersion is a precondition: stale means 409 Conflict.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#conflicts
    """
    answer = http.patch(
        WIDGET_URL, json={"metadata": {"resourceVersion": "1"}, "spec": {"size": 2}}, headers=MERGE
    )
    assert answer.status_code == 409
