"""The real operator (``run_operator`` under kopf, in a thread) against the emulated API server.

The emulator runs no Job controller and no task: a test plays both by patching the child
Job's status (as the Job controller would) and the resource's status (as the task would).
https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bookkeeper_jobs.jobs import (
    BulkApproveSpec,
    CategorizeSpec,
    UploadAndCategorizeSpec,
    new_job_id,
)
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.operator import ttl
from bookkeeper_jobs.operator.context import build_context, close_context
from bookkeeper_jobs.operator.manifests import TASK_LABELS, job_name
from bookkeeper_jobs.operator.reconcile import JOB_DELETED_MESSAGE, NO_RESULT
from bookkeeper_jobs.resource import (
    API_VERSION,
    GROUP,
    KIND,
    LABEL_NAME,
    LABEL_TYPE,
    spec_to_resource,
)
from bookkeeper_jobs.settings import Settings, load_settings
from tests.k8s.emulator import KubernetesEmulator
from tests.support.operator import (
    ARTIFACT,
    BKJ,
    CRD,
    IMAGE,
    JOBS,
    NS,
    child_jobs,
    condition,
    gone,
    handled,
    now_text,
    phase_of,
    reasons,
    resource,
    running_operator,
    set_job_condition,
    submit,
    wait_pending,
)
from tests.support.polling import wait_until


@pytest.fixture
def api(k8s_api: KubernetesEmulator) -> KubernetesEmulator:
    k8s_api.load_crd(CRD)
    return k8s_api


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        kubernetes_namespace=NS,
        data_dir=tmp_path / "data",
        sweep_interval=0.2,
        job_ttl=3600,
        task_template={"image": IMAGE},
    )


@pytest.fixture
def operator(api: KubernetesEmulator, settings: Settings) -> Iterator[KubernetesEmulator]:
    with running_operator(api, settings):
        yield api


def test_create_makes_one_owned_job_and_the_first_status(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    job = wait_pending(operator, name)
    key = f"{GROUP}/last-handled-configuration"  # kopf's diff-base, written after the handler
    stored = wait_until(lambda: handled(operator, name, key))
    [owner] = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": name,
        "uid": stored["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert job["metadata"]["name"] == job_name(name)
    labels = job["metadata"]["labels"]
    assert labels[LABEL_NAME] == name
    assert labels[LABEL_TYPE] == "categorize"
    assert TASK_LABELS.items() <= labels.items()
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    status = stored["status"]
    assert status["message"] == "Queued"  # as the embedded mode says it; the Event names the Job
    assert status["observedGeneration"] == stored["metadata"]["generation"]
    assert len(status["conditions"]) == 4
    assert {c["status"] for c in status["conditions"]} == {"Unknown"}
    annotations = stored["metadata"]["annotations"]
    assert not any(key.startswith("kopf.zalando.org") for key in annotations)
    assert "kopf" not in status
    assert not stored["metadata"].get("finalizers")
    wait_until(lambda: "JobCreated" in reasons(operator, name))


def test_restart_does_not_create_a_second_job(api: KubernetesEmulator, settings: Settings) -> None:
    with running_operator(api, settings):
        first = submit(api)
        job = wait_pending(api, first)
        wait_until(lambda: "JobCreated" in reasons(api, first))  # posted in the background
    # As if the first operator died before it recorded the handling: the create handler
    # runs again on the next start, gets 409 AlreadyExists and adopts the Job.
    key = f"{GROUP}/last-handled-configuration"
    api.patch(BKJ, NS, first, {"metadata": {"annotations": {key: None}}})
    with running_operator(api, settings):
        wait_until(lambda: handled(api, first, key))
        second = submit(api)
        wait_pending(api, second)
    [again] = child_jobs(api, first)
    assert again["metadata"]["uid"] == job["metadata"]["uid"]
    assert reasons(api, first).count("JobCreated") == 1
    assert len(api.list(JOBS, NS)) == 2


def test_cancel_deletes_the_job_and_records_it(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    operator.patch(BKJ, NS, name, {"spec": {"cancelRequested": True}})
    wait_until(lambda: phase_of(operator, name) == "cancelled")
    assert child_jobs(operator, name) == []
    status = resource(operator, name)["status"]
    assert status["finishedAt"]
    assert condition(status, "Cancelled")["status"] == "True"
    assert condition(status, "Cancelled")["reason"] == "Cancelled"
    assert condition(status, "Cancelled")["message"] == "Cancelled by request"
    assert status["message"] == "Cancelled"
    assert condition(status, "Running")["status"] == "False"
    assert not resource(operator, name)["metadata"].get("finalizers")
    wait_until(lambda: "Cancelled" in reasons(operator, name))


def test_created_cancelled_gets_no_job(operator: KubernetesEmulator) -> None:
    body = spec_to_resource(CategorizeSpec(company_id="acme", tenant_id="t1"), job_id=new_job_id())
    body["spec"]["cancelRequested"] = True
    name = operator.create(BKJ, NS, body)["metadata"]["name"]
    wait_until(lambda: phase_of(operator, name) == "cancelled")
    assert child_jobs(operator, name) == []


def test_job_deadline_fails_the_resource(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    operator.patch_status(BKJ, NS, name, {"phase": "running", "progress": 30})
    message = "Job was active longer than specified deadline"
    set_job_condition(operator, name, "Failed", "DeadlineExceeded", message)
    wait_until(lambda: phase_of(operator, name) == "failed")
    status = resource(operator, name)["status"]
    deadline = child_jobs(operator, name)[0]["spec"]["activeDeadlineSeconds"]
    assert status["error"] == f"timed out after {deadline} s"  # as the embedded mode says it
    assert status["progress"] == 30
    assert condition(status, "Failed")["reason"] == "DeadlineExceeded"
    assert condition(status, "Failed")["message"] == f"timed out after {deadline} s"
    wait_until(lambda: "Failed" in reasons(operator, name))


def test_backoff_exhausted_gives_up_with_the_tasks_own_error(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    operator.patch_status(BKJ, NS, name, {"phase": "running", "error": "database is locked"})
    message = "Job has reached the specified backoff limit"
    set_job_condition(operator, name, "Failed", "BackoffLimitExceeded", message)
    wait_until(lambda: phase_of(operator, name) == "failed")
    status = resource(operator, name)["status"]
    assert status["error"] == "database is locked"
    assert condition(status, "Failed")["reason"] == "RetriesExhausted"


def test_job_complete_without_a_result_fails_the_resource(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    operator.patch_status(BKJ, NS, name, {"phase": "running"})
    set_job_condition(operator, name, "Complete", "CompletionsReached", "Reached completions")
    wait_until(lambda: phase_of(operator, name) == "failed")
    status = resource(operator, name)["status"]
    assert status["error"] == NO_RESULT
    assert condition(status, "Failed")["reason"] == "AttemptLost"


def test_job_deleted_while_running_fails_the_resource(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    operator.patch_status(BKJ, NS, name, {"phase": "running"})
    operator.delete(JOBS, NS, job_name(name), propagation_policy="Background")
    wait_until(lambda: phase_of(operator, name) == "failed")
    status = resource(operator, name)["status"]
    assert status["error"] == JOB_DELETED_MESSAGE
    assert condition(status, "Failed")["reason"] == "AttemptLost"


def test_reported_success_stays_and_gets_an_event(operator: KubernetesEmulator) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    done = {"phase": "complete", "progress": 100, "message": "Complete", "finishedAt": now_text()}
    operator.patch_status(BKJ, NS, name, {**done, "result": {"categorized": 3}})
    set_job_condition(operator, name, "Complete", "CompletionsReached", "Reached completions")
    wait_until(lambda: "Succeeded" in reasons(operator, name))
    assert phase_of(operator, name) == "complete"
    assert reasons(operator, name).count("Succeeded") == 1


def test_ttl_deletes_old_finished_resources(
    operator: KubernetesEmulator, settings: Settings
) -> None:
    upload = UploadAndCategorizeSpec(
        company_id="acme", tenant_id="t1", artifact_id=ARTIFACT, filename="bank.csv"
    )
    old, recent = submit(operator, upload), submit(operator)
    stored = settings.artifacts_dir / ARTIFACT[:2] / ARTIFACT
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"date,amount\n")
    for name in (old, recent):
        wait_pending(operator, name)
    finished = {"phase": "complete", "finishedAt": "2000-01-01T00:00:00Z"}
    operator.patch_status(BKJ, NS, old, finished)
    operator.patch_status(BKJ, NS, recent, {**finished, "finishedAt": now_text()})
    wait_until(lambda: gone(operator, old) and not stored.exists())
    assert child_jobs(operator, old) == []
    assert phase_of(operator, recent) == "complete"


def test_liveness_endpoint(api: KubernetesEmulator, settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings.model_copy(update={"operator_health_port": port})
    with running_operator(api, settings, health_host="127.0.0.1"):
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: healthy(url))


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_a_job_deleted_while_the_operator_was_down_fails_its_resource(
    api: KubernetesEmulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_operator(api, settings):
        orphan = submit(api)
        wait_pending(api, orphan)
        kept = submit(api)
        wait_pending(api, kept)
    api.delete(JOBS, NS, job_name(orphan))  # no operator watches: nobody notices
    # No grace from here on (with none while submitting, a sweep between a resource's
    # creation and its Job's would fail it: what the grace is for)
    monkeypatch.setattr("bookkeeper_jobs.operator.ttl.ORPHAN_GRACE_SECONDS", 0.0)

    with running_operator(api, settings):
        wait_until(lambda: phase_of(api, orphan) == "failed", what="the orphan to fail")

    status = resource(api, orphan)["status"]
    assert status["error"] == JOB_DELETED_MESSAGE
    assert phase_of(api, kept) == "pending"  # its Job is there: left alone


def test_a_resource_still_waiting_for_its_job_is_not_taken_for_an_orphan(
    api: KubernetesEmulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst larger than the operator gets through within the orphan grace leaves
    resources without a Job (and without a status: the operator writes it once the Job is
    created). They are queued, not orphaned: the sweep leaves them to get their Job."""
    monkeypatch.setattr("bookkeeper_jobs.operator.ttl.ORPHAN_GRACE_SECONDS", 0.0)
    queued = submit(api)  # no Job and no status yet, and older than the (zero) grace
    context = build_context(settings, load_kube_configuration(api.kubeconfig_path))
    try:
        assert ttl.fail_orphans(context) == 0  # the sweep, before the create reaches it
    finally:
        close_context(context)

    with running_operator(api, settings):
        wait_pending(api, queued)
    assert phase_of(api, queued) == "pending"


