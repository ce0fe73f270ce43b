"""The BookkeepingJob CRD, the guarded status writes and the chart's task RBAC on a real
kube-apiserver (v1.37, built from its Go modules; see ``tests/cluster/README.md``).

Each test checks something the project's API-server emulator (``tests/k8s/emulator``)
cannot: it evaluates no CEL, enforces no RBAC and issues no ServiceAccount tokens.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.errors import ResourceConflictError
from bookkeeper_jobs.jobs import BulkApproveSpec, CategorizeSpec, JobPhase, new_job_id
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.lifecycle import Progress, Start
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource, status_patch
from bookkeeper_jobs.status_writes import Resource, ResourceRef, StatusWriter
from tests.cluster.conftest import HELM, ROOT, token_client, unavailable
from tests.cluster.control_plane import ControlPlane

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("bookkeepingjobs_crd")]

CHART = ROOT / "charts" / "bookkeeper-jobs"
DEV_VALUES = CHART / "values-dev.yaml"
RELEASE = "bkjobs"


@pytest.fixture
def custom(admin_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(admin_client)


def create_job(custom: client.CustomObjectsApi, namespace: str, spec: Any) -> Resource:
    body = spec_to_resource(spec, job_id=new_job_id(), namespace=namespace)
    created: Resource = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    return created


def categorize(namespace: str, custom: client.CustomObjectsApi) -> Resource:
    return create_job(custom, namespace, CategorizeSpec(company_id="acme", tenant_id="t1"))


def refused(call: Any, *args: Any) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args)
    return caught.value


# ----------------------------------------------------------------------------------------
# (a) the CRD's CEL rules


def test_spec_type_cannot_change(namespace: str, custom: client.CustomObjectsApi) -> None:
    """``spec.type`` carries the transition rule ``self == oldSelf``: a merge patch turning a
    categorize job into a (well-formed) bulk-approve is refused with a 422 naming the rule,
    and the stored object keeps its type.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#transition-rules
    """
    name = categorize(namespace, custom)["metadata"]["name"]
    patch = {"spec": {"type": "bulk-approve", "parameters": {"transactionIds": ["tx-1"]}}}

    error = refused(
        custom.patch_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name, patch
    )

    assert error.status == 422, error.body
    assert "type is immutable" in error.body
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert stored["spec"]["type"] == "categorize"


def test_a_cancel_cannot_be_withdrawn(namespace: str, custom: client.CustomObjectsApi) -> None:
    """``spec.cancelRequested`` carries ``!oldSelf || self``: false -> true and true -> true
    are accepted, true -> false is a 422 with the rule's message.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#transition-rules
    """
    name = categorize(namespace, custom)["metadata"]["name"]

    def cancel(value: bool) -> Resource:
        patched: Resource = custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"cancelRequested": value}}
        )
        return patched

    assert cancel(True)["spec"]["cancelRequested"] is True
    assert cancel(True)["spec"]["cancelRequested"] is True

    error = refused(cancel, False)

    assert error.status == 422, error.body
    assert "a cancel cannot be withdrawn" in error.body


def test_bulk_approve_needs_transaction_ids(
    namespace: str, custom: client.CustomObjectsApi
) -> None:
    """The spec-level rule ``self.type != 'bulk-approve' || has(...transactionIds)`` refuses
    to create a bulk-approve whose parameters lack ``transactionIds`` (422), while the body
    ``spec_to_resource`` builds is accepted.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules
    """
    spec = BulkApproveSpec(company_id="acme", tenant_id="t1", transaction_ids=["tx-1", "tx-2"])
    body = spec_to_resource(spec, job_id=new_job_id(), namespace=namespace)
    del body["spec"]["parameters"]["transactionIds"]

    error = refused(custom.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, body)

    assert error.status == 422, error.body
    assert "bulk-approve needs parameters.transactionIds" in error.body
    accepted = create_job(custom, namespace, spec)
    assert accepted["spec"]["parameters"]["transactionIds"] == ["tx-1", "tx-2"]


# ----------------------------------------------------------------------------------------
# (b) status writes guarded by resourceVersion


def test_status_writer_on_the_status_subresource(
    namespace: str, custom: client.CustomObjectsApi
) -> None:
    """The real :class:`StatusWriter` against the real server: its merge patches of
    ``/status`` carrying the resourceVersion it read are applied; one carrying a stale
    resourceVersion is a 409 Conflict (``ResourceConflictError``); a write that meets a
    newer one is decided again on a fresh read, so the other write is not lost. Status
    writes leave ``metadata.generation`` alone and cannot change the spec.

    https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
    """
    created = categorize(namespace, custom)
    name = created["metadata"]["name"]
    writer = StatusWriter(custom, ResourceRef(namespace, name))

    first = writer.initialise()
    assert first is not None
    assert first.resource["status"]["phase"] == JobPhase.PENDING
    started = writer.apply(Start())
    assert started is not None
    stored = started.resource
    assert stored["status"]["phase"] == JobPhase.RUNNING
    assert stored["status"]["attempts"] == 1
    assert stored["metadata"]["generation"] == created["metadata"]["generation"]
    assert stored["status"]["observedGeneration"] == stored["metadata"]["generation"]

    # A stale resourceVersion: the server refuses, through the client and through the writer.
    stale = created  # read before the two writes above
    body = status_patch(started.status)
    body["metadata"] = {"resourceVersion": stale["metadata"]["resourceVersion"]}
    error = refused(
        custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL, name, body
    )
    assert error.status == 409, error.body
    assert error.reason == "Conflict"
    with pytest.raises(ResourceConflictError):
        writer._patch(stale, started.status)

    # Another writer lands between this writer's read and its patch: 409, read again, retry.
    other = StatusWriter(custom, ResourceRef(namespace, name))
    calls: list[int] = []

    def decision(_job: Any, _resource: Resource) -> Progress:
        calls.append(len(calls))
        if len(calls) == 1:
            assert other.apply(Progress(progress=50, text="the other writer")) is not None
        return Progress(progress=20, text="this writer")

    written = writer.decide(decision)

    assert written is not None
    assert len(calls) == 2  # the first patch met the other writer's resourceVersion
    assert written.resource["status"]["progress"] == 50  # kept: progress never goes back
    assert written.resource["status"]["message"] == "this writer"

    # The status subresource ignores spec changes sent to it.
    current = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": {"cancelRequested": True}}
    )
    after = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert after["spec"].get("cancelRequested") is False
    assert after["metadata"]["generation"] == current["metadata"]["generation"]


# ----------------------------------------------------------------------------------------
# (c) RBAC as the chart renders it


def rendered_chart(namespace: str) -> list[dict[str, Any]]:
    """``helm template`` of the chart with values-dev.yaml, as ``scripts/check-chart.sh``
    renders it."""
    if not HELM.exists():
        unavailable(f"{HELM} is missing (make tools)")
    command = [str(HELM), "template", RELEASE, str(CHART), "--namespace", namespace]
    done = subprocess.run(
        [*command, "-f", str(DEV_VALUES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def apply_task_rbac(admin_client: client.ApiClient, namespace: str) -> str:
    """Create the chart's ServiceAccount, Role and RoleBinding of the task; its SA name."""
    core = client.CoreV1Api(admin_client)
    rbac = client.RbacAuthorizationV1Api(admin_client)
    task = [
        doc
        for doc in rendered_chart(namespace)
        if doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "task"
    ]
    kinds = sorted(doc["kind"] for doc in task)
    assert kinds == ["Role", "RoleBinding", "ServiceAccount"], kinds
    account = ""
    for doc in task:
        if doc["kind"] == "ServiceAccount":
            account = doc["metadata"]["name"]
            core.create_namespaced_service_account(namespace, doc)
        elif doc["kind"] == "Role":
            rbac.create_namespaced_role(namespace, doc)
        else:
            rbac.create_namespaced_role_binding(namespace, doc)
    return account


