"""A real S3-compatible server for the tests: MinIO, built from its Go module by
``scripts/build-minio.sh`` (no binary is downloaded), started on 127.0.0.1 with a temporary
directory, its own credentials and a built-in KMS key (so SSE-S3 and SSE-KMS work).

If MinIO cannot be had (no Go toolchain, a failed build) the tests that need it are
skipped with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-minio.sh"
BUILD_TIMEOUT = 30 * 60
START_SECONDS = 60.0
KMS_KEY_ID = "bkjobs-test-key"
REGION = "us-east-1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under ``CI=true`` (no skip under CI for a missing program)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"MinIO (scripts/build-minio.sh) is required under CI=true: {reason}")
    pytest.skip(f"no MinIO: {reason}")


def build_minio() -> Path:
    """The MinIO binary: the last line ``build-minio.sh`` prints (milliseconds when built)."""
    try:
        done = subprocess.run(
            [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{BUILD_SCRIPT.name} could not run: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{BUILD_SCRIPT.name} exited {done.returncode}:\n{tail}")
    binary = Path(lines[-1])
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{binary} is not an executable")
    return binary


@dataclass(frozen=True)
class Minio:
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        bucket = f"bkjobs-{secrets.token_hex(6)}"
        client = self.client()
        client.create_bucket(Bucket=bucket)
        client.close()
        return bucket

    @property
    def credentials(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_minio(data_dir: Path) -> Iterator[Minio]:
    try:
        binary = build_minio()
    except RuntimeError as exc:
        unavailable(str(exc))
        raise
    port, console = _free_port(), _free_port()
    user, password = "bkjobs-test", secrets.token_hex(16)
    kms_key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "MINIO_ROOT_USER": user,
        "MINIO_ROOT_PASSWORD": password,
        "MINIO_KMS_SECRET_KEY": f"{KMS_KEY_ID}:{kms_key}",  # built-in KMS: SSE-S3 and SSE-KMS
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    log = (data_dir / "minio.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "server",
            str(data_dir / "data"),
            "--address",
            f"127.0.0.1:{port}",
            "--console-address",
            f"127.0.0.1:{console}",
            "--quiet",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                output = (data_dir / "minio.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"minio exited {process.returncode}: {output}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{endpoint}/minio/health/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"minio was not ready after {START_SECONDS:g} s")
            time.sleep(0.1)
        yield Minio(endpoint, user, password)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