def test_a_ten_thousand_id_bulk_approve_keeps_kopfs_annotation_small(
    operator: KubernetesEmulator,
) -> None:
    """The API server refuses annotations over 256 KiB in all (apimachinery's
    ValidateAnnotations, TotalAnnotationSizeLimitB); the whole spec would be ~350 KB."""
    ids = [f"txn_{n:028x}" for n in range(10_000)]
    name = submit(operator, BulkApproveSpec(company_id="acme", tenant_id="t1", transaction_ids=ids))
    wait_pending(operator, name)
    key = f"{GROUP}/last-handled-configuration"

    stored = wait_until(lambda: handled(operator, name, key))

    annotations = stored["metadata"]["annotations"]
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4 * 1024
    assert len(stored["spec"]["parameters"]["transactionIds"]) == 10_000  # the spec is whole
    assert "sha256" in annotations[key]


def suspended_jobs(api: KubernetesEmulator) -> list[str]:
    return sorted(j["metadata"]["name"] for j in api.list(JOBS, NS) if j["spec"].get("suspend"))


def test_a_burst_runs_at_most_the_limit_and_the_rest_starts_as_jobs_end(
    api: KubernetesEmulator, settings: Settings
) -> None:
    limited = settings.model_copy(update={"max_running_jobs": 2})
    with running_operator(api, limited):
        names = [submit(api) for _ in range(5)]
        wait_until(lambda: len(api.list(JOBS, NS)) == 5, what="five Jobs")
        waiting = suspended_jobs(api)
        assert len(waiting) == 3
        running = [n for n in names if job_name(n) not in waiting]

        set_job_condition(api, running[0], "Complete", "Completed", "done")  # one may start

        wait_until(lambda: len(suspended_jobs(api)) == 2, what="one waiting Job to start")


