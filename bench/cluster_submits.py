"""Cluster-mode submissions on a REAL control plane, beside the seed design, in one run (issue
14; prints figures, never part of ``make test``).

    .venv/bin/python bench/cluster_submits.py [--jobs 1000] [--rounds 3] [--seconds 10]
        [--no-emulator] [--no-routes] [--no-audit] [--create-threads 32] [--pprof]

``side_by_side.py`` measures cluster mode over the project's Python emulator, inside the
benchmark's own process; this bench points ``bkjobs serve`` (``BKJOBS_JOB_STORE=kubernetes``)
at the control plane ``tests/cluster`` builds (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler; ``tests/cluster/control_plane.py``, binaries from
``scripts/build-control-plane.sh``), with the admin token, ``crds/bookkeepingjobs.yaml``
applied and its watch cache and store on a namespace of their own holding ``--jobs`` finished
jobs. The API server writes its audit log as the tests configure it (a ``Metadata`` event per
BookkeepingJob request, ``--audit-log-mode=blocking``); ``--no-audit`` starts it
without one. The workload is side_by_side's ``submits``: ``wrk -t2 -c64`` of ``POST
/api/jobs/categorize`` (JSON, 100 companies), each creating one BookkeepingJob; no operator
runs. Sides, all up at once, rounds alternating the order:

- **seed**: the seed design (FastAPI + RQ + a local Redis), as side_by_side starts it;
- **real**: the API on the real control plane, as shipped (the quick submit path);
- **real-routes** (``--no-routes`` leaves it out): the same, but the store's awaited
  submissions hidden from the API, so a submission takes FastAPI's route and a thread of the
  server's pool for its create (cluster mode before the quick path);
- **real-N** (``--create-threads N`` adds it): the API as shipped but for the store's create
  pool, N threads (and N connections) instead of ``CREATE_THREADS``;
- **emulator** (``--no-emulator`` leaves it out): the API over the emulator, as side_by_side's
  cluster side.

Besides req/s and p99, every run records the CPU time (``/proc/<pid>/stat``) of each control
plane component, of the API process, of this process (which hosts the emulator) and of the
whole machine (``/proc/stat``), so the figures
say what share of the 2 shared cores the API server and etcd took, and the CPU each takes per
submission. ``--pprof`` adds one more run of the real side under kube-apiserver's own CPU
profiler (``compare/pprof.py``: ``/debug/pprof/profile``, read with ``go tool pprof``) and
prints which parts of a create's path its samples fell in. Figures go to
``bench/results/cluster-submits-<time>.json``. Needs ``wrk``,
``redis-server``, the ``bench`` extra and the control plane's binaries.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compare import pprof
from compare.cluster import cluster_api, finished
from compare.report import Summary, environment, ratio
from compare.seeding import TENANT, Workload
from compare.servers import Server, free_port, product_env, redis_server, running, uvicorn_command
from compare.wrk import Figures, Request, run_wrk

from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
NAMESPACE = "bench"
WARM_UP_SECONDS = 2
SUBMIT_COMPANIES = [f"new-co-{n:03d}" for n in range(100)]
TICKS = os.sysconf("SC_CLK_TCK")
SERVE_WITHOUT_AWAITED_SUBMITS = """
import sys
from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.store import protocol
from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.cli import run_until_stopped, uvicorn_server
from bookkeeper_jobs.settings import load_settings

# What `bkjobs serve` runs in cluster mode, with KubernetesJobStore's awaited submissions
# hidden (it offers stamped reads, not QueuedSubmissions): a submission takes FastAPI's
# route and a thread of the server's pool, as before the quick submit path served cluster mode.
protocol._OFFERS[KubernetesJobStore] = (True, False)
settings = load_settings()
app = create_app(settings, run_workers=False)
run_until_stopped(uvicorn_server(app, settings, "127.0.0.1", int(sys.argv[1])))
"""
SERVE_WITH_CREATE_THREADS = """
import sys
from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.store import kubernetes
from bookkeeper_jobs.cli import run_until_stopped, uvicorn_server
from bookkeeper_jobs.settings import load_settings

# What `bkjobs serve` runs in cluster mode, with another size of the store's create pool.
kubernetes.CREATE_THREADS = int(sys.argv[2])
settings = load_settings()
app = create_app(settings, run_workers=False)
run_until_stopped(uvicorn_server(app, settings, "127.0.0.1", int(sys.argv[1])))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


