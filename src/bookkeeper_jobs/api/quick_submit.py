"""``POST /api/jobs/<type>`` for the JSON job types, answered before FastAPI's routing and
dependencies when the request is an ordinary one; the routes (``routes/start.py``) answer the
rest and stay the reference for every answer and for the OpenAPI document.

The profile of a submission (``bench/README.md``) was mostly FastAPI's per-request machinery
(middleware, dependency solving, body handling), not the job store. This middleware takes a
request only when the route would accept it the same way: a registered JSON job type, no
query string, one ``Content-Type: application/json``, a declared body length under
:data:`MAX_BODY` and under the upload limit, a bearer token that authenticates, at most one
``Idempotency-Key`` of 1 to 255 characters, a body that is a JSON object the type's spec
model validates (``model_validate`` of ``json.loads``, as FastAPI does), a tenant and
company in the caller's grant. Anything else, and a refusal by the store (an
``Idempotency-Key`` conflict, a storage error, in cluster mode any error of the API server's
such as a CEL rule's 422, or none reached), goes to the route with the body replayed, so
every 4xx and 5xx is the route's own. The 202 is the route's: the same body, ``Location`` and
metrics.

It serves every store that offers awaited submissions
(:class:`~bookkeeper_jobs.api.store.protocol.QueuedSubmissions`): the embedded store's group
commit, and in cluster mode the ``KubernetesJobStore``'s create pool (the BookkeepingJob is
created by one of its threads while the event loop serves other requests). :attr:`answered`
counts the 202s it sent (tests check that it, not the route, answered).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookkeeper_jobs.api.polling import JOBS, caller, respond
from bookkeeper_jobs.api.routes.start import fingerprint_of, record_submission
from bookkeeper_jobs.api.schemas import JobStarted
from bookkeeper_jobs.api.store.protocol import queues_submissions
from bookkeeper_jobs.jobs import JobSpecBase, JobTypeInfo, job_types

if TYPE_CHECKING:
    from bookkeeper_jobs.api.deps import Services

MAX_BODY = 64 * 1024
"""Larger bodies (a bulk-approve of thousands of ids) take the route."""
MAX_KEY = 255
Headers = Sequence[tuple[bytes, bytes]]


class QuickSubmit:
    def __init__(
        self, app: ASGIApp, services: Callable[[], Services | None], max_body: int
    ) -> None:
        """``max_body``: the largest body the upload limit lets through (larger ones get
        their 413 from ``UploadSizeLimit``)."""
        self.app = app
        self.services = services
        self.max_body = min(MAX_BODY, max_body)
        # The types that have a JSON route, as the router was built (create_app).
        self.types = {info.name: info for info in job_types() if info.json_route}
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = self.job_type(scope)
        if info is not None:
            body = await self.read_ordinary_body(scope, receive)
            if body is not None:
                if await self.answer(scope, send, info, body):
                    return
                receive = replay(body, receive)
        await self.app(scope, receive, send)

    def job_type(self, scope: Scope) -> JobTypeInfo | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            return None
        path: str = scope["path"]
        if not path.startswith(JOBS) or scope.get("root_path"):
            return None
        return self.types.get(path[len(JOBS) :])

    async def read_ordinary_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body, when the headers are ordinary enough to take the request; None (nothing
        read) otherwise."""
        headers: Headers = scope["headers"]
        lengths = values_of(headers, b"content-length")
        types = values_of(headers, b"content-type")
        if types != [b"application/json"] or values_of(headers, b"transfer-encoding"):
            return None
        if len(lengths) != 1 or not lengths[0].isdigit() or int(lengths[0]) > self.max_body:
            return None
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away: nothing to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def answer(self, scope: Scope, send: Send, info: JobTypeInfo, body: bytes) -> bool:
        services = self.services()
        if services is None or not queues_submissions(services.store):
            return False
        headers: Headers = scope["headers"]
        principal = caller(headers, services)
        keys = values_of(headers, b"idempotency-key")
        if principal is None or len(keys) > 1:
            return False
        key = keys[0].decode("latin-1") if keys else None
        if key is not None and not 1 <= len(key) <= MAX_KEY:
            return False
        spec = parse_spec(info, body)
        if spec is None or not principal.may_access(spec.tenant_id, spec.company_id):
            return False
        began = time.perf_counter()
        try:
            submission = await asyncio.wrap_future(
                services.store.submit_later(spec, key, fingerprint_of(spec))
            )
        except Exception:
            # An Idempotency-Key conflict (409), a storage error (503/507), the API server's
            # refusal or absence: the route answers it, trying the store once more.
            return False
        record_submission(services, spec, submission, began)
        job = submission.job
        started = JobStarted(job_id=job.id, status=job.status.phase).model_dump_json().encode()
        response_headers = [
            (b"content-length", str(len(started)).encode()),
            (b"content-type", b"application/json"),
            (b"location", f"/api/jobs/{job.id}".encode()),
        ]
        await respond(send, 202, response_headers, started)
        self.answered += 1
        return True


def values_of(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def parse_spec(info: JobTypeInfo, body: bytes) -> JobSpecBase | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return info.spec.model_validate(data)
    except ValidationError:
        return None


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the route: the body read already, then the client's own messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
