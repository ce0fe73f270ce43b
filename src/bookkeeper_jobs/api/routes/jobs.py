"""Reading, following and cancelling jobs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import FileResponse, StreamingResponse

from bookkeeper_jobs.api.deps import CurrentPrincipal, ServicesDep, VisibleJob, require_company
from bookkeeper_jobs.api.downloads import artifact_response
from bookkeeper_jobs.api.problems import problem
from bookkeeper_jobs.api.schemas import CompanyJobs, JobView
from bookkeeper_jobs.api.store.protocol import JobStore
from bookkeeper_jobs.errors import InvalidCursorError, JobNotFoundError, JobStateError
from bookkeeper_jobs.jobs import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem("No such job, or not one of yours.")}
LISTING_ERRORS: Responses = {
    400: problem("The cursor is not one this listing gave out."),
    403: problem("The company is not in your grant."),
}
ETAG_HEADER = {"ETag": {"description": "The job's version.", "schema": {"type": "string"}}}
ENTITY_TAG = r'(?:W/)?"([^"]*)"'
"""One entity tag, weak (``W/"x"``) or strong (``"x"``); the group is its opaque part."""
ENTITY_TAG_LIST = re.compile(rf"\s*(?:{ENTITY_TAG}\s*)?(?:,\s*(?:{ENTITY_TAG}\s*)?)*")
"""``If-None-Match`` as a list of entity tags (RFC 9110 §5.6.1: empty members allowed)."""


def opaque_tag_of(job: Job) -> str:
    """What identifies this version of the job: its ETag is this, quoted."""
    return f"{job.id}.{job.version}"


def none_match(if_none_match: str, opaque_tag: str) -> bool:
    """Whether ``If-None-Match`` names the current representation (RFC 9110 §13.1.2):
    ``*`` matches any existing job; otherwise the weak comparison, in which ``W/"x"`` and
    ``"x"`` are the same tag, since a client may send back a tag a cache made weak. A header
    that is not a list of entity tags matches nothing (the client gets the full answer)."""
    if if_none_match.strip() == "*":
        return True
    if not ENTITY_TAG_LIST.fullmatch(if_none_match):
        return False
    return opaque_tag in re.findall(ENTITY_TAG, if_none_match)


@router.get("/company/{company_id}", responses=LISTING_ERRORS)
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
        page = services.store.list_company(
            principal.tenant_id, company_id, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"cursor: {exc}") from exc
    jobs = [JobView.of(job) for job in page.jobs]
    return CompanyJobs(
        company_id=company_id, jobs=jobs, count=len(jobs), next_cursor=page.next_cursor
    )


@router.get(
    "/{job_id}",
    response_model=JobView,
    responses={
        **NOT_FOUND,
        200: {"description": "The job.", "headers": ETAG_HEADER},
        304: {
            "description": "Unchanged since the ETag sent as `If-None-Match` (no body).",
            "headers": ETAG_HEADER,
        },
    },
)
async def get_job(
    job: VisibleJob,
    response: Response,
    if_none_match: Annotated[
        str | None,
        Header(description='The last `ETag` (`"…"` or `W/"…"`, a list, or `*`): 304 if unchanged.'),
    ] = None,
) -> JobView | Response:
    """The job's status. Send the last `ETag` as `If-None-Match` to get a cheap 304."""
    opaque_tag = opaque_tag_of(job)
    # A 304 carries the headers the 200 would have (RFC 9110 §15.4.5).
    validators = {"ETag": f'"{opaque_tag}"', "Cache-Control": "no-cache"}
    if if_none_match is not None and none_match(if_none_match, opaque_tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=validators)
    response.headers.update(validators)
    return JobView.of(job)


@router.post(
    "/{job_id}/cancel",
    responses={**NOT_FOUND, 409: problem("The job has already finished.")},
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


@router.get(
    "/{job_id}/error-report",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "Every bad row of the upload: `line,error`, one per row.",
        },
        404: problem("No such job (or not yours), or its upload had no bad rows."),
    },
)
def download_error_report(job: VisibleJob, services: ServicesDep) -> Response:
    """The full list of an upload's bad rows (the job's result lists the first few)."""
    artifact_id = getattr(job.spec, "artifact_id", None)
    missing = HTTPException(status.HTTP_404_NOT_FOUND, detail="this job has no error report")
    if not artifact_id:
        raise missing
    return artifact_response(
        services.artifacts,
        artifact_id,
        report=True,
        media_type="text/csv; charset=utf-8",
        filename=f"{job.id}-errors.csv",
        headers={"X-Content-Type-Options": "nosniff"},
        missing=missing,
    )


async def status_events(store: JobStore, job_id: str) -> AsyncIterator[str]:
    async for job in store.watch(job_id):
        body = JobView.of(job).model_dump_json()
        yield f"id: {job.version}\nevent: status\ndata: {body}\n\n"
