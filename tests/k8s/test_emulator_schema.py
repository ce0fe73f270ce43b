"""Structural schemas of custom resources: validation (422), pruning, nulls, defaults.

https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, widget


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_client)


def create(custom: client.CustomObjectsApi, body: dict) -> dict:
    return custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)


def test_invalid_object_is_422_with_field_causes(custom: client.CustomObjectsApi) -> None:
    """Schema violations are refused with 422 Invalid and one cause per field.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation
    """
    with pytest.raises(client.ApiException) as caught:
        create(custom, widget("w1", size=0, color="purple"))
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    causes = {c["field"]: c["reason"] for c in status["details"]["causes"]}
    assert causes == {"spec.color": "FieldValueNotSupported", "spec.size": "FieldValueInvalid"}
    assert status["message"].startswith('Widget.example.test "w1" is invalid: ')


def test_missing_required_field_is_422(custom: client.CustomObjectsApi) -> None:
    """``required`` properties must be present.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation
    """
    body = widget("w1")
    del body["spec"]["size"]
    with pytest.raises(client.ApiException) as caught:
        create(custom, body)
    cause = json.loads(caught.value.body)["details"]["causes"][0]
    assert (cause["field"], cause["reason"]) == ("spec.size", "FieldValueRequired")


def test_unknown_fields_are_pruned(custom: client.CustomObjectsApi) -> None:
    """Fields the schema does not declare are dropped silently, at every level.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning
    """
    body = widget("w1", undeclared=True)
    body["top"] = "level"
    created = create(custom, body)
    assert "undeclared" not in created["spec"] and "top" not in created


def test_preserve_unknown_fields_keeps_subtree(custom: client.CustomObjectsApi) -> None:
    """``x-kubernetes-preserve-unknown-fields: true`` keeps anything below it.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#controlling-pruning
    """
    created = create(custom, widget("w1", extra={"any": {"thing": [1, {"x": None}]}}))
    assert created["spec"]["extra"] == {"any": {"thing": [1, {"x": None}]}}


def test_undeclared_status_fields_are_pruned_on_status_writes(widgets: KubernetesEmulator) -> None:
    """Status writes are pruned too (kopf issue #321: undeclared status vanishes).

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning
    """
    widgets.create(WIDGETS, "default", widget("w1"))
    status = widgets.patch_status(
        WIDGETS, "default", "w1", {"phase": "Running", "handler": {"ok": 1}}
    )["status"]
    assert status == {"phase": "Running"}


def test_nulls_dropped_unless_nullable_and_defaults_applied(
    custom: client.CustomObjectsApi,
) -> None:
    """Non-nullable nulls are pruned before validation; nullable ones stay; defaults fill in.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable
    """
    created = create(custom, widget("w1", color=None, note=None))
    assert created["spec"] == {"size": 1, "color": "red", "note": None}


def test_list_type_map_refuses_duplicate_keys(widgets: KubernetesEmulator) -> None:
    """``x-kubernetes-list-type: map`` items are unique by their map keys.

    https://kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy
    """
    widgets.create(WIDGETS, "default", widget("w1"))
    condition = {"type": "Ready", "status": "True"}
    with pytest.raises(ApiError) as caught:
        widgets.patch_status(
            WIDGETS, "default", "w1", {"conditions": [condition, dict(condition, status="False")]}
        )
    assert caught.value.code == 422
    assert caught.value.details is not None
    assert caught.value.details["causes"][0]["field"] == "status.conditions[1]"


def test_invalid_patch_is_refused_and_object_unchanged(custom: client.CustomObjectsApi) -> None:
    """Validation applies to updates and patches, not only to creates.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation
    """
    create(custom, widget("w1"))
    with pytest.raises(client.ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "w1", {"spec": {"size": "big"}}
        )
    cause = json.loads(caught.value.body)["details"]["causes"][0]
    assert (caught.value.status, cause["reason"]) == (422, "FieldValueTypeInvalid")
    assert (
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")["spec"]["size"]
        == 1
    )
