"""Reading, following and cancelling jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse

from bookkeeper_jobs.api.deps import CurrentPrincipal, ServicesDep, VisibleJob, require_company
from bookkeeper_jobs.api.schemas import CompanyJobs, JobView
from bookkeeper_jobs.api.store.protocol import JobStore
from bookkeeper_jobs.errors import InvalidCursorError, JobNotFoundError, JobStateError
from bookkeeper_jobs.jobs import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such job, or not one of yours."}
}


def etag_of(job: Job) -> str:
    return f'"{job.id}.{job.version}"'


@router.get("/company/{company_id}")
def list_company_jobs(
    company_id: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> CompanyJobs:
    """The company's jobs, newest first; follow `next_cursor` for older ones."""
    require_company(principal, principal.tenant_id, company_id)
    try:
        page = services.store.list_company(company_id, limit=limit, cursor=cursor)
    except InvalidCursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"cursor: {exc}") from exc
    jobs = [JobView.of(job) for job in page.jobs if job.tenant_id == principal.tenant_id]
    return CompanyJobs(
        company_id=company_id, jobs=jobs, count=len(jobs), next_cursor=page.next_cursor
    )


@router.get(
    "/{job_id}",
    response_model=JobView,
    responses={**NOT_FOUND, 304: {"description": "Unchanged since the given ETag."}},
)
async def get_job(
    job: VisibleJob,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> JobView | Response:
    """The job's status. Send the last `ETag` as `If-None-Match` to get a cheap 304."""
    etag = etag_of(job)
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return JobView.of(job)


@router.post(
    "/{job_id}/cancel",
    responses={**NOT_FOUND, 409: {"description": "The job has already finished."}},
)
def cancel_job(job: VisibleJob, services: ServicesDep) -> JobView:
    """Cancel a pending job at once, or stop a running one (within about 2 seconds)."""
    try:
        return JobView.of(services.store.cancel(job.id))
    except JobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except JobStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {"text/event-stream": {}},
            "description": "One `status` event (the job as JSON) per change; the stream "
            "closes after the terminal one.",
        },
    },
)
def follow_job(job: VisibleJob, services: ServicesDep) -> StreamingResponse:
    """Server-Sent Events: the job's status now and at every change until it ends."""
    return StreamingResponse(
        status_events(services.store, job.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def status_events(store: JobStore, job_id: str) -> AsyncIterator[str]:
    async for job in store.watch(job_id):
        body = JobView.of(job).model_dump_json()
        yield f"id: {job.version}\nevent: status\ndata: {body}\n\n"
