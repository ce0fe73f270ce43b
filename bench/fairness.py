"""Fairness under a burst: while tenant A has a backlog of queued jobs, how long a new job
of tenant B waits to start (prints figures; not a test).

    .venv/bin/python bench/fairness.py [--backlog 10000] [--probes 5] [--modes embedded cluster]

Embedded mode: the real worker pool (two supervisor processes) on a fresh job store; tenant A
submits ``--backlog`` jobs of 50 ms each, the workers start on them, then tenant B submits a
job, ``--probes`` times one after another; figure: B's ``started_at - created_at``.

Cluster mode: the real kopf operator against the project's Kubernetes emulator
(``tests/k8s/emulator``), with room for ``--room`` task Jobs in the namespace and, so that A can
fill all of it, the same per-tenant limit (the shipped default, 20 of 50, would leave B a
free slot and prove nothing). No kubelet runs here: the bench plays the Job controller and
the task's pod (a Job that is not suspended gets a ``startTime``, then completes after 50 ms
with its resource's result written, as a task would). Figure: from B's BookkeepingJob
created to its Job resumed (or created not suspended). The wait for A's backlog to be in
place (every Job created) is printed too: it is what the operator's bookkeeping of a large
backlog costs.

"Oldest first" would make B wait for the whole backlog ahead of it: that estimate (backlog
ahead x time per job / jobs at once) is printed beside the figure.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.wakeup import WakeSender
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase, new_job_id
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext

ROOT = Path(__file__).resolve().parents[1]
TASK_SECONDS = 0.05


class Done(BaseModel):
    done: bool = True


def short_task(context: TaskContext[CategorizeSpec]) -> Done:
    """Tenant A's and B's job: 50 ms of work."""
    del context
    time.sleep(TASK_SECONDS)
    return Done()


def summary(waits: list[float]) -> str:
    waits = sorted(waits)
    return (
        f"p50 {statistics.median(waits) * 1000:8.1f} ms, max {waits[-1] * 1000:8.1f} ms "
        f"({len(waits)} probes)"
    )


def embedded(backlog: int, probes: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            environment="test",
            data_dir=Path(data),
            worker_concurrency=2,
            tasks={"categorize": "fairness:short_task"},
        )
        store = LocalJobStore(settings.jobs_db, on_submitted=WakeSender(settings.jobs_db, 2).wake)
        began = time.monotonic()
        for _ in range(backlog):
            store.submit(CategorizeSpec(company_id="a-co", tenant_id="tenant-a"))
        print(f"  {backlog:,} jobs of tenant A queued in {time.monotonic() - began:.1f} s")
        pool = WorkerPool(settings)
        pool.start()
        try:
            # probing starts once the workers are up and through a few of A's jobs
            while backlog - pending(store) < 4:
                time.sleep(0.05)
            done_before, began = backlog - pending(store), time.monotonic()
            waits = []
            for _ in range(probes):
                job_id = store.submit(CategorizeSpec(company_id="b-co", tenant_id="tenant-b")).job
                while (job := store.get(job_id.id)) is not None and job.status.started_at is None:
                    time.sleep(0.002)
                assert job is not None and job.status.started_at is not None
                waits.append((job.status.started_at - job.status.created_at).total_seconds())
                time.sleep(0.5)
            left = pending(store)
            rate = (backlog - left - done_before) / (time.monotonic() - began)
        finally:
            pool.stop()
    print(f"  tenant B's job started after: {summary(waits)}")
    print(
        f"  A's backlog still queued: {left:,} ({rate:.1f} jobs/s); oldest first, B would "
        f"have waited about {left / max(rate, 1e-9):,.0f} s"
    )


def pending(store: LocalJobStore) -> int:
    return store.counts().get(("categorize", JobPhase.PENDING.value), 0)


def cluster(backlog: int, probes: int, room: int) -> None:
    sys.path.insert(0, str(ROOT))
    from bookkeeper_jobs.operator.manifests import job_name
    from bookkeeper_jobs.resource import spec_to_resource
    from bookkeeper_jobs.settings import load_settings
    from tests.k8s.emulator import KubernetesEmulator
    from tests.support.operator import BKJ, CRD, JOBS, NS, running_operator

    with tempfile.TemporaryDirectory() as data, KubernetesEmulator(bookmark_interval=1.0) as api:
        api.load_crd(CRD)
        api.write_kubeconfig(Path(data) / "kubeconfig")
        settings = load_settings(
            kubernetes_namespace=NS,
            data_dir=Path(data) / "data",
            task_template={"image": "registry.test/bookkeeper-jobs:1"},
            max_running_jobs=room,
            max_running_jobs_per_tenant=room,
        )
        stop = threading.Event()
        finished = Tally()
        player = threading.Thread(
            target=play_the_job_controller, args=(api, stop, finished), daemon=True
        )
        created: queue.Queue[str] = queue.Queue()
        unsubscribe = api.subscribe(
            lambda change: created.put("") if change.type == "ADDED" else None, JOBS
        )
        with running_operator(api, settings):
            began = time.monotonic()
            for _ in range(backlog):
                spec = CategorizeSpec(company_id="a-co", tenant_id="tenant-a")
                api.create(BKJ, NS, spec_to_resource(spec, job_id=new_job_id(), namespace=NS))
            while created.qsize() < backlog:  # (a list of thousands would slow the operator)
                time.sleep(0.5)
            unsubscribe()
            print(
                f"  {backlog:,} BookkeepingJobs of tenant A, every Job created "
                f"(at most {room} running) in {time.monotonic() - began:.1f} s"
            )
            player.start()
            while (done_before := finished.count) < 4:
                time.sleep(0.05)
            began = time.monotonic()
            waits = []
            for _ in range(probes):
                spec = CategorizeSpec(company_id="b-co", tenant_id="tenant-b")
                name = new_job_id()
                created = time.monotonic()
                api.create(BKJ, NS, spec_to_resource(spec, job_id=name, namespace=NS))
                while not running(api, job_name(name)):
                    time.sleep(0.005)
                waits.append(time.monotonic() - created)
                print(f"    probe {len(waits)}: {waits[-1] * 1000:.0f} ms", flush=True)
                time.sleep(0.5)
            done = finished.count
            rate = (done - done_before - probes) / (time.monotonic() - began)
            stop.set()
            player.join()
    print(f"  tenant B's job resumed after: {summary(waits)}")
    ahead = backlog - done
    print(
        f"  A's Jobs finished: {done:,} ({rate:.1f} jobs/s); oldest first, B would have "
        f"waited about {ahead / max(rate, 1e-9):,.0f} s"
    )


class Tally:
    """Jobs the played Job controller completed. (Counting them by listing every Job, as this
    bench first did, deep-copied 10,000 Jobs under the emulator's lock at each count, taking
    the GIL and the emulator from the operator it measures.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


def running(api: Any, name: str) -> bool:
    from tests.support.operator import JOBS, NS

    try:
        job = api.get(JOBS, NS, name)
    except Exception:  # not created yet
        return False
    return not job["spec"].get("suspend")


def finished_job(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


def play_the_job_controller(api: Any, stop: threading.Event, finished: Tally) -> None:
    """Start every Job as it is resumed (or created running), and complete it 50 ms later
    with its resource's result written. Follows the Jobs' changes (a list of thousands of
    Jobs at every step would take the operator's CPU: they share one process)."""
    from bookkeeper_jobs.resource import LABEL_NAME
    from tests.support.operator import JOBS, NS

    runnable: queue.Queue[tuple[str, str]] = queue.Queue()
    seen: set[str] = set()

    def changed(change: Any) -> None:  # runs under the emulator's lock: only queue
        job = change.object
        name = job["metadata"]["name"]
        if name in seen or job["spec"].get("suspend") or finished_job(job):
            return
        seen.add(name)
        runnable.put((name, job["metadata"]["labels"][LABEL_NAME]))

    unsubscribe = api.subscribe(changed, JOBS)
    for job in api.list(JOBS, NS):  # the ones running before the subscription
        changed(SimpleNamespace(object=job))
    try:
        while not stop.is_set():
            try:
                name, resource = runnable.get(timeout=0.1)
            except queue.Empty:
                continue
            moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            api.patch_status(JOBS, NS, name, {"startTime": moment, "active": 1})
            threading.Timer(TASK_SECONDS, complete, (api, name, resource, finished)).start()
    finally:
        unsubscribe()


def complete(api: Any, name: str, resource: str, finished: Tally) -> None:
    from tests.support.operator import BKJ, JOBS, NS

    api.patch_status(BKJ, NS, resource, {"result": {"done": True}})
    done = {"type": "Complete", "status": "True", "reason": "Completed"}
    api.patch_status(JOBS, NS, name, {"conditions": [done], "active": 0})
    finished.add()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--room", type=int, default=4, help="cluster: task Jobs at once")
    parser.add_argument("--modes", nargs="+", default=["embedded", "cluster"])
    args = parser.parse_args()
    if "embedded" in args.modes:
        print(f"embedded mode, 2 workers, tenant A's backlog {args.backlog:,}")
        embedded(args.backlog, args.probes)
    if "cluster" in args.modes:
        print(f"cluster mode (operator on the emulator), room for {args.room} task Jobs")
        cluster(args.backlog, args.probes, args.room)


if __name__ == "__main__":
    main()