@pytest.fixture
def task_client(
    control_plane: ControlPlane, admin_client: client.ApiClient, namespace: str, tmp_path: Path
) -> Iterator[tuple[client.ApiClient, str]]:
    """The official client authenticated as the chart's task ServiceAccount (a token from
    the TokenRequest API), and the account's name."""
    account = apply_task_rbac(admin_client, namespace)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    token = client.CoreV1Api(admin_client).create_namespaced_service_account_token(
        account, namespace, request
    )
    with token_client(control_plane, token.status.token, tmp_path / "task.kubeconfig") as api:
        yield api, account


def test_the_task_account_may_read_its_job_and_write_its_status_only(
    namespace: str,
    custom: client.CustomObjectsApi,
    task_client: tuple[client.ApiClient, str],
) -> None:
    """The chart's task Role, bound to the task ServiceAccount, authenticated with a bound
    token from the TokenRequest API: the task may get its BookkeepingJob and patch
    ``bookkeepingjobs/status`` (the real ``StatusWriter`` records its start), but patching
    the spec, deleting the job, listing BookkeepingJobs or Secrets, or creating a job is a
    403 Forbidden.

    https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources
    https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/
    """
    api, account = task_client
    name = categorize(namespace, custom)["metadata"]["name"]
    StatusWriter(custom, ResourceRef(namespace, name)).initialise()  # the operator's part
    as_task = client.CustomObjectsApi(api)

    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:{account}"

    # Allowed: read its job, write its status (the guarded write the task container does).
    with kube_errors():
        got = as_task.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert got["metadata"]["name"] == name
    written = StatusWriter(as_task, ResourceRef(namespace, name)).apply(Start())
    assert written is not None
    assert written.resource["status"]["phase"] == JobPhase.RUNNING

    # Denied: everything else.
    denied = {
        "patch its spec": lambda: as_task.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"cancelRequested": True}}
        ),
        "delete its job": lambda: as_task.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        ),
        "list jobs": lambda: as_task.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL
        ),
        "create a job": lambda: as_task.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            spec_to_resource(
                CategorizeSpec(company_id="acme", tenant_id="t1"),
                job_id=new_job_id(),
                namespace=namespace,
            ),
        ),
        "list secrets": lambda: client.CoreV1Api(api).list_namespaced_secret(namespace),
    }
    statuses = {what: refused(call).status for what, call in denied.items()}
    assert statuses == dict.fromkeys(denied, 403)
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    assert stored["spec"]["cancelRequested"] is False