@dataclasses.dataclass(frozen=True)
class Run:
    side: str
    round: int
    figures: Figures
    wall_seconds: float
    load_before: float
    load_after: float
    cpu: dict[str, float]
    """CPU seconds during the run: each control plane component, "api" (the side's server
    process), "machine" (all processes, both cores)."""

    def share(self, name: str) -> float:
        """Of the machine's capacity (both cores) during the run."""
        return self.cpu.get(name, 0.0) / (self.wall_seconds * (os.cpu_count() or 1))

    def per_request_ms(self, name: str) -> float:
        return 1000 * self.cpu.get(name, 0.0) / max(1, self.figures.requests)


@contextmanager
def real_control_plane(
    folder: Path, jobs: int, *, audit: bool, profiling: bool = False
) -> Iterator[Any]:
    """The control plane of tests/cluster, the CRD applied and Established, the bench's
    namespace with ``jobs`` finished jobs in it (``profiling``: kube-apiserver serves
    ``/debug/pprof``, which the tests turn off)."""
    sys.path.insert(0, str(ROOT))
    from kubernetes import client

    from tests.cluster.control_plane import ControlPlane, build_binaries
    from tests.cluster.session import apply_bookkeepingjobs_crd

    class AsAsked(ControlPlane):
        def _apiserver_args(self, port: int, audit_log: Path) -> list[str]:
            args = super()._apiserver_args(port, audit_log)
            if not audit:
                args = [arg for arg in args if not arg.startswith("--audit-")]
            if profiling:
                args = [arg.replace("--profiling=false", "--profiling=true") for arg in args]
            return args

    began = time.monotonic()
    plane = AsAsked(build_binaries())
    with plane:
        configuration = client.Configuration()
        configuration.host = plane.url
        configuration.ssl_ca_cert = str(plane.ca_path)
        configuration.api_key = {"authorization": f"Bearer {plane.admin_token}"}
        with client.ApiClient(configuration) as admin:
            apply_bookkeepingjobs_crd(admin)
            client.CoreV1Api(admin).create_namespace({"metadata": {"name": NAMESPACE}})
            api = client.CustomObjectsApi(admin)
            for index in range(jobs):
                company = f"co-{index % 100:03d}"
                job_id = new_job_id()
                spec = CategorizeSpec(company_id=company, tenant_id=TENANT)
                body = spec_to_resource(spec, job_id=job_id, namespace=NAMESPACE)
                api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
                api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, NAMESPACE, PLURAL, job_id, {"status": finished(company, TENANT)}
                )
        print(
            f"real control plane up, CRD applied, {jobs:,} finished jobs in namespace"
            f" {NAMESPACE!r} in {time.monotonic() - began:.0f} s ({plane.url})",
            flush=True,
        )
        yield plane


def component_pids(plane: Any) -> dict[str, int]:
    return {c.name: c.process.pid for c in plane._components}


