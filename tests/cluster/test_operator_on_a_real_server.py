"""What only a real API server answers about the operator and the chart's accounts (issue 12).

Each test runs in a namespace set up like the contract suite's ``kubernetes-real`` backend
(``tests/contract/real_cluster_backend.py``): the chart's ServiceAccounts, Roles and
bindings as ``helm template -f values-dev.yaml`` renders them, TokenRequest tokens for the
api and operator accounts, the real operator in a thread under the operator's token, task
pods on the node agent under the task account. The emulator has neither the 256 KiB
annotation limit nor RBAC, so neither test can be made on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.jobs import BulkApproveSpec, CategorizeSpec, JobPhase, new_job_id
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource
from tests.contract.real_cluster_backend import (
    FULLNAME,
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

ANNOTATION_LIMIT = 256 * 1024  # total size of an object's annotations (apimachinery)
DIFFBASE = f"{GROUP}/last-handled-configuration"  # operator/startup.py's kopf diff-base


@pytest.fixture
def backend(cluster: RealCluster, tmp_path: Path) -> Iterator[RealClusterBackend]:
    """A namespace with the chart's accounts and the real operator; the product's own task
    functions (not the contract suite's scripted ones), SQLite ledger in ``tmp_path``."""
    (tmp_path / "script").mkdir()
    made = make_real_cluster_backend(tmp_path, cluster=cluster, tasks={})
    try:
        yield made
    finally:
        made.close()


def as_account(kubeconfig: Path) -> client.ApiClient:
    return client.ApiClient(load_kube_configuration(kubeconfig))


def status_of(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiException as error:
        return int(error.status)
    return 200


def test_a_10000_id_bulk_approve_is_handled_by_the_real_operator(
    backend: RealClusterBackend, cluster: RealCluster
) -> None:
    """A bulk-approve of 10,000 ids (about 350 KB of ``spec.parameters``) created with the
    api account's token as the API creates it (``spec_to_resource``): the real operator
    creates its Job and records its status with no 422, because kopf's diff-base annotation
    holds a digest of the parameters (commit 63d5f91); the task pod approves through the
    ledger and the job completes. The same parameters in an annotation are refused by the
    server's 256 KiB limit: without the digest every kopf patch of this object would be.

    https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/#syntax-and-character-set
    """
    ids = [f"txn-{n:06d}-{hashlib.sha256(str(n).encode()).hexdigest()[:21]}" for n in range(10_000)]
    spec = BulkApproveSpec(company_id="bulk-co", tenant_id="t1", transaction_ids=ids)
    ledger = Ledger.from_settings(backend.settings)
    try:
        ledger.migrate()
        ledger.ensure_company("bulk-co", "t1")
    finally:
        ledger.dispose()
    job_id = new_job_id()
    body = spec_to_resource(spec, job_id=job_id, namespace=backend.namespace)
    parameters = json.dumps(body["spec"]["parameters"], separators=(",", ":"))
    assert len(parameters) > ANNOTATION_LIMIT
    name = body["metadata"]["name"]

    with as_account(backend.api_kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        custom.create_namespaced_custom_object(GROUP, VERSION, backend.namespace, PLURAL, body)
    backend.start_workers()
    job = wait_until(
        lambda: (j := backend.store.get(job_id)) is not None and j.status.phase.is_terminal and j,
        timeout=600,
        interval=0.5,
        what="the bulk-approve to finish",
    )

    assert job.status.phase is JobPhase.COMPLETE, job.status
    assert job.status.result is not None
    assert job.status.result["not_found_count"] == 10_000  # no such transactions in its books
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{backend.namespace}/{PLURAL}/{name}"
    stored = cluster.must("GET", path)
    assert len(stored["spec"]["parameters"]["transactionIds"]) == 10_000
    diffbase = stored["metadata"]["annotations"][DIFFBASE]
    assert len(diffbase) < 4096 and "sha256" in diffbase, diffbase[:300]
    run_path = f"/apis/batch/v1/namespaces/{backend.namespace}/jobs/{name}-run"
    run = wait_until(  # the task records its ending before its pod exits
        lambda: (j := cluster.must("GET", run_path))["status"].get("succeeded") == 1 and j,
        timeout=120,
        what="the Job controller to count the pod as succeeded",
    )
    assert run["metadata"]["ownerReferences"][0]["name"] == name

    # What kopf would have written without the digest: the real server refuses it.
    with as_account(cluster.plane.kubeconfig) as admin, pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(admin).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            backend.namespace,
            PLURAL,
            name,
            {"metadata": {"annotations": {f"{GROUP}/undigested": parameters}}},
        )
    assert refused.value.status == 422, refused.value.body
    assert "metadata.annotations: Too long" in refused.value.body, refused.value.body[:3000]
    assert "262144 bytes" in refused.value.body, refused.value.body[:3000]


def test_the_api_and_operator_accounts_are_limited_to_their_roles(
    backend: RealClusterBackend, cluster: RealCluster
) -> None:
    """The chart's api ServiceAccount (TokenRequest token) may create BookkeepingJobs but not
    delete them nor read Secrets; the operator's may create ``batch/v1`` Jobs (a server-side
    dry run: authorization is decided before it) and delete BookkeepingJobs, but not read
    Secrets.

    https://kubernetes.io/docs/reference/access-authn-authz/rbac/
    """
    namespace = backend.namespace
    cluster.must(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "ledger-password"}, "stringData": {"password": "hunter2"}},
    )
    task = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "made-by-the-operator"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": f"{FULLNAME}-task",
                    "containers": [{"name": "task", "image": "x", "command": ["true"]}],
                }
            }
        },
    }

    def resource() -> dict[str, Any]:
        return spec_to_resource(
            BulkApproveSpec(company_id="acme", tenant_id="t1", transaction_ids=["tx-1"]),
            job_id=new_job_id(),
            namespace=namespace,
        )

    with (
        as_account(backend.api_kubeconfig) as api,
        as_account(backend.operator_kubeconfig) as operator,
    ):
        for account, component in ((api, "api"), (operator, "operator")):
            review = client.AuthenticationV1Api(account).create_self_subject_review(
                client.V1SelfSubjectReview()
            )
            username = review.status.user_info.username  # type: ignore[union-attr]
            assert username == f"system:serviceaccount:{namespace}:{FULLNAME}-{component}"

        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
        created = custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, resource()
        )
        name = created["metadata"]["name"]
        api_answers = {
            "delete a BookkeepingJob": status_of(
                lambda: custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name
                )
            ),
            "read a Secret": status_of(
                lambda: core.read_namespaced_secret("ledger-password", namespace)
            ),
            "list Secrets": status_of(lambda: core.list_namespaced_secret(namespace)),
            "create a Job": status_of(
                lambda: client.BatchV1Api(api).create_namespaced_job(namespace, task, dry_run="All")
            ),
        }
        assert api_answers == dict.fromkeys(api_answers, 403)

        batch, core = client.BatchV1Api(operator), client.CoreV1Api(operator)
        operator_custom = client.CustomObjectsApi(operator)
        dry_run = batch.create_namespaced_job(namespace, task, dry_run="All")
        assert dry_run.metadata.name == "made-by-the-operator"
        operator_answers = {
            "read a Secret": status_of(
                lambda: core.read_namespaced_secret("ledger-password", namespace)
            ),
            "list Secrets": status_of(lambda: core.list_namespaced_secret(namespace)),
            "create a BookkeepingJob": status_of(
                lambda: operator_custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, resource()
                )
            ),
        }
        assert operator_answers == dict.fromkeys(operator_answers, 403)
        operator_custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def test_the_operator_may_block_its_resources_deletion_under_owner_reference_enforcement(
    backend: RealClusterBackend, cluster: RealCluster
) -> None:
    """The test API server runs OwnerReferencesPermissionEnforcement, as OpenShift does: a Job
    whose ownerReference sets ``blockOwnerDeletion`` may only be created by an account that
    may update the owner's ``finalizers``. The real operator's child Job (kopf's adoption sets
    it) is created under the chart's operator Role; the same Job is refused once the Role's
    ``bookkeepingjobs/finalizers`` rule is taken away (issue 13's finding).

    https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#ownerreferencespermissionenforcement
    """
    namespace = backend.namespace
    body = spec_to_resource(
        BulkApproveSpec(company_id="owner-co", tenant_id="t1", transaction_ids=["tx-1"]),
        job_id=new_job_id(),
        namespace=namespace,
    )
    name = body["metadata"]["name"]
    with as_account(backend.api_kubeconfig) as api:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
    run_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}-run"
    run = wait_until(
        lambda: (found := cluster.request("GET", run_path))[0] == 200 and found[1],
        timeout=60,
        what="the operator to create the child Job",
    )
    (owner,) = run["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["blockOwnerDeletion"]) == (
        "BookkeepingJob",
        name,
        True,
    )

    second = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-again", "ownerReferences": [owner]},
        "spec": run["spec"] | {"selector": None, "template": _unmanaged(run["spec"]["template"])},
    }
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role_path = f"{rbac}/namespaces/{namespace}/roles/{FULLNAME}-operator"
    role = cluster.must("GET", role_path)
    kept = [r for r in role["rules"] if "bookkeepingjobs/finalizers" not in r["resources"]]
    assert len(kept) == len(role["rules"]) - 1
    cluster.must("PUT", role_path, role | {"rules": kept})
    try:
        with as_account(backend.operator_kubeconfig) as operator:
            batch = client.BatchV1Api(operator)

            def refused() -> ApiException | None:
                try:
                    batch.create_namespaced_job(namespace, second, dry_run="All")
                except ApiException as error:
                    return error if error.status == 403 else None
                return None

            error = wait_until(refused, timeout=30, what="RBAC to see the narrowed Role")
            assert "cannot set blockOwnerDeletion" in str(error.body), error.body
    finally:
        restored = cluster.must("GET", role_path)
        cluster.must("PUT", role_path, restored | {"rules": role["rules"]})


