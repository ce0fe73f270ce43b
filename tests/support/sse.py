"""Following a job with Server-Sent Events: read ``GET /api/jobs/{id}/events`` to the end of
the stream and parse its ``id:``/``event:``/``data:`` lines into events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

STREAM_SECONDS = 60.0
"""How long a job's stream may stay open before the test fails (it must end on its own)."""


@dataclass(frozen=True)
class ServerSentEvent:
    id: str
    name: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventStream:
    """A stream read to its end: the response (for its headers) and its events in order."""

    response: httpx.Response
    events: list[ServerSentEvent]


def read_job_events(
    http: httpx.Client, job_id: str, *, timeout: float = STREAM_SECONDS
) -> EventStream:
    """Every event of the job's stream until the server ends it. The answer must be a 200
    ``text/event-stream``; a stream still open after ``timeout`` seconds, or one that ends
    in the middle of an event, fails the test."""
    events: list[ServerSentEvent] = []
    fields: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        assert response.status_code == 200, response.read()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "the stream did not end"
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            events.append(
                ServerSentEvent(fields["id"], fields["event"], json.loads(fields["data"]))
            )
            fields = {}
    assert not fields, f"a partial event at the end: {fields}"
    return EventStream(response, events)
