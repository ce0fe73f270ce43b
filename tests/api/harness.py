"""A live API for the HTTP tests: the real app (routes, job store, worker processes, ledger)
served by uvicorn on a free 127.0.0.1 port in a background thread.

Two API keys are configured: :data:`KEY_A` (tenant ``t1``, companies ``c1`` and ``c2``) and
:data:`KEY_B` (tenant ``t2``, company ``c9``). Tests that need a company of their own mint a
JWT for it with :meth:`LiveServer.client_for`, so they never see one another's jobs or rows.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from fastapi import FastAPI

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Grant, Settings
from tests.support.polling import wait_until

KEY_A = "test-key-a-tenant-t1"
KEY_B = "test-key-b-tenant-t2"
JWT_SECRET = "test-jwt-secret-for-the-api-suite-0123456789"
STARTUP_SECONDS = 30.0
SHUTDOWN_SECONDS = 30.0


def api_settings(data_dir: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "database_url": "",
        "jobs_database_path": None,
        "worker_concurrency": 2,
        "job_timeout": 60.0,
        "api_keys": {
            KEY_A: Grant(tenant_id="t1", company_ids=["c1", "c2"]),
            KEY_B: Grant(tenant_id="t2", company_ids=["c9"]),
        },
        "jwt_secret": JWT_SECRET,
    }
    options.update(overrides)
    return Settings(**options)


def make_jwt(
    tenant_id: str, company_ids: list[str], *, expires_in: float = 600.0, **claims: Any
) -> str:
    payload = {
        "tenant_id": tenant_id,
        "company_ids": company_ids,
        "exp": int(time.time() + expires_in),
        **claims,
    }
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def new_company_id() -> str:
    return f"co-{secrets.token_hex(5)}"


def refuse_server_errors(response: httpx.Response) -> None:
    """Every request of the suite: a 5xx is a bug, whatever the test was looking at."""
    if response.status_code >= 500:
        response.read()
        raise AssertionError(f"{response.request.url} answered {response.status_code}")


@dataclass
class LiveServer:
    settings: Settings
    base_url: str

    def client(self, token: str | None = KEY_A) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=60.0,
            event_hooks={"response": [refuse_server_errors]},
        )

    def client_for(self, tenant_id: str, company_ids: list[str]) -> httpx.Client:
        return self.client(make_jwt(tenant_id, company_ids))

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        """The ledger the workers write to (same SQLite file)."""
        ledger = Ledger.from_settings(self.settings)
        try:
            yield ledger
        finally:
            ledger.dispose()

    def artifact_files(self) -> list[Path]:
        """Stored files (uploads, receipts, exports), not the categorizer's model cache."""
        root = self.settings.artifacts_dir
        if not root.exists():
            return []
        models = root / "models"
        return sorted(p for p in root.rglob("*") if p.is_file() and models not in p.parents)


@contextmanager
def serve(settings: Settings, *, run_workers: bool = True) -> Iterator[LiveServer]:
    """Start the app with its workers; on exit, stop uvicorn so the lifespan stops them."""
    with serve_app(create_app(settings, run_workers=run_workers)) as base_url:
        yield LiveServer(settings=settings, base_url=base_url)


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: server.started or not thread.is_alive(),
            timeout=STARTUP_SECONDS,
            interval=0.02,
            what="the API server to start",
        )
        if not server.started:
            raise RuntimeError("the API server stopped before it started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_SECONDS)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the API server did not stop")
