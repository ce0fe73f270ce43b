"""The test kubelet runs the emulator's Jobs as local processes with Job semantics."""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.kubelet import Kubelet
from tests.k8s.kubelet_process import resolve_argv

JsonObject = dict[str, Any]
JOBS, PODS = "batch/v1/jobs", "v1/pods"
NS = "default"


def python_job(
    name: str, script: str, *, env: list[JsonObject] | None = None, **spec: Any
) -> JsonObject:
    """A Job running ``python -c script`` in a container named ``task``."""
    container: JsonObject = {
        "name": "task",
        "image": "python",
        "command": [sys.executable, "-c", script],
    }
    if env is not None:
        container["env"] = env
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "spec": {
            "backoffLimit": 0,
            **spec,
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def condition(job: JsonObject, kind: str) -> JsonObject | None:
    return next((c for c in job.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def job_pods(api: KubernetesEmulator, name: str) -> list[JsonObject]:
    return api.list(PODS, NS, label_selector=f"job-name={name}")


def gone(api: KubernetesEmulator, resource: str, name: str) -> bool:
    try:
        api.get(resource, NS, name)
    except ApiError as error:
        return error.code == 404
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def kubelet(k8s_api: KubernetesEmulator) -> Iterator[Kubelet]:
    with Kubelet(k8s_api, backoff_base=0.05, grace_period=0.5) as running:
        yield running


def test_success_completes_the_job(k8s_api: KubernetesEmulator, kubelet: Kubelet) -> None:
    k8s_api.create(JOBS, NS, python_job("ok", "print('hello from the pod')"))

    job = kubelet.wait_for_job(NS, "ok")

    complete = condition(job, "Complete")
    assert complete is not None, job["status"]
    assert complete["reason"] == "CompletionsReached"
    assert condition(job, "SuccessCriteriaMet") is not None
    status = job["status"]
    assert status["succeeded"] == 1
    assert "failed" not in status and "active" not in status
    assert status["startTime"] <= status["completionTime"]
    [pod] = job_pods(k8s_api, "ok")
    assert pod["metadata"]["name"].startswith("ok-") and len(pod["metadata"]["name"]) == 8
    assert pod["metadata"]["labels"]["app"] == "demo"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "ok"
    assert pod["metadata"]["labels"]["controller-uid"] == job["metadata"]["uid"]
    [owner] = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Job",
        job["metadata"]["uid"],
        True,
    )
    assert "finalizers" not in pod["metadata"]  # job-tracking released once counted
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert kubelet.logs(pod["metadata"]["name"]) == "hello from the pod\n"


def test_failures_are_retried_until_the_backoff_limit(
    k8s_api: KubernetesEmulator, kubelet: Kubelet
) -> None:
    script = "import sys; print('boom', file=sys.stderr); sys.exit(2)"
    k8s_api.create(JOBS, NS, python_job("retry", script, backoffLimit=2))

    job = kubelet.wait_for_job(NS, "retry")

    failed = condition(job, "Failed")
    assert failed is not None, job["status"]
    assert failed["reason"] == "BackoffLimitExceeded"
    assert condition(job, "FailureTarget") is not None
    assert condition(job, "Complete") is None
    assert job["status"]["failed"] == 3
    assert "succeeded" not in job["status"] and "completionTime" not in job["status"]
    pods = job_pods(k8s_api, "retry")
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
        assert kubelet.logs(pod["metadata"]["name"]) == "boom\n"


def test_a_retry_can_succeed(k8s_api: KubernetesEmulator, kubelet: Kubelet, tmp_path: Path) -> None:
    marker = tmp_path / "attempted"
    script = (
        "import pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(1)\n"
    )
    k8s_api.create(JOBS, NS, python_job("second", script, backoffLimit=3))

    job = kubelet.wait_for_job(NS, "second")

    assert condition(job, "Complete") is not None, job["status"]
    assert (job["status"]["succeeded"], job["status"]["failed"]) == (1, 1)
    phases = sorted(p["status"]["phase"] for p in job_pods(k8s_api, "second"))
    assert phases == ["Failed", "Succeeded"]


def test_retries_back_off_exponentially(k8s_api: KubernetesEmulator) -> None:
    with Kubelet(k8s_api, backoff_base=0.3) as kubelet:
        k8s_api.create(JOBS, NS, python_job("backoff", "raise SystemExit(1)", backoffLimit=2))
        job = kubelet.wait_for_job(NS, "backoff")

        assert job["status"]["failed"] == 3
        first, second, third = kubelet.runs("backoff")
        assert first.finished_monotonic and second.finished_monotonic
        assert 0.3 <= second.created_monotonic - first.finished_monotonic < 0.6
        assert 0.6 <= third.created_monotonic - second.finished_monotonic < 0.9


def test_the_active_deadline_kills_the_process(
    k8s_api: KubernetesEmulator, kubelet: Kubelet
) -> None:
    script = "import time; print('sleeping', flush=True); time.sleep(60)"
    k8s_api.create(JOBS, NS, python_job("slow", script, activeDeadlineSeconds=1, backoffLimit=5))
    kubelet.wait_for(lambda: kubelet.runs("slow") and kubelet.runs("slow")[0].pid, what="start")
    [run] = kubelet.runs("slow")
    started = time.monotonic()

    job = kubelet.wait_for_job(NS, "slow", "Failed")

    assert time.monotonic() - started < 2.5
    failed = condition(job, "Failed")
    assert failed is not None
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    assert job["status"]["failed"] == 1 and "active" not in job["status"]
    assert run.exit_code == 143 and not alive(run.pid or 0)
    assert kubelet.logs(run.name).startswith("sleeping\n")
    assert job_pods(k8s_api, "slow") == []  # the controller deleted the active pod
    assert len(kubelet.runs("slow")) == 1  # and started no other


def test_pod_failure_policy_fail_job_skips_the_retries(
    k8s_api: KubernetesEmulator, kubelet: Kubelet
) -> None:
    manifest = python_job(
        "fatal",
        "raise SystemExit(3)",
        backoffLimit=5,
        podFailurePolicy={
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {"containerName": "task", "operator": "In", "values": [3]},
                },
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        },
    )
    k8s_api.create(JOBS, NS, manifest)

    job = kubelet.wait_for_job(NS, "fatal")

    failed = condition(job, "Failed")
    assert failed is not None, job["status"]
    assert failed["reason"] == "PodFailurePolicy"
    [pod] = job_pods(k8s_api, "fatal")
    assert failed["message"] == (
        f"Container task for pod {NS}/{pod['metadata']['name']} failed with exit code 3 "
        "matching FailJob rule at index 0"
    )
    assert job["status"]["failed"] == 1


def test_pod_failure_policy_ignore_retries_without_counting(
    k8s_api: KubernetesEmulator, kubelet: Kubelet, tmp_path: Path
) -> None:
    marker = tmp_path / "attempted"
    script = (
        "import pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(42)\n"
    )
    rule = {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}}
    manifest = python_job("ignored", script, backoffLimit=0, podFailurePolicy={"rules": [rule]})
    k8s_api.create(JOBS, NS, manifest)

    job = kubelet.wait_for_job(NS, "ignored")

    assert condition(job, "Complete") is not None, job["status"]
    assert job["status"]["succeeded"] == 1 and "failed" not in job["status"]
    assert len(job_pods(k8s_api, "ignored")) == 2


