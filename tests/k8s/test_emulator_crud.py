"""Create, read, list, replace and delete through the official client, with the
resourceVersion, uid and error semantics of a real API server.

https://kubernetes.io/docs/reference/using-api/api-concepts/
"""

from __future__ import annotations

import json

import httpx
import pytest
from kubernetes import client

from tests.k8s.emulator import ApiError, Change, KubernetesEmulator
from tests.k8s.factories import GROUP, PLURAL, VERSION, WIDGETS, job, pod, widget


@pytest.fixture
def custom(widgets: KubernetesEmulator, k8s_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(k8s_client)


def create_widget(custom: client.CustomObjectsApi, body: dict) -> dict:
    return custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)


def test_create_assigns_server_fields(custom: client.CustomObjectsApi) -> None:
    """Create answers 201 with uid, resourceVersion, creationTimestamp, generation 1.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
    """
    first = create_widget(custom, widget("w1"))
    second = create_widget(custom, widget("w2"))
    meta = first["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1 and meta["namespace"] == "default"
    assert int(second["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])


def test_create_with_generate_name(custom: client.CustomObjectsApi) -> None:
    """``generateName`` makes the server pick a unique name with that prefix.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#generated-values
    """
    body = widget("")
    body["metadata"] = {"generateName": "batch-"}
    names = {create_widget(custom, body)["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("batch-") and len(n) == 11 for n in names)


def test_repeated_create_is_409_already_exists(custom: client.CustomObjectsApi) -> None:
    """A second create with the same name is refused: 409 with reason AlreadyExists.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resources-and-status-codes
    """
    create_widget(custom, widget("w1"))
    with pytest.raises(client.ApiException) as caught:
        create_widget(custom, widget("w1"))
    status = json.loads(caught.value.body)
    assert caught.value.status == 409
    assert (status["kind"], status["status"], status["reason"]) == (
        "Status",
        "Failure",
        "AlreadyExists",
    )


def test_get_missing_is_404_not_found(custom: client.CustomObjectsApi) -> None:
    """Reading an absent object answers a ``Status`` with code 404, reason NotFound.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resources-and-status-codes
    """
    with pytest.raises(client.ApiException) as caught:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "nope")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["reason"] == "NotFound"


def test_create_in_missing_namespace_is_404(custom: client.CustomObjectsApi) -> None:
    """Namespaced objects can only be created in an existing namespace.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
    """
    with pytest.raises(client.ApiException) as caught:
        custom.create_namespaced_custom_object(GROUP, VERSION, "elsewhere", PLURAL, widget("w1"))
    assert caught.value.status == 404


def test_invalid_name_is_422(custom: client.CustomObjectsApi) -> None:
    """Object names must be DNS subdomains.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names
    """
    with pytest.raises(client.ApiException) as caught:
        create_widget(custom, widget("Not_Valid"))
    status = json.loads(caught.value.body)
    assert caught.value.status == 422
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_list_has_list_kind_and_resource_version(custom: client.CustomObjectsApi) -> None:
    """A list is ``<Kind>List`` with the collection's resourceVersion in its metadata.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#collections
    """
    created = [create_widget(custom, widget(name)) for name in ("b", "a")]
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["kind"] == "WidgetList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
    newest = max(int(c["metadata"]["resourceVersion"]) for c in created)
    assert int(listed["metadata"]["resourceVersion"]) >= newest


def test_list_in_chunks_with_limit_and_continue(custom: client.CustomObjectsApi) -> None:
    """``limit`` returns a page and a ``continue`` token for the next one.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
    """
    for name in ("a", "b", "c"):
        create_widget(custom, widget(name))
    first = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2)
    token = first["metadata"]["continue"]
    rest = custom.list_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, limit=2, _continue=token
    )
    assert [i["metadata"]["name"] for i in first["items"] + rest["items"]] == ["a", "b", "c"]
    assert "continue" not in rest["metadata"]


def test_replace_with_stale_resource_version_is_409_conflict(
    custom: client.CustomObjectsApi,
) -> None:
    """PUT with an outdated ``metadata.resourceVersion`` fails with 409 Conflict.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#conflicts
    """
    stale = create_widget(custom, widget("w1"))
    fresh = dict(stale, spec={"size": 2})
    custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", fresh)
    stale["spec"]["size"] = 3
    with pytest.raises(client.ApiException) as caught:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1", stale)
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "Conflict"


def test_replace_keeps_server_owned_metadata(custom: client.CustomObjectsApi) -> None:
    """Clients cannot rewrite uid or creationTimestamp; a no-op write keeps the version.

    https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/
    """
    created = create_widget(custom, widget("w1"))
    forged = json.loads(json.dumps(created))
    forged["metadata"].update(uid="forged", creationTimestamp="2000-01-01T00:00:00Z")
    replaced = custom.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", forged
    )
    assert replaced["metadata"] == created["metadata"]


def test_delete_without_finalizers_removes_at_once(
    k8s_client: client.ApiClient, k8s_api: KubernetesEmulator
) -> None:
    """Deleting a Job answers a Success ``Status``; the object is gone.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resources-and-status-codes
    """
    batch = client.BatchV1Api(k8s_client)
    batch.create_namespaced_job("default", job("j1"))
    status = batch.delete_namespaced_job("j1", "default", propagation_policy="Background")
    assert status["status"] == "Success"
    assert k8s_api.list("batch/v1/jobs", "default") == []


def test_job_creation_gets_server_defaults(k8s_client: client.ApiClient) -> None:
    """A Job gets a controller-uid selector, matching pod-template labels and defaults.

    https://kubernetes.io/docs/concepts/workloads/controllers/job/#specifying-your-own-pod-selector
    """
    created = client.BatchV1Api(k8s_client).create_namespaced_job("default", job("j1"))
    uid = created.metadata.uid
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert created.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "j1"
    assert (created.spec.backoff_limit, created.spec.completions, created.metadata.generation) == (
        6,
        1,
        1,
    )


def test_cluster_scoped_namespaces(k8s_client: client.ApiClient) -> None:
    """Namespaces are cluster-scoped; default ones exist; new ones can be created.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#initial-namespaces
    """
    core = client.CoreV1Api(k8s_client)
    core.create_namespace({"metadata": {"name": "team-a"}})
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "team-a"} <= names
    assert core.read_namespace("team-a").status.phase == "Active"