def api_on(
    stack: ExitStack,
    name: str,
    folder: Path,
    kubeconfig: Path,
    api_key: str,
    *,
    quick: bool,
    create_threads: int | None = None,
) -> Server:
    companies = [f"co-{n:03d}" for n in range(100)] + SUBMIT_COMPANIES
    env = {
        **product_env(folder / name, api_key, companies, access_log=False),
        "BKJOBS_JOB_STORE": "kubernetes",
        "BKJOBS_KUBERNETES_NAMESPACE": NAMESPACE,
        "KUBECONFIG": str(kubeconfig),
    }
    port = free_port()
    if create_threads is not None:
        command = [sys.executable, "-c", SERVE_WITH_CREATE_THREADS, str(port), str(create_threads)]
    elif quick:
        command = [str(Path(sys.executable).with_name("bkjobs")), "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
    else:
        command = [sys.executable, "-c", SERVE_WITHOUT_AWAITED_SUBMITS, str(port)]
    log = folder / f"{name}.log"
    return stack.enter_context(running(name, command, env, log, port, "/readyz"))


def submits(api_key: str) -> list[Request]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    return [
        Request(
            "POST",
            "/api/jobs/categorize",
            headers,
            json.dumps({"company_id": company, "tenant_id": TENANT}),
        )
        for company in SUBMIT_COMPANIES
    ]


def measure_one(
    args: argparse.Namespace,
    side: str,
    server: Server,
    requests: list[Request],
    scratch: Path,
    pids: dict[str, int],
    round_number: int,
    seconds: int,
) -> Run:
    watched = {**pids, "api": server.process.pid}
    load_before = os.getloadavg()[0]
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    busy_before, _ = machine_jiffies()
    began = time.monotonic()
    figures = run_wrk(
        server.base_url,
        requests,
        scratch / "workload.lua",
        threads=args.threads,
        connections=args.connections,
        seconds=seconds,
    )
    wall = time.monotonic() - began
    busy_after, _ = machine_jiffies()
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    cpu["machine"] = (busy_after - busy_before) / TICKS
    return Run(side, round_number, figures, wall, load_before, os.getloadavg()[0], cpu)


def summarise(runs: list[Run], components: list[str]) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    seed = Summary.of([r.figures for r in runs if r.side == "seed"])
    for side in dict.fromkeys(r.side for r in runs):
        mine = [r for r in runs if r.side == side]
        summary = Summary.of([r.figures for r in mine])
        names = ["api", "machine"]
        names += components if side.startswith("real") else []
        names += ["bench process"] if side == "emulator" else []
        shares = {n: median([r.share(n) for r in mine]) for n in names}
        per_request = {n: median([r.per_request_ms(n) for r in mine]) for n in names}
        found[side] = {
            "summary": dataclasses.asdict(summary),
            "vs_seed": ratio(summary.rate, seed.rate),
            "p99_vs_seed": ratio(summary.p99, seed.p99),
            "cpu_share_of_machine": shares,
            "cpu_ms_per_request": per_request,
        }
        print(f"  {side:12} {summary.cells()}  {ratio(summary.rate, seed.rate):5.2f}x seed")
        print(
            "  " * 7
            + "CPU, share of the 2 cores (ms per request): "
            + ", ".join(f"{n} {shares[n]:.0%} ({per_request[n]:.2f})" for n in names)
        )
    return found


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def ceiling(summary: dict[str, dict[str, object]], seed_rate: float) -> dict[str, float]:
    """What the real side could reach on this machine if it had both cores to itself: the
    CPU a submission costs the API, kube-apiserver and etcd (the control plane's other
    components too), against 2 cores' seconds."""
    per: dict[str, float] = summary["real"]["cpu_ms_per_request"]  # type: ignore[assignment]
    server_side = sum(v for k, v in per.items() if k != "machine")
    cores = os.cpu_count() or 1
    return {
        "cpu_ms_per_submission_api_and_control_plane": server_side,
        "cpu_ms_per_submission_whole_machine": per["machine"],
        "max_rate_api_and_control_plane_alone": 1000 * cores / server_side,
        "max_rate_with_the_load_generator_as_measured": 1000 * cores / per["machine"],
        "wanted_rate_1_5x_seed": 1.5 * seed_rate,
    }


def profile_apiserver(
    args: argparse.Namespace,
    plane: Any,
    server: Server,
    requests: list[Request],
    scratch: Path,
    out: Path,
) -> dict[str, object]:
    """One more run of ``server`` (the API on the real control plane) while kube-apiserver
    profiles itself; prints and returns where its CPU went."""
    seconds = max(4, args.seconds - 2)
    with ThreadPoolExecutor(1) as pool:
        captured = pool.submit(pprof.capture, plane.url, plane.admin_token, plane.ca_path,
                               seconds, out)  # fmt: skip
        time.sleep(0.5)
        run = measure_one(args, "real", server, requests, scratch, component_pids(plane), 0,
                          args.seconds)  # fmt: skip
        captured.result()
    rows = pprof.top_cumulative(out)
    shares = pprof.parts(rows)
    print(f"\nkube-apiserver under its profiler: {run.figures.rate:,.0f} req/s, {seconds} s of"
          f" samples ({out.name}); largest cumulative share of its samples by part:")  # fmt: skip
    for part, share in shares.items():
        print(f"  {share:5.1f}%  {part}")
    return {"file": out.name, "rate": run.figures.rate, "parts": shares, "top": rows[:60]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="finished jobs already stored")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-emulator", dest="emulator", action="store_false")
    parser.add_argument("--no-routes", dest="routes", action="store_false")
    parser.add_argument("--create-threads", type=int, help="add a side with this create pool")
    parser.add_argument(
        "--no-audit", dest="audit", action="store_false", help="kube-apiserver without audit log"
    )
    parser.add_argument(
        "--pprof",
        action="store_true",
        help="then one more run of the real side under kube-apiserver's CPU profiler",
    )
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH: apt-get install -y wrk redis-server")
    started = datetime.now(UTC)
    load = [os.getloadavg()]
    print(f"{started:%H:%M:%S} UTC, load average {load[0]}", flush=True)
    api_key = f"bench-{secrets.token_hex(16)}"
    requests = submits(api_key)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bkjobs-cluster-submits-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        redis_url = stack.enter_context(redis_server(scratch))
        seed_env = {**os.environ, "SEED_REDIS_URL": redis_url, "SEED_API_KEY": api_key}
        port = free_port()
        sides: dict[str, Server] = {
            "seed": stack.enter_context(
                running(
                    "seed",
                    uvicorn_command("seed_design.app:app", port, False),
                    seed_env,
                    scratch / "seed.log",
                    port,
                    "/openapi.json",
                )
            )
        }
        plane = stack.enter_context(
            real_control_plane(scratch, args.jobs, audit=args.audit, profiling=args.pprof)
        )
        kubeconfig = plane.kubeconfig
        sides["real"] = api_on(stack, "real", scratch, kubeconfig, api_key, quick=True)
        if args.routes:
            sides["real-routes"] = api_on(
                stack, "real-routes", scratch, kubeconfig, api_key, quick=False
            )
        if args.create_threads:
            name = f"real-{args.create_threads}"
            sides[name] = api_on(
                stack,
                name,
                scratch,
                kubeconfig,
                api_key,
                quick=True,
                create_threads=args.create_threads,
            )
        if args.emulator:
            companies = [f"co-{n:03d}" for n in range(100)] + SUBMIT_COMPANIES
            emulated, _ = stack.enter_context(
                cluster_api(
                    scratch, Workload.of(args.jobs), TENANT, api_key, companies, access_log=False
                )
            )
            sides["emulator"] = emulated
        pids = component_pids(plane)
        bench_process = {"bench process": os.getpid()}
        load.append(os.getloadavg())
        print(f"all sides up; load average {load[-1]}", flush=True)
        for side, server in sides.items():
            watched = {**pids, **bench_process}
            measure_one(args, side, server, requests, scratch, watched, 0, WARM_UP_SECONDS)
        for round_number in range(1, args.rounds + 1):
            order = list(sides.items())
            if round_number % 2 == 0:
                order.reverse()
            for side, server in order:
                watched = {**pids, **bench_process}
                run = measure_one(
                    args, side, server, requests, scratch, watched, round_number, args.seconds
                )
                runs.append(run)
                print(
                    f"  round {round_number} {side:12} {run.figures.rate:8,.0f} req/s"
                    f"  p99 {run.figures.p99_ms:7.1f} ms  failed {run.figures.failures}"
                    f"  load {run.load_before:.2f}->{run.load_after:.2f}"
                    f"  CPU api {run.share('api'):.0%} apiserver {run.share('kube-apiserver'):.0%}"
                    f" etcd {run.share('etcd'):.0%} machine {run.share('machine'):.0%}",
                    flush=True,
                )
        load.append(os.getloadavg())
        print(f"\nsubmits, medians of {args.rounds} runs (min-max); load average {load}")
        summary = summarise(runs, list(pids))
        seed_rate = float(summary["seed"]["summary"]["rate"])  # type: ignore[index]
        limits = ceiling(summary, seed_rate)
        print("  " + ", ".join(f"{k} {v:,.1f}" for k, v in limits.items()))
        RESULTS.mkdir(exist_ok=True)
        profile = None
        if args.pprof:
            pprof_out = RESULTS / f"cluster-submits-{started:%Y%m%dT%H%M%SZ}-apiserver.pprof"
            profile = profile_apiserver(args, plane, sides["real"], requests, scratch, pprof_out)
    load.append(os.getloadavg())
    out = RESULTS / f"cluster-submits-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "command": sys.argv,
                "settings": vars(args),
                "environment": environment(),
                "load_averages": load,
                "runs": [{**dataclasses.asdict(r), "rate": r.figures.rate} for r in runs],
                "summary": summary,
                "ceiling": limits,
                "apiserver_profile": profile,
            },
            indent=2,
        )
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