def test_deleting_the_job_stops_its_process(k8s_api: KubernetesEmulator, kubelet: Kubelet) -> None:
    k8s_api.create(JOBS, NS, python_job("cancel", "import time; time.sleep(60)"))
    running = kubelet.wait_for(
        lambda: [p for p in job_pods(k8s_api, "cancel") if p["status"]["phase"] == "Running"],
        what="a running pod",
    )
    kubelet.wait_for(
        lambda: k8s_api.get(JOBS, NS, "cancel")["status"].get("ready") == 1, what="ready=1"
    )
    assert k8s_api.get(JOBS, NS, "cancel")["status"]["active"] == 1
    [run] = kubelet.runs("cancel")
    started = time.monotonic()

    k8s_api.delete(JOBS, NS, "cancel", propagation_policy="Foreground")
    kubelet.wait_for(lambda: gone(k8s_api, JOBS, "cancel"), timeout=2, what="the Job to go")

    assert time.monotonic() - started < 1.0
    assert run.finished.is_set() and run.exit_code == 143 and not alive(run.pid or 0)
    assert gone(k8s_api, PODS, running[0]["metadata"]["name"])
    assert job_pods(k8s_api, "cancel") == []


def test_deleting_a_running_pod_replaces_it(
    k8s_api: KubernetesEmulator, kubelet: Kubelet, tmp_path: Path
) -> None:
    marker = tmp_path / "attempted"
    script = (
        "import pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    time.sleep(60)\n"
    )
    k8s_api.create(JOBS, NS, python_job("evicted", script, backoffLimit=1))
    kubelet.wait_for(marker.exists, what="the first attempt to start")
    [pod] = job_pods(k8s_api, "evicted")
    first = pod["metadata"]["name"]

    k8s_api.delete(PODS, NS, first)
    job = kubelet.wait_for_job(NS, "evicted")

    assert condition(job, "Complete") is not None, job["status"]
    assert (job["status"]["failed"], job["status"]["succeeded"]) == (1, 1)
    assert gone(k8s_api, PODS, first)


