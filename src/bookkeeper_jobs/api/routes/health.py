"""Liveness and readiness, without authentication (for probes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from bookkeeper_jobs.api.deps import Services, ServicesDep
from bookkeeper_jobs.api.schemas import Health
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.receipts import INSTALL_HINT, tesseract_available

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"description": "Not ready; `problems` says why."}})
def readyz(services: ServicesDep, request: Request, response: Response) -> Health:
    """Ready to take and run jobs: the job store can be written (in cluster mode: its cache
    has synced), uploads can be stored, the ledger answers, and (embedded) at least one
    worker lives. `degraded` names features that cannot work while the rest does (OCR
    without tesseract): still ready."""
    workers = request.app.state.workers
    problems = unready_reasons(services, workers)
    degraded = degraded_features(workers)
    if not problems:
        return Health(status="ready", degraded=degraded)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="not ready", problems=problems, degraded=degraded)


def unready_reasons(services: Services, workers: WorkerPool | None) -> list[str]:
    reasons = [services.store.unready_reason(), services.artifacts.unready_reason()]
    if services.ledger is not None:
        reasons.append(services.ledger.unready_reason())
    if workers is not None and workers.alive() == 0:
        reasons.append("no worker process is running (they are being replaced)")
    return [reason for reason in reasons if reason]


def degraded_features(workers: WorkerPool | None) -> list[str]:
    """What jobs run here cannot do (embedded mode: the workers are this machine's). A
    cluster's tasks run in the task image, which has tesseract."""
    if workers is not None and not tesseract_available():
        return [f"OCR is unavailable: {INSTALL_HINT}"]
    return []