def test_a_job_created_through_one_api_replica_is_found_at_once_by_another(
    backend: RealClusterBackend,
) -> None:
    """Two API replicas, each with its own watch cache under the api account's token: a job
    submitted through one and read at once through the other (what a client following the
    ``Location`` header through a load balancer does) is found every time, though the second
    replica's watch has not yet delivered it (without the cache-miss read, 23 of 30 missed).
    The read falls back to one GET, which the chart's api Role allows."""
    with as_account(backend.api_kubeconfig) as api:
        custom = client.CustomObjectsApi(api)
        other_cache = WatchCache(custom, backend.namespace, watch_timeout=2, retry_delay=0.1)
        other_cache.start()
        try:
            assert other_cache.wait_synced(60), "the second replica's cache did not sync"
            other = KubernetesJobStore(custom, other_cache)
            submitted, found, cached_first = 30, 0, 0
            for n in range(submitted):
                spec = CategorizeSpec(company_id="replicas-co", tenant_id="t1", limit=1 + n)
                job = backend.store.submit(spec).job
                cached_first += other_cache.get(job.id) is not None
                seen = other.get(job.id)
                found += seen is not None and seen.id == job.id
            # each job reached the second cache through its watch: the lag histogram
            # (``bkjobs_watch_cache_lag_seconds``) counted every one
            lag = wait_until(
                lambda: (counted := lag_samples(other_cache))["_count"] == submitted and counted,
                timeout=60,
                what="every job in the second cache's lag histogram",
            )
        finally:
            other_cache.stop()
    assert found == submitted, f"{submitted - found} of {submitted} reads missed their job"
    assert 0 < lag["_sum"] < 30 * submitted
    print(
        f"{cached_first} of {submitted} jobs were in the second cache before the read; "
        f"mean lag {lag['_sum'] / submitted * 1000:.0f} ms"
    )


def lag_samples(cache: WatchCache) -> dict[str, float]:
    """The cache's lag histogram's ``_count`` and ``_sum``."""
    [family] = cache.lag.collect()
    return {
        sample.name.removeprefix(family.name): sample.value
        for sample in family.samples
        if sample.name.endswith(("_count", "_sum"))
    }


def _unmanaged(template: dict[str, Any]) -> dict[str, Any]:
    """A pod template without the labels the Job controller added to the first Job."""
    labels = {
        key: value
        for key, value in (template["metadata"].get("labels") or {}).items()
        if "controller-uid" not in key and key not in {"job-name", "batch.kubernetes.io/job-name"}
    }
    return template | {"metadata": template["metadata"] | {"labels": labels}}