def test_env_values_and_secrets_reach_the_process(
    k8s_api: KubernetesEmulator, tmp_path: Path
) -> None:
    secret_value = base64.b64encode(b"postgresql://db/ledger").decode()
    k8s_api.create(
        "v1/secrets",
        NS,
        {"metadata": {"name": "database"}, "data": {"database-url": secret_value}},
    )
    env = [
        {"name": "PLAIN", "value": "plain-value"},
        {"name": "DERIVED", "value": "$(PLAIN)-too"},
        {
            "name": "FROM_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "database", "key": "database-url"}},
        },
        {
            "name": "FROM_DICT",
            "valueFrom": {"secretKeyRef": {"name": "local-only", "key": "token"}},
        },
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "FORCED", "value": "/data"},
    ]
    names = [
        "PLAIN",
        "DERIVED",
        "FROM_SECRET",
        "FROM_DICT",
        "POD_NAMESPACE",
        "BASE",
        "OVERRIDDEN",
        "FORCED",
    ]
    script = f"import os; print(*[os.environ[n] for n in {names!r}], sep='|')"
    with Kubelet(
        k8s_api,
        env_overrides={"BASE": "from-kubelet", "OVERRIDDEN": "kubelet", "PLAIN": "lost"},
        env_force={"FORCED": "local"},
        secrets={"local-only": {"token": "s3cret"}},
    ) as kubelet:
        manifest = python_job("env", script, env=[*env, {"name": "OVERRIDDEN", "value": "pod"}])
        k8s_api.create(JOBS, NS, manifest)
        job = kubelet.wait_for_job(NS, "env")

        assert condition(job, "Complete") is not None, kubelet.dump_logs()
        [run] = kubelet.runs("env")
        assert kubelet.logs(run.name).strip().split("|") == [
            "plain-value",
            "plain-value-too",
            "postgresql://db/ledger",
            "s3cret",
            NS,
            "from-kubelet",
            "pod",
            "local",
        ]


def test_a_missing_secret_keeps_the_pod_pending(k8s_api: KubernetesEmulator) -> None:
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "later", "key": "x"}}}]
    script = "import os; print(os.environ['X'])"
    with Kubelet(k8s_api) as kubelet:
        k8s_api.create(JOBS, NS, python_job("waits", script, env=env))
        pod = kubelet.wait_for(
            lambda: [p for p in job_pods(k8s_api, "waits") if p["status"].get("containerStatuses")],
            what="a waiting pod",
        )[0]
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        assert pod["status"]["phase"] == "Pending"
        assert waiting["reason"] == "CreateContainerConfigError"

        data = {"x": base64.b64encode(b"arrived").decode()}
        k8s_api.create("v1/secrets", NS, {"metadata": {"name": "later"}, "data": data})
        kubelet.wait_for_job(NS, "waits", "Complete")
        assert kubelet.logs(pod["metadata"]["name"]).endswith("arrived\n")


