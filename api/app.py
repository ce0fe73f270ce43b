"""The FastAPI application of the embedded mode: API + job store + worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bookkeeper_jobs.api.deps import Services
from bookkeeper_jobs.api.routes import health, jobs, start
from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.store.local_lifecycle import older_than
from bookkeeper_jobs.api.workers import WorkerPool
from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.registry import DEFAULT_TASKS, TaskTable

log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 64 * 1024

DESCRIPTION = """Background jobs for the AI bookkeeper: start a job, then follow its
`progress` (0-100) and `message` until it is `complete` or `failed`.

Every route but the health probes needs `Authorization: Bearer <API key or JWT>`.
"""


def create_app(
    settings: Settings, *, task_table: TaskTable = DEFAULT_TASKS, run_workers: bool = True
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        pool = WorkerPool(settings, task_table) if run_workers else None
        if pool is not None:
            await asyncio.to_thread(pool.start)
        sweeper = asyncio.create_task(sweep_forever(services))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if pool is not None:
                await asyncio.to_thread(pool.stop)

    app = FastAPI(
        title="bookkeeper-jobs",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.include_router(start.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    app.add_exception_handler(Exception, internal_error)
    return app


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    artifacts = ArtifactStore(settings.artifacts_dir)
    ledger = Ledger.from_settings(settings)
    try:
        ledger.migrate()
    finally:
        ledger.dispose()
    store = LocalJobStore(settings.jobs_db, delete_artifact=artifacts.delete)
    return Services(settings=settings, store=store, artifacts=artifacts)


async def sweep_forever(services: Services) -> None:
    while True:
        cutoff = older_than(services.settings.job_ttl)
        deleted = await asyncio.to_thread(services.store.sweep, older_than=cutoff)
        if deleted:
            log.info("swept %d finished jobs older than the TTL", deleted)
        await asyncio.sleep(services.settings.sweep_interval)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


class UploadSizeLimit:
    """Refuses a request whose declared Content-Length is over the limit before its body is
    read, so a 50 MB upload costs nothing; chunked bodies are capped while they are saved."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_bytes:
                limit = self.max_bytes - MULTIPART_OVERHEAD
                response = JSONResponse(
                    {"detail": f"file: request body is larger than the {limit} byte limit"},
                    status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
