"""What ``make run`` does: ``bkjobs serve --demo`` creates the demo tenant on first start,
prints its key and a ready-to-paste curl, and the printed steps run a job to ``complete``."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
BKJOBS = str(Path(sys.executable).parent / "bkjobs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base_url: str, server: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until ``/readyz`` answers 200; the server exiting on the way fails the test."""

    def ready() -> bool:
        assert server.poll() is None, "the server exited"
        try:
            return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=timeout, interval=0.2, what=f"{base_url} to become ready")


def test_serve_demo_prints_a_key_and_a_curl_that_work(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    command = [BKJOBS, "serve", "--port", str(port), "--data-dir", str(tmp_path / "var"), "--demo"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(base_url, server)
        printed = (tmp_path / "serve.log").read_text()
        assert f"{base_url}/docs" in printed
        key = re.search(r"demo API key: (\S+)", printed)
        assert key is not None, printed
        curl = re.search(r"(curl .*?upload-and-categorize)\n", printed, re.S)
        assert curl is not None, printed
        words = shlex.split(curl.group(1).replace("\\\n", " "))
        upload = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=60)
        job_id = re.search(r'"job_id":"(job-[0-9a-f]+)"', upload.stdout)
        assert job_id is not None, upload.stdout + upload.stderr

        watch = subprocess.run(
            [BKJOBS, "watch", job_id.group(1), "--url", base_url, "--key", key.group(1)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert watch.returncode == 0, watch.stderr
        assert "complete" in watch.stderr
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
        log.close()
