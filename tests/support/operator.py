"""The operator harness: the real kopf operator (``run_operator``) in a thread against an
emulated API server serving the project's CRD, and the reads its tests make."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.operator.run import run_operator
from bookkeeper_jobs.resource import GROUP, LABEL_NAME, PLURAL, VERSION, spec_to_resource
from bookkeeper_jobs.settings import Settings
from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.support.polling import wait_until

CRD = Path(__file__).resolve().parents[2] / "crds" / "bookkeepingjobs.yaml"
BKJ = f"{GROUP}/{VERSION}/{PLURAL}"
JOBS = "batch/v1/jobs"
NS = "default"
IMAGE = "registry.test/bookkeeper-jobs:1"
ARTIFACT = "ab" * 16


@contextlib.contextmanager
def running_operator(
    api: KubernetesEmulator, settings: Settings, health_host: str | None = None
) -> Iterator[None]:
    """``run_operator`` in a thread until the block ends (and it stopped)."""
    stop, ready = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            run_operator(
                settings,
                stop_flag=stop,
                ready_flag=ready,
                kubeconfig=api.kubeconfig_path,
                health_host=health_host,
            )
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="operator", daemon=True)
    thread.start()
    try:
        wait_until(lambda: failures or ready.is_set(), what="the operator to start")
        assert not failures
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the operator did not stop"
    assert not failures, failures


def submit(api: KubernetesEmulator, spec: Any = None) -> str:
    spec = spec or CategorizeSpec(company_id="acme", tenant_id="t1")
    created = api.create(BKJ, NS, spec_to_resource(spec, job_id=new_job_id(), namespace=NS))
    return str(created["metadata"]["name"])


def resource(api: KubernetesEmulator, name: str) -> dict[str, Any]:
    return api.get(BKJ, NS, name)


def phase_of(api: KubernetesEmulator, name: str) -> str | None:
    return resource(api, name).get("status", {}).get("phase")


def child_jobs(api: KubernetesEmulator, name: str) -> list[dict[str, Any]]:
    return api.list(JOBS, NS, label_selector=f"{LABEL_NAME}={name}")


def reasons(api: KubernetesEmulator, name: str) -> list[str]:
    events = api.list("v1/events", NS)
    return [e["reason"] for e in events if e["involvedObject"].get("name") == name]


def wait_pending(api: KubernetesEmulator, name: str) -> dict[str, Any]:
    wait_until(lambda: phase_of(api, name) == "pending", what=f"{name} to be pending")
    [job] = child_jobs(api, name)
    return job


def set_job_condition(
    api: KubernetesEmulator, name: str, kind: str, reason: str, message: str
) -> None:
    condition = {"type": kind, "status": "True", "reason": reason, "message": message}
    api.patch_status(JOBS, NS, job_name(name), {"conditions": [condition]})


def handled(api: KubernetesEmulator, name: str, key: str) -> dict[str, Any] | None:
    stored = resource(api, name)
    return stored if key in stored["metadata"].get("annotations", {}) else None


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [c for c in status["conditions"] if c["type"] == kind]
    return found


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def gone(api: KubernetesEmulator, name: str) -> bool:
    try:
        resource(api, name)
    except ApiError as exc:
        return exc.code == 404
    return False