def test_a_burst_is_admitted_from_one_list_of_the_jobs_not_one_per_decision(
    api: KubernetesEmulator, settings: Settings
) -> None:
    """Each create and each ending decides from the operator's own index of the task Jobs:
    with a backlog of thousands, a list per decision made every decision read them all."""
    limited = settings.model_copy(update={"max_running_jobs": 2})
    with running_operator(api, limited):
        names = [submit(api) for _ in range(30)]
        wait_until(lambda: len(api.list(JOBS, NS)) == 30, what="thirty Jobs")
        assert len(suspended_jobs(api)) == 28
        for name in [n for n in names if job_name(n) not in suspended_jobs(api)]:
            set_job_condition(api, name, "Complete", "Completed", "done")

        wait_until(lambda: len(suspended_jobs(api)) == 26, what="two waiting Jobs to start")
        unfinished = [j for j in api.list(JOBS, NS) if not j.get("status", {}).get("conditions")]
        assert len([j for j in unfinished if not j["spec"].get("suspend")]) == 2

    task_job_lists = [
        path
        for method, path in api.requests
        if method == "GET"
        and path.startswith(f"/apis/batch/v1/namespaces/{NS}/jobs?")
        and "limit=" in path
    ]
    assert len(task_job_lists) == 1


def test_one_tenants_burst_does_not_hold_back_another_tenant(
    api: KubernetesEmulator, settings: Settings
) -> None:
    limited = settings.model_copy(update={"max_running_jobs_per_tenant": 1})
    with running_operator(api, limited):
        busy = [submit(api, CategorizeSpec(company_id="acme", tenant_id="t1")) for _ in range(3)]
        other = submit(api, CategorizeSpec(company_id="globex", tenant_id="t2"))
        wait_until(lambda: len(api.list(JOBS, NS)) == 4, what="four Jobs")

    waiting = suspended_jobs(api)
    assert job_name(other) not in waiting
    assert len([n for n in busy if job_name(n) in waiting]) == 2


