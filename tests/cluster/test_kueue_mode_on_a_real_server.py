"""Kueue mode (``BKJOBS_KUEUE_QUEUE_NAME``) on the real control plane.

Kueue itself is not built here, so this test plays Kueue's one act on a Job it admits:
it sets ``spec.suspend`` to false (https://kueue.sigs.k8s.io/docs/tasks/run/jobs/: "Kueue
... unsuspends the Job" once the workload is admitted). Everything else is real: the
operator creates the Job suspended with the queue label, the real Job controller keeps a
suspended Job's pods at zero (and says so with its ``Suspended`` condition) however long it
waits and whatever the node offers, the operator never resumes it itself, and once admitted
the Job controller runs the task on the node agent to completion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION
from tests.contract.real_cluster_backend import (
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow
QUEUE = "bookkeeping"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


@pytest.fixture
def queued(cluster: RealCluster, tmp_path: Path) -> Iterator[RealClusterBackend]:
    """A ``kubernetes-real`` namespace whose operator hands every Job to Kueue's queue."""
    (tmp_path / "script").mkdir()
    made = make_real_cluster_backend(tmp_path, cluster=cluster, kueue_queue_name=QUEUE)
    try:
        yield made
    finally:
        made.close()


def condition(job: dict[str, Any], kind: str) -> str | None:
    for found in (job.get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            status: str = found["status"]
            return status
    return None


def test_with_kueue_a_job_waits_suspended_until_admitted_then_runs(
    queued: RealClusterBackend,
) -> None:
    cluster, namespace = queued.cluster, queued.namespace
    name = queued.store.submit(CategorizeSpec(company_id="ok", tenant_id="t1")).job.id
    job_path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name(name)}"
    resource_path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
    queued.start_workers()  # the node would run a pod at once, if the Job made one

    job = wait_until(
        lambda: (
            (found := cluster.request("GET", job_path))[0] == 200
            and condition(found[1], "Suspended") == "True"
            and found[1]
        ),
        timeout=60,
        what="the Job, suspended by the operator and acknowledged by the Job controller",
    )
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"][QUEUE_LABEL] == QUEUE
    assert (job.get("status") or {}).get("active", 0) == 0
    assert cluster.agent.pods(namespace) == [], "a suspended Job has no pod"
    resource = cluster.must("GET", resource_path)
    assert resource["status"]["phase"] == "pending"
    assert cluster.must("GET", job_path)["spec"]["suspend"] is True, "the operator left it"

    # Kueue admits the workload: it unsuspends the Job.
    cluster.must("PATCH", job_path, {"spec": {"suspend": False}})
    wait_until(
        lambda: (cluster.must("GET", resource_path).get("status") or {}).get("phase") == "complete",
        timeout=90,
        what="the admitted job to complete",
    )
    wait_until(
        lambda: condition(cluster.must("GET", job_path), "Complete") == "True",
        timeout=60,
        what="the Job controller to complete the Job",
    )