def test_the_bkjobs_command_is_the_venvs(k8s_api: KubernetesEmulator) -> None:
    manifest = python_job("cli", "")
    manifest["spec"]["template"]["spec"]["containers"][0]["command"] = ["bkjobs", "--help"]
    with Kubelet(k8s_api) as kubelet:
        bkjobs = kubelet.command_map["bkjobs"]
        assert Path(bkjobs).parent == Path(sys.executable).parent
        k8s_api.create(JOBS, NS, manifest)
        job = kubelet.wait_for_job(NS, "cli", timeout=20)
        assert condition(job, "Complete") is not None, kubelet.dump_logs()


def test_an_unknown_command_is_a_start_error(k8s_api: KubernetesEmulator, kubelet: Kubelet) -> None:
    manifest = python_job("missing", "")
    manifest["spec"]["template"]["spec"]["containers"][0]["command"] = ["no-such-command-here"]
    k8s_api.create(JOBS, NS, manifest)

    job = kubelet.wait_for_job(NS, "missing")

    assert condition(job, "Failed") is not None
    [pod] = job_pods(k8s_api, "missing")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")
    assert "executable file not found" in kubelet.logs(pod["metadata"]["name"])


def test_ttl_after_finished_deletes_the_job_and_its_pods(
    k8s_api: KubernetesEmulator, kubelet: Kubelet
) -> None:
    k8s_api.create(JOBS, NS, python_job("short-lived", "pass", ttlSecondsAfterFinished=0))

    kubelet.wait_for(lambda: gone(k8s_api, JOBS, "short-lived"), what="the TTL deletion")

    assert job_pods(k8s_api, "short-lived") == []
    assert len(kubelet.runs("short-lived")) == 1


def test_stopping_the_kubelet_stops_the_processes(k8s_api: KubernetesEmulator) -> None:
    with Kubelet(k8s_api, grace_period=0.2) as kubelet:
        k8s_api.create(JOBS, NS, python_job("forever", "import time; time.sleep(60)"))
        run = kubelet.wait_for(lambda: [r for r in kubelet.runs() if r.pid], what="start")[0]

    assert run.finished.is_set() and not alive(run.pid)
    [pod] = job_pods(k8s_api, "forever")
    assert "finalizers" not in pod["metadata"]


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    k8s_api: KubernetesEmulator, kubelet: Kubelet
) -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    k8s_api.create(JOBS, NS, python_job("stubborn", script))
    kubelet.wait_for(
        lambda: kubelet.runs("stubborn") and kubelet.logs(kubelet.runs("stubborn")[0].name),
        what="the handler to be installed",
    )
    [run] = kubelet.runs("stubborn")
    started = time.monotonic()

    k8s_api.delete(JOBS, NS, "stubborn", propagation_policy="Background")
    kubelet.wait_for(lambda: job_pods(k8s_api, "stubborn") == [], timeout=2, what="pod gone")

    assert 0.5 <= time.monotonic() - started < 1.5  # the fixture's grace period is 0.5 s
    assert run.exit_code == 137 and not alive(run.pid or 0)


def test_a_mount_path_rewrites_the_containers_words_but_never_the_mapped_command() -> None:
    """A pod mounting an emptyDir at /tmp, run from a checkout under /tmp (CI clones there):
    the interpreter and wrapper the command map supplies keep their paths."""

    def into_pod(word: str) -> str:
        return "/pod-dir" + word if word.startswith("/tmp/") else word

    container = {"command": ["bkjobs", "serve"], "args": ["--data", "/tmp/$(SUB)"]}
    prefix = ["/tmp/checkout/.venv/bin/python", "/tmp/checkout/tests/cluster/in_pod.py", "bkjobs"]
    argv = resolve_argv(container, {"SUB": "x"}, {"bkjobs": prefix}, "/usr/bin", into_pod)
    assert argv == [*prefix, "serve", "--data", "/pod-dir/tmp/x"]
