"""FastAPI dependencies: the app's services, the calling principal, and the one
"fetch the job or 404" lookup every job route shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bookkeeper_jobs.api.auth import Principal, authenticate
from bookkeeper_jobs.api.ledger_gate import LedgerGate

if TYPE_CHECKING:
    from bookkeeper_jobs.api.metrics import ApiMetrics
from bookkeeper_jobs.api.problems import quoted
from bookkeeper_jobs.api.store.protocol import JobStore
from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.errors import AuthenticationError, StorageError
from bookkeeper_jobs.jobs import Job
from bookkeeper_jobs.settings import Settings


@dataclass
class Services:
    """What the routes use, built once by the app's lifespan."""

    settings: Settings
    store: JobStore
    artifacts: ArtifactStore
    ledger: LedgerGate | None = None
    """The ledger (receipts); None only in tests that run the API over a bare job store."""
    metrics: ApiMetrics | None = None
    """The app's Prometheus metrics (set by the app's lifespan)."""


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ledger(services: ServicesDep) -> LedgerGate:
    if services.ledger is None:
        raise StorageError("this server has no ledger database configured")
    return services.ledger


Ledger = Annotated[LedgerGate, Depends(get_ledger)]
"""The ledger for routes that read or write business data (``with ledger.use() as l``)."""

_bearer = HTTPBearer(auto_error=False, description="An API key or a JWT.")


async def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing Authorization: Bearer <token> header")
    try:
        return authenticate(credentials.credentials, services.settings)
    except AuthenticationError as exc:
        raise _unauthorized(str(exc)) from exc


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_company(principal: Principal, tenant_id: str, company_id: str) -> None:
    """403 unless the caller's grant covers this tenant and company."""
    if tenant_id != principal.tenant_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="tenant_id is not yours")
    if company_id not in principal.company_ids:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"company_id {quoted(company_id)} is not in your grant",
        )


async def get_visible_job(job_id: str, services: ServicesDep, principal: CurrentPrincipal) -> Job:
    """The job, if the caller may see it; otherwise 404, exactly as for a missing one.

    ``async`` on purpose, like the other cheap dependencies: a store read is a memory lookup
    (cluster) or one indexed SQLite row (embedded), cheaper than a hop to the thread pool
    on every poll."""
    job = services.store.get(job_id)
    if job is None or not principal.may_access(job.tenant_id, job.company_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {quoted(job_id)} not found")
    return job


VisibleJob = Annotated[Job, Depends(get_visible_job)]
