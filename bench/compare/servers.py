"""The processes of one side-by-side run: Redis, the seed design's API, the product and the bare
endpoint, each on 127.0.0.1 and a free port, each under the same uvicorn (uvloop, httptools).

Job execution is off while submissions are measured, on both sides: no ``rq worker`` runs, and
the product's submit server is the same app without its worker pool (its own copy of the job
store), so a submission's figure is the API's own cost, not a share of the CPU that workers
running the backlog took.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parents[1]
UVICORN_OPTIONS = ["--loop", "uvloop", "--http", "httptools", "--log-level", "info"]
STARTUP_SECONDS = 120
PRODUCT_WITHOUT_WORKERS = """
import sys
from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.cli import run_until_stopped, uvicorn_server
from bookkeeper_jobs.settings import load_settings

# What `bkjobs serve` runs (cli.run_server), without the worker pool.
settings = load_settings()
app = create_app(settings, run_workers=False)
run_until_stopped(uvicorn_server(app, settings, "127.0.0.1", int(sys.argv[1])))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]


@contextmanager
def running(
    name: str,
    command: list[str],
    env: dict[str, str],
    log: Path,
    port: int,
    probe: str,
    *,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[Server]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH.parent
        )
    server = Server(name, f"http://127.0.0.1:{port}", process)
    try:
        wait_until_up(server, probe, log, startup_seconds)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_up(
    server: Server, probe: str, log: Path, startup_seconds: float = STARTUP_SECONDS
) -> None:
    deadline = time.monotonic() + startup_seconds
    # One client for the whole wait: httpx.get builds a client (and an SSL context) a call,
    # which took a sixth of this process's CPU while cluster mode's API listed 100,000 jobs
    # from the emulator this process serves (py-spy).
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise SystemExit(
                    f"{server.name} exited with {server.process.returncode}; see {log}"
                )
            try:
                if client.get(server.base_url + probe).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"{server.name} did not answer {probe} within {startup_seconds:.0f} s")


@contextmanager
def redis_server(scratch: Path) -> Iterator[str]:
    """A Redis on a free loopback port (Debian's ``redis-server``; no persistence: a seed API
    acknowledges an enqueue before any disk write, as Redis does by default between
    snapshots); yields its URL."""
    port = free_port()
    folder = scratch / "redis"
    folder.mkdir()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    with (folder / "redis.log").open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def uvicorn_command(app: str, port: int, access_log: bool) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), app]
    command += ["--host", "127.0.0.1", "--port", str(port), *UVICORN_OPTIONS]
    return command if access_log else [*command, "--no-access-log"]


def product_env(
    data_dir: Path, api_key: str, companies: list[str], access_log: bool
) -> dict[str, str]:
    grant = {"tenant_id": "t1", "company_ids": companies}
    return {
        **os.environ,
        "BKJOBS_DATA_DIR": str(data_dir),
        "BKJOBS_API_KEYS": json.dumps({api_key: grant}),
        "BKJOBS_ACCESS_LOG": "true" if access_log else "false",
    }


@dataclass(frozen=True)
class Sides:
    seed: Server
    product: Server
    product_submits: Server
    bare: Server


@contextmanager
def all_sides(
    scratch: Path,
    redis_url: str,
    product_data: Path,
    api_key: str,
    companies: list[str],
    *,
    access_log: bool,
) -> Iterator[Sides]:
    """Every server of a run, up at once (runs alternate between them)."""
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)
    submit_data = scratch / "product-submits"
    if not submit_data.exists():
        submit_data.mkdir()
        shutil.copy(product_data / "jobs.db", submit_data / "jobs.db")
    tag = "log" if access_log else "nolog"
    serve = [str(Path(sys.executable).with_name("bkjobs")), "serve", "--host", "127.0.0.1"]
    seed_env = {**os.environ, "SEED_REDIS_URL": redis_url, "SEED_API_KEY": api_key}
    product_settings = product_env(product_data, api_key, companies, access_log)
    submits_settings = product_env(submit_data, api_key, companies, access_log)
    # name, command (given its port), environment
    plans = [
        ("seed", lambda port: uvicorn_command("seed_design.app:app", port, access_log), seed_env),
        ("product", lambda port: [*serve, "--port", str(port)], product_settings),
        (
            "product-submits",
            lambda port: [sys.executable, "-c", PRODUCT_WITHOUT_WORKERS, str(port)],
            submits_settings,
        ),
        ("bare", lambda port: uvicorn_command("compare.bare:app", port, access_log), os.environ),
    ]
    with ExitStack() as stack:
        started = {}
        for name, command, env in plans:
            port = free_port()
            probe = "/readyz" if name.startswith("product") else "/openapi.json"
            started[name] = stack.enter_context(
                running(name, command(port), dict(env), logs / f"{name}-{tag}.log", port, probe)
            )
        yield Sides(
            seed=started["seed"],
            product=started["product"],
            product_submits=started["product-submits"],
            bare=started["bare"],
        )
