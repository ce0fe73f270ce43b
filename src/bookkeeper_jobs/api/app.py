"""The FastAPI application: the API over a job store, with the embedded mode's worker
processes (``BKJOBS_JOB_STORE=local``) or over BookkeepingJob resources (``kubernetes``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from kubernetes import client
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookkeeper_jobs.api.cluster import cluster_services
from bookkeeper_jobs.api.dashboard import install_dashboard
from bookkeeper_jobs.api.deps import Services
from bookkeeper_jobs.api.docs import install_offline_docs
from bookkeeper_jobs.api.ledger_gate import LedgerGate
from bookkeeper_jobs.api.metrics import ApiMetrics, ResponseCounter, metrics_router
from bookkeeper_jobs.api.openapi import typed_openapi
from bookkeeper_jobs.api.polling import PollingFastPath
from bookkeeper_jobs.api.problems import install_problem_handlers
from bookkeeper_jobs.api.quick_submit import QuickSubmit
from bookkeeper_jobs.api.routes import (
    health,
    jobs,
    quickbooks,
    receipts,
    start,
    transactions,
)
from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.sweep import sweep_finished
from bookkeeper_jobs.api.wakeup import WakeSender
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.artifacts import ArtifactStore, artifact_store
from bookkeeper_jobs.errors import StorageError
from bookkeeper_jobs.jobs import load_job_type_modules
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.registry import TaskTable, task_table_for

log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 64 * 1024

DESCRIPTION = """Background jobs for the AI bookkeeper: start a job, then follow its
`progress` (0-100) and `message` until it is `complete` or `failed`.

Every route but the health probes needs `Authorization: Bearer <API key or JWT>`.
"""


def create_app(
    settings: Settings,
    *,
    task_table: TaskTable | None = None,
    run_workers: bool = True,
    api_client: client.ApiClient | None = None,
) -> FastAPI:
    """The app. In cluster mode it talks to the API server through ``api_client`` (the
    caller keeps and closes it) or, without one, in-cluster credentials or ``KUBECONFIG``."""
    load_job_type_modules(settings.job_type_modules)
    table = task_table if task_table is not None else task_table_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.job_store == "kubernetes":
            services, stop_services = cluster_services(settings, api_client)
        else:
            services = build_services(settings)
            stop_services = services.ledger.close if services.ledger else lambda: None
        services.metrics = metrics
        app.state.services = services
        embedded = run_workers and settings.job_store == "local"
        pool = WorkerPool(settings, table) if embedded else None
        app.state.workers = pool
        if pool is not None:
            await asyncio.to_thread(pool.start)
        # In a cluster the operator sweeps old resources; here the API process does.
        local = services.store if isinstance(services.store, LocalJobStore) else None
        sweeper = (
            asyncio.create_task(sweep_forever(local, services.artifacts, settings))
            if local
            else None
        )
        migrator = (
            asyncio.create_task(services.ledger.migrate_until_done())
            if services.ledger and not services.ledger.migrated
            else None
        )
        try:
            yield
        finally:
            for task in (sweeper, migrator):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if pool is not None:
                await asyncio.to_thread(pool.stop)
            await asyncio.to_thread(stop_services)

    app = FastAPI(
        title="bookkeeper-jobs",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_offline_docs, without a CDN
        redoc_url=None,
    )
    app.openapi = typed_openapi(app)  # type: ignore[method-assign]
    metrics = ApiMetrics()
    metrics.watch(
        lambda: getattr(getattr(app.state, "services", None), "store", None),
        lambda: getattr(app.state, "workers", None),
    )
    app.include_router(metrics_router(metrics))
    app.include_router(start.build_router())
    app.include_router(jobs.router)
    app.include_router(receipts.router)
    app.include_router(quickbooks.router)
    app.include_router(transactions.router)
    app.include_router(health.router)
    install_offline_docs(app)
    install_dashboard(app)
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)

    # Status polls and ordinary JSON submissions skip what FastAPI does per request (the
    # routes answer everything else); every response is counted.
    def current_services() -> Services | None:
        return getattr(app.state, "services", None)

    app.add_middleware(PollingFastPath, services=current_services)
    max_body = settings.max_upload_bytes + MULTIPART_OVERHEAD
    app.add_middleware(QuickSubmit, services=current_services, max_body=max_body)
    app.add_middleware(ResponseCounter, counts=metrics.responses)
    app.add_exception_handler(StorageError, storage_unavailable)
    app.add_exception_handler(Exception, internal_error)
    install_problem_handlers(app)
    return app


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    artifacts = artifact_store(settings)
    ledger = LedgerGate(settings)
    if settings.migrate_on_start:
        ledger.try_migrate()  # a database that is down is tried again in the background
    wake = WakeSender(settings.jobs_db, settings.worker_concurrency)
    store = LocalJobStore(
        settings.jobs_db, delete_artifact=artifacts.delete, on_submitted=wake.wake
    )
    return Services(settings=settings, store=store, artifacts=artifacts, ledger=ledger)


async def sweep_forever(store: LocalJobStore, artifacts: ArtifactStore, settings: Settings) -> None:
    while True:
        try:
            await asyncio.to_thread(sweep_finished, store, artifacts, settings.job_ttl)
        except StorageError as exc:
            log.warning("TTL sweep failed (%s); trying again later", exc)
        await asyncio.sleep(settings.sweep_interval)


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The disk or database failed: say so (507 when out of space, else 503), never a bare
    500; the request can be retried once the store is back (``/readyz`` says when)."""
    full = isinstance(exc, StorageError) and exc.full
    log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=507 if full else 503,
        content={"detail": f"storage unavailable: {exc}"},
        headers={"Retry-After": "5"},
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


class UploadSizeLimit:
    """Refuses a request whose declared Content-Length is over the limit before its body is
    read, so a 50 MB upload costs nothing; a chunked body (no declared length) is cut off
    as soon as more than the limit has arrived, before the form parser spools it to disk."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"0")
        # The field to name: an upload's file, or a JSON route's whole body.
        field = "file" if headers.get(b"content-type", b"").startswith(b"multipart/") else "body"
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse(
                {"detail": self._detail(field)},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, self._capped(receive, field), send)

    def _detail(self, field: str) -> str:
        limit = self.max_bytes - MULTIPART_OVERHEAD
        return f"{field}: request body is larger than the {limit} byte limit"

    def _capped(self, receive: Receive, field: str) -> Receive:
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException from reading the body as it is.
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE,
                        detail=self._detail(field),
                        headers={"Connection": "close"},
                    )
            return message

        return capped_receive
