"""Label and field selectors on list requests.

https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
"""

from __future__ import annotations

import httpx
import pytest
from kubernetes import client

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, widget

LABELS = {
    "a": {"type": "invoice", "company": "acme"},
    "b": {"type": "receipt", "company": "acme"},
    "c": {"type": "receipt", "company": "globex", "urgent": "true"},
    "d": {},
}


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    for name, labels in LABELS.items():
        widgets.create(WIDGETS, "default", widget(name, labels=labels))
    return client.CustomObjectsApi(k8s_client)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("type=receipt", "bc"),
        ("type==receipt", "bc"),
        ("type!=receipt", "ad"),
        ("company in (acme, globex),type notin (invoice)", "bc"),
        ("company notin (acme)", "cd"),
        ("urgent", "c"),
        ("!urgent", "abd"),
        ("type=receipt,company=acme", "b"),
        ("", "abcd"),
    ],
)
def test_label_selector_operators(
    custom: client.CustomObjectsApi, selector: str, expected: str
) -> None:
    """Equality (=, ==, !=) and set-based (in, notin, exists, !exists) requirements, ANDed.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
    """
    listed = custom.list_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, label_selector=selector
    )
    assert "".join(i["metadata"]["name"] for i in listed["items"]) == expected


def test_field_selector_by_name_and_namespace(
    custom: client.CustomObjectsApi, widgets: KubernetesEmulator
) -> None:
    """``metadata.name`` and ``metadata.namespace`` are selectable on every resource.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
    """
    widgets.create("v1/namespaces", None, {"metadata": {"name": "other"}})
    widgets.create(WIDGETS, "other", widget("a"))
    by_name = custom.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, field_selector="metadata.name=a"
    )
    not_default = custom.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, field_selector="metadata.namespace!=default"
    )
    assert [i["metadata"]["namespace"] for i in by_name["items"]] == ["default", "other"]
    assert [i["metadata"]["name"] for i in not_default["items"]] == ["a"]


def test_pod_field_selector_on_status_phase(
    k8s_api: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """Pods support ``status.phase`` (among others) as a field selector.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/#supported-fields
    """
    for name in ("p1", "p2"):
        k8s_api.create(
            "v1/pods", "default", {"metadata": {"name": name}, "spec": {"containers": []}}
        )
    k8s_api.patch_status("v1/pods", "default", "p2", {"phase": "Running"})
    running = client.CoreV1Api(k8s_client).list_namespaced_pod(
        "default", field_selector="status.phase=Running"
    )
    assert [p.metadata.name for p in running.items] == ["p2"]


def test_unsupported_field_selector_is_400(
    custom: client.CustomObjectsApi, http: httpx.Client
) -> None:
    """Fields a resource does not declare selectable are refused with 400.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/#supported-fields
    """
    answer = http.get(f"/apis/{GROUP}/{VERSION}/{PLURAL}", params={"fieldSelector": "spec.size=1"})
    assert answer.status_code == 400


def test_malformed_label_selector_is_400(
    custom: client.CustomObjectsApi, http: httpx.Client
) -> None:
    """A selector that does not parse is a 400 BadRequest.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
    """
    answer = http.get(f"/apis/{GROUP}/{VERSION}/{PLURAL}", params={"labelSelector": "a in b"})
    assert (answer.status_code, answer.json()["reason"]) == (400, "BadRequest")