def test_events_and_leases_support_plain_crud(k8s_client: client.ApiClient) -> None:
    """Events (core/v1) and Leases (coordination.k8s.io/v1) are ordinary objects.

    https://kubernetes.io/docs/concepts/architecture/leases/
    """
    core, coordination = client.CoreV1Api(k8s_client), client.CoordinationV1Api(k8s_client)
    event = {
        "metadata": {"generateName": "w1."},
        "involvedObject": {"kind": "Widget", "name": "w1", "namespace": "default"},
        "reason": "Started",
        "message": "hello",
        "type": "Normal",
    }
    core.create_namespaced_event("default", event)
    assert [e.reason for e in core.list_namespaced_event("default").items] == ["Started"]
    lease = {
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
    }
    coordination.create_namespaced_lease("default", lease)
    coordination.patch_namespaced_lease("leader", "default", {"spec": {"holderIdentity": "you"}})
    assert coordination.read_namespaced_lease("leader", "default").spec.holder_identity == "you"


def test_python_level_api_and_subscriptions(widgets: KubernetesEmulator) -> None:
    """In-process code (a test kubelet) can create, read and react to changes without HTTP.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
    """
    changes: list[Change] = []
    unsubscribe = widgets.subscribe(changes.append, "widgets")
    widgets.create(WIDGETS, "default", widget("w1"))
    widgets.patch_status("widgets", "default", "w1", {"phase": "Running"})
    unsubscribe()
    widgets.delete("widgets", "default", "w1")
    assert [c.type for c in changes] == ["ADDED", "MODIFIED"]
    assert changes[1].object["status"] == {"phase": "Running"}
    with pytest.raises(ApiError) as caught:
        widgets.get("widgets", "default", "w1")
    assert caught.value.code == 404


def test_subscribers_may_write_back_like_a_kubelet(
    k8s_api: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    """A subscriber can react to a new Job by creating its Pod and updating Job status,
    re-entrantly, inside the request that created the Job.

    https://kubernetes.io/docs/concepts/workloads/controllers/job/
    """

    def run_job(change: Change) -> None:
        if change.type == "ADDED":
            name = change.object["metadata"]["name"]
            k8s_api.create("v1/pods", "default", pod(f"{name}-pod", change.object))
            k8s_api.patch_status("batch/v1/jobs", "default", name, {"active": 1})

    k8s_api.subscribe(run_job, "batch/v1/jobs")
    client.BatchV1Api(k8s_client).create_namespaced_job("default", job("j1"))
    assert k8s_api.get("batch/v1/jobs", "default", "j1")["status"] == {"active": 1}
    [created] = k8s_api.list("v1/pods", "default", field_selector="metadata.name=j1-pod")
    assert created["metadata"]["ownerReferences"][0]["name"] == "j1"


def test_errors_are_status_objects_over_http(http: httpx.Client) -> None:
    """Unknown paths and malformed bodies answer ``Status`` objects with the HTTP code.

    https://kubernetes.io/docs/reference/using-api/api-concepts/#resources-and-status-codes
    """
    missing = http.get("/apis/nowhere.test/v1/things")
    malformed = http.post(
        "/api/v1/namespaces/default/configmaps",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert (missing.status_code, missing.json()["kind"]) == (404, "Status")
    assert (malformed.status_code, malformed.json()["reason"]) == (400, "BadRequest")
