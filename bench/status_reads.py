"""Load-tests job status reads (``GET /api/jobs/<id>``) on one embedded-mode server with wrk.

    .venv/bin/python bench/status_reads.py [--duration 15] [--connections 64] [--threads 2]

Starts what ``bkjobs serve`` starts (uvicorn, one process, log level info, the app of
``create_app`` with its worker processes) on 127.0.0.1 and a free port, with a static API
key and a data directory in a temporary directory; submits one categorize job for company
``c1`` (it fails at once, as ``c1`` has no ledger row: only the status read matters here);
waits until the job is finished, so its ETag is stable; then runs wrk twice, a plain read
(200 with the JSON) and one with ``If-None-Match`` (the 304 path), and prints wrk's output.

Needs ``wrk`` on PATH (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SERVER = """
import sys
import uvicorn
from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.settings import load_settings

access_log = sys.argv[2] == "on"
uvicorn.run(
    create_app(load_settings()),
    host="127.0.0.1",
    port=int(sys.argv[1]),
    log_level="info",
    access_log=access_log,
)
"""
TENANT, COMPANY = "t1", "c1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    data_dir: Path, api_key: str, port: int, *, access_log: bool
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BKJOBS_DATA_DIR": str(data_dir),
        "BKJOBS_API_KEYS": json.dumps({api_key: {"tenant_id": TENANT, "company_ids": [COMPANY]}}),
        "BKJOBS_WORKER_CONCURRENCY": "1",
    }
    log = (data_dir / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), "on" if access_log else "off"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready within 60 s")


def submit_and_wait(client: httpx.Client) -> tuple[str, str]:
    """The finished job's id and ETag."""
    started = client.post("/api/jobs/categorize", json={"company_id": COMPANY, "tenant_id": TENANT})
    started.raise_for_status()
    job_id: str = started.json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        job = response.json()
        if job["status"] in ("complete", "failed", "cancelled"):
            print(f"job {job_id}: {job['status']} ({job.get('error') or job.get('message')})")
            return job_id, response.headers["ETag"]
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} did not finish within 60 s")


def run_wrk(args: argparse.Namespace, url: str, headers: list[str]) -> None:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    for header in headers:
        command += ["-H", header]
    command += ["--latency", url]
    shown = " ".join(
        c if not c.startswith("Authorization") else "'Authorization: Bearer …'" for c in command
    )
    print(f"\n$ {shown}", flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-access-log", action="store_true", help="turn uvicorn's access log off"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH: apt-get install -y wrk")
    api_key = f"benchkey-{secrets.token_hex(16)}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bkjobs-reads-") as scratch:
        server = start_server(Path(scratch), api_key, port, access_log=not args.no_access_log)
        try:
            auth = {"Authorization": f"Bearer {api_key}"}
            with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
                wait_until_up(client, server)
                job_id, etag = submit_and_wait(client)
            url = f"{base}/api/jobs/{job_id}"
            bearer = f"Authorization: Bearer {api_key}"
            run_wrk(args, url, [bearer])
            run_wrk(args, url, [bearer, f"If-None-Match: {etag}"])
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
