"""Liveness and readiness, without authentication (for probes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from bookkeeper_jobs.api.deps import Services, ServicesDep
from bookkeeper_jobs.api.schemas import Health
from bookkeeper_jobs.api.worker_pool import WorkerPool

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"description": "Not ready; `problems` says why."}})
def readyz(services: ServicesDep, request: Request, response: Response) -> Health:
    """Ready to take and run jobs: the job store can be written (in cluster mode: its cache
    has synced), uploads can be stored, and (embedded) at least one worker lives."""
    problems = unready_reasons(services, request.app.state.workers)
    if not problems:
        return Health(status="ready")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="not ready", problems=problems)


def unready_reasons(services: Services, workers: WorkerPool | None) -> list[str]:
    reasons = [services.store.unready_reason(), services.artifacts.unready_reason()]
    if services.ledger is not None:
        reasons.append(services.ledger.unready_reason())
    if workers is not None and workers.alive() == 0:
        reasons.append("no worker process is running (they are being replaced)")
    return [reason for reason in reasons if reason]
