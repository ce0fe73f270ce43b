"""The two routes clients poll, answered before FastAPI's routing and dependencies:
``GET /api/jobs/{job_id}`` (200, or 304 for ``If-None-Match``) and
``GET /api/jobs/company/{company_id}`` (200).

A status poll is most of an API's traffic, and FastAPI's per-request machinery (middleware,
route matching, dependency solving, response validation) cost more than the read itself
(``bench/README.md`` has the profile). This middleware answers only what the routes would
answer with 200 or 304, from the same authentication (``auth.authenticate``), the same
tenancy rule and the same ETag comparison; anything else (no token or a bad one, a job
that is missing or not the caller's, a company outside the grant, a limit or cursor the route
would refuse, a query parameter it does not read, a storage error) falls through to the routes,
which stay the reference for every answer and for the OpenAPI document.

Bodies are the routes' own: each job's ``JobView`` JSON is rendered once per version and kept
in a bounded cache keyed by job id, checked against the stored version (its ETag) on every
read, so a stale body is never served. Stores that can read a job's stamp (owner and version)
without parsing it (:class:`~bookkeeper_jobs.api.store.protocol.StampedReads`) get this path;
others are always served by the routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi.security.utils import get_authorization_scheme_param
from pydantic_core import to_json
from starlette.types import ASGIApp, Receive, Scope, Send

from bookkeeper_jobs.api.auth import Principal, authenticate
from bookkeeper_jobs.api.routes.jobs import none_match
from bookkeeper_jobs.api.schemas import JobView
from bookkeeper_jobs.api.store.protocol import JobStamp, StampedReads, has_stamped_reads
from bookkeeper_jobs.errors import (
    AuthenticationError,
    InvalidCursorError,
    StorageError,
    StoredJobError,
)

if TYPE_CHECKING:
    from bookkeeper_jobs.api.deps import Services
    from bookkeeper_jobs.api.store.protocol import JobStore

log = logging.getLogger(__name__)
JOBS = "/api/jobs/"
COMPANY = "/api/jobs/company/"
CACHED_BODIES = 20_000
"""Rendered job bodies kept (about 1 KiB each); the oldest rendered goes first."""
INLINE_RENDERS = 4
"""A listing with more jobs to render than this renders them in a worker thread."""
MAX_LIMIT, MAX_CURSOR = 500, 512
Headers = list[tuple[bytes, bytes]]


class JobBodies:
    """Each job's ``JobView`` JSON by id, with the version it was rendered from."""

    def __init__(self, capacity: int = CACHED_BODIES) -> None:
        self.capacity = capacity
        self._bodies: dict[str, tuple[int, bytes]] = {}

    def get(self, stamp: JobStamp) -> bytes | None:
        cached = self._bodies.get(stamp.id)
        return cached[1] if cached is not None and cached[0] == stamp.version else None

    def remember(self, job_id: str, version: int, body: bytes) -> None:
        self._bodies.pop(job_id, None)
        if len(self._bodies) >= self.capacity:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[job_id] = (version, body)


def render(store: JobStore, job_id: str) -> tuple[int, bytes] | None:
    """The job's version and body as the route answers it; None once it is gone."""
    job = store.get(job_id)
    if job is None:
        return None
    return job.version, JobView.of(job).model_dump_json().encode()


