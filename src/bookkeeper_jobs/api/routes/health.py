"""Liveness and readiness, without authentication (for probes)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from bookkeeper_jobs.api.deps import ServicesDep
from bookkeeper_jobs.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"description": "Not ready to serve jobs yet."}})
def readyz(services: ServicesDep, response: Response) -> Health:
    """The job store answers (in cluster mode: its cache has synced)."""
    if services.store.ready():
        return Health(status="ready")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="not ready")