def test_a_tenants_new_job_is_resumed_before_another_tenants_backlog(
    api: KubernetesEmulator, settings: Settings
) -> None:
    """The namespace runs one Job at a time; t1 has a backlog of four, t2 submits one last.
    When t1's running Job ends, neither tenant runs any, and t2, which has not started one
    since t1 did, goes first (oldest first would pick t1's backlog)."""
    limited = settings.model_copy(update={"max_running_jobs": 1})
    with running_operator(api, limited):
        backlog = [submit(api, CategorizeSpec(company_id="acme", tenant_id="t1")) for _ in range(4)]
        wait_until(lambda: len(api.list(JOBS, NS)) == 4, what="t1's four Jobs")
        newcomer = submit(api, CategorizeSpec(company_id="globex", tenant_id="t2"))
        wait_until(lambda: len(suspended_jobs(api)) == 4, what="t2's Job to wait")
        (running,) = [n for n in backlog if job_name(n) not in suspended_jobs(api)]
        started = {"startTime": "2026-01-01T00:00:00Z"}  # what the Job controller records
        api.patch_status(JOBS, NS, job_name(running), started)

        set_job_condition(api, running, "Complete", "Completed", "done")

        wait_until(
            lambda: job_name(newcomer) not in suspended_jobs(api), what="t2's Job to be resumed"
        )
        assert len(suspended_jobs(api)) == 3  # t1's other three still wait


def test_with_kueue_every_job_waits_for_kueue_with_its_queue_label(
    api: KubernetesEmulator, settings: Settings
) -> None:
    queued = settings.model_copy(update={"kueue_queue_name": "bookkeeping"})
    with running_operator(api, queued):
        name = submit(api)
        job = wait_pending(api, name)

    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "bookkeeping"


def test_the_operator_serves_metrics_of_created_and_finished_jobs(
    api: KubernetesEmulator, settings: Settings
) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    settings = settings.model_copy(
        update={"operator_health_port": ports[0], "operator_metrics_port": ports[1]}
    )
    with running_operator(api, settings, health_host="127.0.0.1"):
        name = submit(api)
        wait_pending(api, name)
        for progress in (10, 60):  # a task's progress writes
            api.patch_status(BKJ, NS, name, {"progress": progress, "message": f"{progress}%"})
        # Finished now: a fixed date becomes older than the job TTL, and the sweep then
        # deletes the resource (and its Job) while the test scrapes.
        finished = datetime.now(UTC).replace(microsecond=0)
        api.patch_status(
            BKJ,
            NS,
            name,
            {
                "phase": "complete",
                "attempts": 2,
                "startedAt": (finished - timedelta(seconds=42)).isoformat().replace("+00:00", "Z"),
                "finishedAt": finished.isoformat().replace("+00:00", "Z"),
            },
        )
        url = f"http://127.0.0.1:{ports[1]}/metrics"

        def scraped() -> str | None:
            text = httpx.get(url, timeout=2).text
            return text if "bkjobs_operator_jobs_finished_total{" in text else None

        text = wait_until(scraped, what="the ending in the operator's metrics")

    assert 'bkjobs_operator_jobs_created_total{type="categorize"} 1.0' in text
    assert 'bkjobs_operator_jobs_finished_total{phase="complete",type="categorize"} 1.0' in text
    assert 'bkjobs_job_run_duration_seconds_sum{type="categorize"} 42.0' in text
    assert 'bkjobs_job_retries_total{type="categorize"} 1.0' in text
    assert 'bkjobs_job_progress_updates_total{type="categorize"} 2.0' in text
    assert 'bkjobs_operator_task_jobs{state="running"} 1.0' in text
