"""Pick-up latency and trivial-job throughput, the product's embedded workers against the
seed design's RQ workers, side by side in one run (prints figures; not a test).

    .venv/bin/python bench/pickup_side_by_side.py [--jobs 50] [--batch 1000] [--rounds 3]
        [--workers 2] [--profile] [--fork-cost]

Each side runs ``--workers`` idle workers, started afresh for each round:

- **product**: the embedded mode's real worker pool (``api/worker_pool.py``: spawned supervisor
  processes; each claims a job in SQLite and hands it to its warm task process, forked
  while the worker was idle, ``api/workers.py``)
  over a new job store on disk; jobs are submitted through ``LocalJobStore`` with the server's
  wake-up hook (``api/wakeup.py``: a datagram to each idle supervisor after the commit), as the
  API submits them (group commit, ``synchronous=FULL``);
- **rq**: ``rq worker`` processes as the seed design deploys them (the CLI's default
  ``rq.Worker``: it BLPOPs the queue and forks a work horse per job) over a loopback
  ``redis-server`` (no persistence); jobs are enqueued through ``Queue.enqueue``.

The job is trivial on both sides: it returns ``time.time()`` as its code starts
(``bench/compare/rq_trivial.py`` for RQ, :func:`started` here for the product). Both clocks are
the wall clock: the bench reads ``time.time()``, the product stamps ``datetime.now(UTC)``,
RQ stamps ``datetime.now(timezone.utc)``.

1. **Submit-to-running**: ``--jobs`` jobs one at a time, each submitted once the previous one
   finished (the workers are idle); after 5 unrecorded jobs. The latency is the job's own
   start (its returned ``time.time()``) minus the bench's ``time.time()`` just before the
   submit/enqueue call. Also shown: each side's own stamps (product ``started_at -
   created_at``, taken when a supervisor claims the job, before its task process starts
   it; RQ
   ``started_at - enqueued_at``, taken in the work horse just before the job runs).
2. **Throughput**: ``--batch`` jobs submitted at once (product: ``submit_later`` for each, the
   futures of the group commit; RQ: ``Queue.enqueue_many`` in one pipeline, its bulk
   call), timed from the first submission to the last job's end as each side stamps it
   (product ``finished_at``, RQ ``ended_at``).

Rounds alternate the order of the sides. Figures: median of the rounds (min-max). CPU per job
(throughput) is the workers' processes and their children, live or reaped (``/proc/<pid>/stat``;
the product's warm task processes live through a batch), plus
``redis-server`` on RQ's side and the bench's own submitting process on both. ``--profile``
adds one product throughput run under ``py-spy record`` (all supervisors and their task
processes) and prints where the samples are. (``--what-if``, a third side with the supervisors'
watch loop patched so it stops polling the pipe once the outcome is in, measured that change
before the product shipped it.) ``--fork-cost`` times a fork + exit + join of a no-op child
from parents of an ``rq worker``'s size and of a supervisor's. Results go to
``bench/results/pickup-side-by-side-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.wakeup import WakeSender
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.jobs import TERMINAL_PHASES, CategorizeSpec, Job, JobPhase
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WARMUP_JOBS = 5
POLL_ONE = 0.002
"""How often the bench reads the status of the single job it waits for (both sides)."""
POLL_BATCH = 0.05
"""How often the bench counts finished jobs of a batch (both sides)."""
BATCH_TIMEOUT = 600.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Started(BaseModel):
    started: float


def started(context: TaskContext[CategorizeSpec]) -> Started:
    """The product's trivial task: its wall-clock start, as RQ's job returns it."""
    del context
    return Started(started=time.time())


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_of(pid: int) -> tuple[float, float]:
    """(user, system) seconds of ``pid`` and its children: the reaped ones (which the
    kernel adds to the parent's) and the live ones (a warm task process lives on)."""
    user, system = 0.0, 0.0
    for each in [pid, *live_children(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # it ended meanwhile: its parent counts it once reaped
            continue
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        user, system = user + (utime + cutime) / CLK_TCK, system + (stime + cstime) / CLK_TCK
    return user, system


def live_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def own_cpu() -> tuple[float, float]:
    times = os.times()
    return times.user, times.system


@dataclass
class CpuMeter:
    """CPU used by some processes (and the bench itself) between two points."""

    pids: dict[str, int]
    _before: dict[str, tuple[float, float]] = field(default_factory=dict)

    def start(self) -> None:
        self._before = {name: cpu_of(pid) for name, pid in self.pids.items()}
        self._before[BENCH_PROCESS] = own_cpu()

    def stop(self) -> tuple[dict[str, float], float]:
        """Seconds by process, and the kernel's (system) share of the total."""
        now = {name: cpu_of(pid) for name, pid in self.pids.items()}
        now[BENCH_PROCESS] = own_cpu()
        used = {
            name: (now[name][0] - user, now[name][1] - system)
            for name, (user, system) in self._before.items()
        }
        return {name: u + s for name, (u, s) in used.items()}, sum(s for _, s in used.values())


BENCH_PROCESS = "bench (submitting, polling)"


def epoch(value: datetime | None) -> float:
    assert value is not None
    return value.timestamp()


@dataclass
class Latency:
    to_code: list[float] = field(default_factory=list)
    """The job's own time.time() minus the bench's time.time() before the submit call."""
    own_stamps: list[float] = field(default_factory=list)
    """The side's own stamps: product started_at - created_at, RQ started_at - enqueued_at."""
    to_end: list[float] = field(default_factory=list)
    """The side's end stamp (finished_at / ended_at) minus the submit call."""
    clock_check: list[float] = field(default_factory=list)
    """The side's own submission stamp (created_at / enqueued_at) minus the bench's
    time.time() before the call: small and positive when the clocks are the same."""


@dataclass
class Throughput:
    jobs: int
    submitted_s: float
    """From the first submission to the last one acknowledged."""
    elapsed_s: float
    """From the first submission to the last job's end."""
    cpu_s: float
    system_s: float
    """Of cpu_s, the kernel's (fork, page faults, exit, I/O)."""
    cpu_by_process: dict[str, float]

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.elapsed_s


class Side:
    name = ""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def one_job(self) -> tuple[float, float, float, float]:
        """Submit one job, wait for its end: (to its code, own stamps, to its end, clock
        check)."""
        raise NotImplementedError

    def batch(self, jobs: int) -> Throughput:
        raise NotImplementedError

    def worker_pids(self) -> list[int]:
        raise NotImplementedError


class Product(Side):
    name = "product"

    def __init__(self, workers: int, logs: Path) -> None:
        self.workers = workers
        self.logs = logs
        self._data: tempfile.TemporaryDirectory[str] | None = None
        self._stderr = -1

    def start(self) -> None:
        self._data = tempfile.TemporaryDirectory(prefix="bkjobs-pickup-")
        settings = Settings(
            environment="test",
            data_dir=Path(self._data.name),
            worker_concurrency=self.workers,
            tasks={"categorize": "pickup_side_by_side:started"},
        )
        wake = WakeSender(settings.jobs_db, self.workers)
        self.store = LocalJobStore(settings.jobs_db, on_submitted=wake.wake)
        self.pool = WorkerPool(settings)
        # The supervisors log two lines a job to the stderr they inherit (as RQ's workers
        # do to theirs): a file, not the terminal.
        sys.stderr.flush()
        self._stderr = os.dup(2)
        with (self.logs / f"{self.name}-workers.log").open("ab") as log:
            os.dup2(log.fileno(), 2)
        try:
            self.pool.start()
        finally:
            os.dup2(self._stderr, 2)
        wait_for(lambda: self.pool.alive() == self.workers, 60, "product supervisors")
        time.sleep(3)  # the supervisors import the app and their tasks, then poll

    def stop(self) -> None:
        self.pool.stop()
        os.close(self._stderr)
        if self._data is not None:
            self._data.cleanup()

    def worker_pids(self) -> list[int]:
        return self.pool.pids()

    def spec(self) -> CategorizeSpec:
        return CategorizeSpec(company_id="c", tenant_id="t")

    def one_job(self) -> tuple[float, float, float]:
        before = time.time()
        job_id = self.store.submit(self.spec()).job.id
        while True:
            job = self.store.get(job_id)
            assert job is not None
            if job.status.phase.is_terminal:
                break
            time.sleep(POLL_ONE)
        status = job.status
        assert status.result is not None, status
        own = epoch(status.started_at) - epoch(status.created_at)
        end = epoch(status.finished_at) - before
        return status.result["started"] - before, own, end, epoch(status.created_at) - before

    def batch(self, jobs: int) -> Throughput:
        meter = CpuMeter({f"supervisor {pid}": pid for pid in self.worker_pids()})
        ended_before = self.terminal()
        meter.start()
        first = time.time()
        futures = [self.store.submit_later(self.spec(), None, None) for _ in range(jobs)]
        ids = [future.result().job.id for future in futures]
        submitted = time.time() - first
        deadline = time.monotonic() + BATCH_TIMEOUT
        while (ended := self.terminal() - ended_before) < jobs:
            if time.monotonic() > deadline:
                raise SystemExit(f"product: {ended} of {jobs} jobs ended")
            time.sleep(POLL_BATCH)
        cpu, system = meter.stop()
        finished = [self.store.get(job_id) for job_id in ids]
        assert all(
            isinstance(job, Job) and job.status.phase is JobPhase.COMPLETE for job in finished
        )
        last = max(epoch(job.status.finished_at) for job in finished if job is not None)
        return Throughput(jobs, submitted, last - first, sum(cpu.values()), system, cpu)

    def terminal(self) -> int:
        counts = self.store.counts()
        return sum(n for (_, phase), n in counts.items() if phase in TERMINAL_PHASES)


class RQ(Side):
    name = "rq"

    def __init__(self, workers: int, logs: Path, redis_url: str) -> None:
        from redis import Redis

        self.workers = workers
        self.logs = logs
        self.redis_url = redis_url
        self.redis = Redis.from_url(redis_url)
        self.redis_pid = redis_server_pid(redis_url)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        from rq import Queue, Worker

        self.redis.flushall()
        self.queue = Queue("default", connection=self.redis)
        rq = str(Path(sys.executable).with_name("rq"))
        command = [rq, "worker", "--url", self.redis_url, "--path", str(BENCH), "default"]
        with (self.logs / "rq-workers.log").open("ab") as log:
            self.processes = [
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
                for _ in range(self.workers)
            ]
        wait_for(lambda: len(Worker.all(connection=self.redis)) == self.workers, 60, "rq workers")
        time.sleep(1)  # each is now blocked in BLPOP on the queue

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()  # SIGTERM: a warm shutdown, as a deployment stops them
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def worker_pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def one_job(self) -> tuple[float, float, float, float]:
        from rq.job import JobStatus

        before = time.time()
        job = self.queue.enqueue("compare.rq_trivial.started")
        while job.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED):
            time.sleep(POLL_ONE)
        job.refresh()
        value = job.return_value()
        assert isinstance(value, float), (job.get_status(), job.exc_info)
        own = epoch(job.started_at) - epoch(job.enqueued_at)
        end = epoch(job.ended_at) - before
        return value - before, own, end, epoch(job.enqueued_at) - before

    def batch(self, jobs: int) -> Throughput:
        from rq import Queue
        from rq.job import Job as RQJob

        processes = {f"rq worker {pid}": pid for pid in self.worker_pids()}
        meter = CpuMeter({**processes, "redis-server": self.redis_pid})
        registry = self.queue.finished_job_registry
        failed = self.queue.failed_job_registry
        ended_before = registry.count + failed.count
        meter.start()
        first = time.time()
        datas = [Queue.prepare_data("compare.rq_trivial.started") for _ in range(jobs)]
        ids = [job.id for job in self.queue.enqueue_many(datas)]
        submitted = time.time() - first
        deadline = time.monotonic() + BATCH_TIMEOUT
        while (ended := registry.count + failed.count - ended_before) < jobs:
            if time.monotonic() > deadline:
                raise SystemExit(f"rq: {ended} of {jobs} jobs ended")
            time.sleep(POLL_BATCH)
        cpu, system = meter.stop()
        if failed.count:
            raise SystemExit(f"rq: {failed.count} jobs failed; see {self.logs}")
        ends = []
        for first_id in range(0, len(ids), 500):
            for job in RQJob.fetch_many(ids[first_id : first_id + 500], connection=self.redis):
                assert job is not None
                ends.append(epoch(job.ended_at))
        return Throughput(jobs, submitted, max(ends) - first, sum(cpu.values()), system, cpu)


def redis_server_pid(redis_url: str) -> int:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if command.startswith("redis-server") and f":{port}" in command:
                return int(proc.name)
    raise SystemExit(f"redis-server on port {port} not found")


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not up within {seconds} s")
        time.sleep(0.1)


@contextmanager
def running(side: Side) -> Iterator[Side]:
    side.start()
    try:
        yield side
    finally:
        side.stop()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank (p90 of 50 values: the 45th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 100) * len(ordered) // 100))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in values]
    return {
        "p50": statistics.median(ms),
        "p90": percentile(ms, 0.9),
        "max": max(ms),
        "min": min(ms),
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(stat: dict[str, float], digits: int = 1) -> str:
    return f"{stat['median']:,.{digits}f} ({stat['min']:,.{digits}f}-{stat['max']:,.{digits}f})"


def measure_round(side: Side, jobs: int, batch: int) -> dict[str, Any]:
    load_start = loadavg()
    with running(side):
        for _ in range(WARMUP_JOBS):
            side.one_job()
        latency = Latency()
        for _ in range(jobs):
            to_code, own, to_end, clock = side.one_job()
            latency.to_code.append(to_code)
            latency.own_stamps.append(own)
            latency.to_end.append(to_end)
            latency.clock_check.append(clock)
        throughput = side.batch(batch)
    load_end = loadavg()
    result = {
        "side": side.name,
        "load_start": load_start,
        "load_end": load_end,
        "latency_ms": {
            "to_code": summary(latency.to_code),
            "own_stamps": summary(latency.own_stamps),
            "to_end": summary(latency.to_end),
            "clock_check": summary(latency.clock_check),
        },
        "latency_raw_s": asdict(latency),
        "throughput": {
            **asdict(throughput),
            "jobs_per_s": throughput.jobs_per_s,
            "cpu_ms_per_job": throughput.cpu_s * 1000 / throughput.jobs,
            "system_ms_per_job": throughput.system_s * 1000 / throughput.jobs,
        },
    }
    lat = result["latency_ms"]["to_code"]
    print(
        f"  {side.name:8} load {load_start:.2f}->{load_end:.2f}  pick-up p50 {lat['p50']:6.1f}"
        f" p90 {lat['p90']:6.1f} max {lat['max']:6.1f} ms;"
        f" {batch} jobs in {throughput.elapsed_s:6.2f} s = {throughput.jobs_per_s:6.1f} jobs/s,"
        f" {throughput.cpu_s * 1000 / batch:5.1f} ms CPU/job",
        flush=True,
    )
    return result


def profile_product(workers: int, batch: int, logs: Path, out: Path) -> dict[str, Any]:
    """One product batch under ``py-spy record`` of every supervisor (``--subprocesses``:
    their task processes too); shares of the samples by process kind and leaf function."""
    product = Product(workers, logs)
    load_start = loadavg()
    with running(product):
        for _ in range(WARMUP_JOBS):
            product.one_job()
        spy = str(Path(sys.executable).with_name("py-spy"))
        recorders = []
        for pid in product.worker_pids():
            raw = out / f"profile-{pid}.txt"
            command = [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "250"]
            command += ["--format", "raw", "--output", str(raw), "--nonblocking"]
            recorders.append(
                (
                    raw,
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                )
            )
        time.sleep(2)  # py-spy attaches
        throughput = product.batch(batch)
        time.sleep(0.5)
        for _, recorder in recorders:
            recorder.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for _, recorder in recorders:
            recorder.wait(60)
    stacks: Counter[str] = Counter()
    for raw, _ in recorders:
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
    return {
        "load_start": load_start,
        "load_end": loadavg(),
        "jobs_per_s": throughput.jobs_per_s,
        "stacks": dict(stacks.most_common()),
    }


def profile_shares(stacks: dict[str, int]) -> list[tuple[str, float]]:
    """Samples by where they are. py-spy roots each stack in its process (a task process's
    stack also in its supervisor's), so a stack with two process frames is a task
    process's."""
    total = sum(stacks.values())
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        in_task = sum(frame.startswith("process ") for frame in frames) > 1
        names = {frame.split(" (")[0] for frame in frames}
        shares[profile_bucket(in_task, names)] += count
    return [(name, count / total) for name, count in shares.most_common()]


def profile_bucket(in_task: bool, names: set[str]) -> str:
    if in_task:
        if "run_attempt" in names:
            return "task process: run_attempt (context, the task, its outcome)"
        if "_exit_function" in names or "_run_finalizers" in names or "_shutdown" in names:
            return "task process: Python's exit (multiprocessing finalizers)"
        if "serve_attempts" in names:
            return "task process: serve_attempts besides run_attempt (the pipe, the job store)"
        return "task process: after fork, before its first attempt (multiprocessing bootstrap)"
    if "Popen._launch" in names:
        return "supervisor: fork() of the task process"
    if "handed_over" in names:
        return "supervisor: handing the attempt over (pipe)"
    if "AttemptWatch._receive" in names:
        return "supervisor: reading the reply (pipe)"
    if "AttemptWatch._cancel_requested" in names:
        return "supervisor: watch loop, SQLite read of cancel_requested"
    if "AttemptWatch._watch" in names:
        return "supervisor: watch loop, wait() and the rest"
    if "JobLifecycle.claim_next" in names:
        return "supervisor: claim_next (SQLite)"
    if "AttemptWatch._record" in names:
        return "supervisor: recording the ending (SQLite)"
    if "Logger._log" in names or "Logger.info" in names:
        return "supervisor: logging"
    return "supervisor: other"


FORK_COST = """
import json, multiprocessing, resource, sys, time

def noop():
    pass

def measure(label, n=100):
    fork = multiprocessing.get_context("fork")
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    for _ in range(n):
        process = fork.Process(target=noop)
        process.start()
        process.join()
    wall = (time.perf_counter() - began) / n
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    rss = next(line for line in open("/proc/self/status") if line.startswith("VmRSS"))
    cpu = (self1.ru_utime - self0.ru_utime + self1.ru_stime - self0.ru_stime
           + child1.ru_utime - child0.ru_utime + child1.ru_stime - child0.ru_stime) / n
    system = (self1.ru_stime - self0.ru_stime + child1.ru_stime - child0.ru_stime) / n
    print(json.dumps({"parent": label, "rss_mib": int(rss.split()[1]) // 1024,
                      "wall_ms": wall * 1000, "cpu_ms": cpu * 1000,
                      "system_ms": system * 1000}), flush=True)

if __name__ == "__main__":
    measure("bare python")
    import redis, rq
    measure("python + rq (an rq worker's size)")
    from bookkeeper_jobs.settings import Settings
    from bookkeeper_jobs.tasks.registry import resolve_task, task_table_for
    from bookkeeper_jobs.api import workers
    for path in task_table_for(Settings(environment="test")).values():
        resolve_task(path)
    measure("a supervisor's imports (every task resolved)")
"""


def fork_cost() -> list[dict[str, Any]]:
    """What one fork + exit + join of a no-op child costs, by the size of the parent: a bare
    interpreter, one with rq imported (an ``rq worker`` forks its work horses from that),
    and one with what a supervisor imports before it forks its task processes."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_COST], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def versions() -> dict[str, str]:
    import redis
    import rq

    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    return {
        "python": platform.python_version(),
        "rq": rq.__version__,
        "redis-py": redis.__version__,
        "redis-server": server.stdout.split()[2].removeprefix("v="),
        "sqlite": sqlite3.sqlite_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="pick-up jobs per round")
    parser.add_argument("--batch", type=int, default=1000, help="throughput batch per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="then profile a product batch")
    parser.add_argument(
        "--fork-cost", action="store_true", help="then time fork+exit by the parent's size"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    from compare.servers import redis_server

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    began = time.monotonic()
    load_start = loadavg()
    print(
        f"{args.workers} workers a side; {args.jobs} one-at-a-time jobs and a batch of"
        f" {args.batch} per round; {args.rounds} rounds (load {load_start:.2f})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pickup-side-by-side-") as scratch_dir:
        scratch = Path(scratch_dir)
        logs = scratch / "logs"
        logs.mkdir()
        with redis_server(scratch) as redis_url:
            sides: dict[str, Side] = {
                "product": Product(args.workers, logs),
                "rq": RQ(args.workers, logs, redis_url),
            }
            names = list(sides)
            rounds: list[dict[str, Any]] = []
            for index in range(args.rounds):
                # product, rq (, fix); then rq, product (, fix) ...: each side goes first
                order = names[index % len(names) :] + names[: index % len(names)]
                print(f"round {index + 1}", flush=True)
                for name in order:
                    rounds.append(
                        {"round": index + 1, **measure_round(sides[name], **vars_of(args))}
                    )
            profile = None
            if args.profile:
                print("profiling a product batch (py-spy) ...", flush=True)
                profile = profile_product(args.workers, args.batch, logs, logs)
        forks = None
        if args.fork_cost:
            print("fork + exit by the parent's size ...", flush=True)
            forks = fork_cost()
        kept_logs = RESULTS / f"pickup-side-by-side-{stamp}-logs"
        shutil.copytree(logs, kept_logs)
    load_end = loadavg()
    report = {
        "when": stamp,
        "seconds": round(time.monotonic() - began, 1),
        "load_start": load_start,
        "load_end": load_end,
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "versions": versions(),
        "settings": vars(args),
        "rounds": rounds,
        "profile": profile,
        "fork_cost": forks,
    }
    report["table"] = table(rounds, list(sides))
    out = RESULTS / f"pickup-side-by-side-{stamp}.json"
    out.write_text(json.dumps(report, indent=1))
    print_table(report)
    if profile is not None:
        print(
            f"\nproduct batch under py-spy: {profile['jobs_per_s']:.1f} jobs/s"
            f" (load {profile['load_start']:.2f}->{profile['load_end']:.2f})"
        )
        for name, share in profile_shares(profile["stacks"]):
            print(f"  {share:6.1%}  {name}")
    if forks is not None:
        print("\nfork + exit + join of a no-op child, by the parent (100 each):")
        for fork in forks:
            print(
                f"  {fork['parent']:45} RSS {fork['rss_mib']:4d} MiB: {fork['wall_ms']:5.1f} ms"
                f" wall, {fork['cpu_ms']:5.1f} ms CPU ({fork['system_ms']:.1f} kernel)"
            )
    print(
        f"\n{out.relative_to(ROOT)} (load {load_start:.2f} at the start, {load_end:.2f} at the end)"
    )


def vars_of(args: argparse.Namespace) -> dict[str, int]:
    return {"jobs": args.jobs, "batch": args.batch}


def table(rounds: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per side: the median over the rounds (and min-max) of each figure."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        mine = [r for r in rounds if r["side"] == name]
        figures: dict[str, dict[str, float]] = {}
        for kind in ("to_code", "own_stamps", "to_end"):
            for stat in ("p50", "p90", "max"):
                figures[f"{kind}_{stat}_ms"] = spread([r["latency_ms"][kind][stat] for r in mine])
        figures["jobs_per_s"] = spread([r["throughput"]["jobs_per_s"] for r in mine])
        figures["cpu_ms_per_job"] = spread([r["throughput"]["cpu_ms_per_job"] for r in mine])
        figures["system_ms_per_job"] = spread([r["throughput"]["system_ms_per_job"] for r in mine])
        figures["submitted_s"] = spread([r["throughput"]["submitted_s"] for r in mine])
        out[name] = figures
    return out


def print_table(report: dict[str, Any]) -> None:
    rows = report["table"]
    print("\nmedian of the rounds (min-max); pick-up = the job's own start - the submit call\n")
    print("| side | pick-up p50 ms | p90 ms | max ms | own stamps p50 ms | to end p50 ms |")
    print("|---|---|---|---|---|---|")
    for name, figures in rows.items():
        print(
            f"| {name} | {fmt(figures['to_code_p50_ms'])} | {fmt(figures['to_code_p90_ms'])}"
            f" | {fmt(figures['to_code_max_ms'])} | {fmt(figures['own_stamps_p50_ms'])}"
            f" | {fmt(figures['to_end_p50_ms'])} |"
        )
    batch = report["settings"]["batch"]
    print(f"\n| side | {batch:,} jobs: jobs/s | CPU ms/job | of it kernel | submitted in s |")
    print("|---|---|---|---|---|")
    for name, figures in rows.items():
        print(
            f"| {name} | {fmt(figures['jobs_per_s'])} | {fmt(figures['cpu_ms_per_job'])}"
            f" | {fmt(figures['system_ms_per_job'])} | {fmt(figures['submitted_s'], 2)} |"
        )
    product, rq = rows["product"], rows["rq"]
    p50 = product["to_code_p50_ms"]["median"] / rq["to_code_p50_ms"]["median"]
    rate = product["jobs_per_s"]["median"] / rq["jobs_per_s"]["median"]
    print(f"\npick-up p50: product {p50:.2f}x RQ's (target <= 1)")
    print(f"throughput:  product {rate:.2f}x RQ's (target >= 1)")


if __name__ == "__main__":
    main()