class PollingFastPath:
    def __init__(self, app: ASGIApp, services: Callable[[], Services | None]) -> None:
        self.app = app
        self.services = services
        self.bodies = JobBodies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(JOBS)
            and not scope.get("root_path")
        ):
            try:
                answered = await self.answer(scope, send)
            except (StorageError, StoredJobError, InvalidCursorError):
                answered = False  # the route answers these (503/507, 500, 400)
        if not answered:
            await self.app(scope, receive, send)

    async def answer(self, scope: Scope, send: Send) -> bool:
        services = self.services()
        store = services.store if services is not None else None
        if services is None or not has_stamped_reads(store):
            return False
        headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        principal = caller(headers, services)
        if principal is None:
            return False
        path: str = scope["path"]
        if path.startswith(COMPANY):
            return await self.list_company(scope, send, store, principal, path[len(COMPANY) :])
        job_id = path[len(JOBS) :]
        if not job_id or "/" in job_id or scope["query_string"]:
            return False
        return await self.read_job(send, store, principal, job_id, headers)

    async def read_job(
        self,
        send: Send,
        store: StampedReads,
        principal: Principal,
        job_id: str,
        headers: Sequence[tuple[bytes, bytes]],
    ) -> bool:
        stamp = store.stamp(job_id)
        if stamp is None or not principal.may_access(stamp.tenant_id, stamp.company_id):
            return False
        conditions = [value for name, value in headers if name == b"if-none-match"]
        if len(conditions) > 1:
            return False
        if conditions and none_match(conditions[0].decode("latin-1"), tag_of(stamp)):
            await respond(send, 304, validators(stamp.id, stamp.version), b"")
            return True
        cached = self.bodies.get(stamp)
        version, body = (stamp.version, cached) if cached else self.render(store, job_id)
        if not body:
            return False
        json_headers = [(b"content-length", str(len(body)).encode()), CONTENT_TYPE]
        await respond(send, 200, json_headers + validators(job_id, version), body)
        return True

    async def list_company(
        self, scope: Scope, send: Send, store: StampedReads, principal: Principal, company: str
    ) -> bool:
        query = listing_query(scope["query_string"])
        if query is None or not company or "/" in company:
            return False
        if company not in principal.company_ids:
            return False
        limit, cursor = query
        page = store.list_company_stamps(principal.tenant_id, company, limit=limit, cursor=cursor)
        bodies: dict[str, bytes] = {}
        missing = []
        for stamp in page.stamps:
            body = self.bodies.get(stamp)
            if body is None:
                missing.append(stamp.id)
            else:
                bodies[stamp.id] = body
        if missing:
            rendered = await self.render_many(store, missing)
            if rendered is None:
                return False  # a job went away meanwhile: the route answers
            bodies.update(rendered)
        jobs = b",".join(bodies[stamp.id] for stamp in page.stamps)
        body = b"".join(
            (
                b'{"company_id":',
                to_json(company),
                b',"jobs":[',
                jobs,
                b'],"count":',
                str(len(page.stamps)).encode(),
                b',"next_cursor":',
                to_json(page.next_cursor),
                b"}",
            )
        )
        json_headers = [(b"content-length", str(len(body)).encode()), CONTENT_TYPE]
        await respond(send, 200, json_headers, body)
        return True

    def render(self, store: StampedReads, job_id: str) -> tuple[int, bytes | None]:
        rendered = render(store_of(store), job_id)
        if rendered is None:
            return 0, None
        self.bodies.remember(job_id, *rendered)
        return rendered

    async def render_many(self, store: StampedReads, ids: list[str]) -> dict[str, bytes] | None:
        def render_all() -> list[tuple[int, bytes] | None]:
            return [render(store_of(store), job_id) for job_id in ids]

        results = (
            render_all() if len(ids) <= INLINE_RENDERS else await asyncio.to_thread(render_all)
        )
        bodies = {}
        for job_id, rendered in zip(ids, results, strict=True):
            if rendered is None:
                return None
            self.bodies.remember(job_id, *rendered)
            bodies[job_id] = rendered[1]
        return bodies


CONTENT_TYPE = (b"content-type", b"application/json")


def store_of(store: StampedReads) -> JobStore:
    """The stamped store is a job store too (``answer`` checked it on the app's store)."""
    return store  # type: ignore[return-value]


def tag_of(stamp: JobStamp) -> str:
    return f"{stamp.id}.{stamp.version}"


def validators(job_id: str, version: int) -> Headers:
    """What the route sends with both a 200 and a 304 (``routes/jobs.py``)."""
    return [(b"etag", f'"{job_id}.{version}"'.encode()), (b"cache-control", b"no-cache")]


def caller(headers: Sequence[tuple[bytes, bytes]], services: Services) -> Principal | None:
    """The principal FastAPI's ``HTTPBearer`` + ``get_principal`` would find, or None where
    they would refuse (the route then answers the 401)."""
    authorization = next((value for name, value in headers if name == b"authorization"), None)
    if authorization is None:
        return None
    scheme, credentials = get_authorization_scheme_param(authorization.decode("latin-1"))
    if scheme.lower() != "bearer" or not credentials:
        return None
    try:
        return authenticate(credentials, services.settings)
    except AuthenticationError:
        return None


def listing_query(query_string: bytes) -> tuple[int, str | None] | None:
    """``limit`` and ``cursor`` as the route reads them; None for anything it might read
    otherwise (a repeated or unknown parameter, a limit it would refuse)."""
    params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in params]
    if len(set(names)) != len(names) or not set(names) <= {"limit", "cursor"}:
        return None
    values = dict(params)
    limit_text = values.get("limit", "50")
    if not (limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= 3):
        return None
    limit = int(limit_text)
    cursor = values.get("cursor")
    if not 1 <= limit <= MAX_LIMIT or (cursor is not None and len(cursor) > MAX_CURSOR):
        return None
    return limit, cursor


async def respond(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
