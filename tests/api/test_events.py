"""Following a job with Server-Sent Events: one ``status`` event per change, ending with the
terminal one, after which the server closes the stream."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .conftest import Company
from .harness import TERMINAL, follow_job

STREAM_SECONDS = 60.0


@dataclass
class Event:
    id: str
    name: str
    data: dict[str, Any]


def read_events(http: httpx.Client, job_id: str) -> tuple[httpx.Response, list[Event]]:
    """Every event until the server ends the stream (a stream that never ends fails)."""
    events: list[Event] = []
    fields: dict[str, str] = {}
    deadline = time.monotonic() + STREAM_SECONDS
    with http.stream("GET", f"/api/jobs/{job_id}/events") as response:
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "the stream did not end"
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            events.append(Event(fields["id"], fields["event"], json.loads(fields["data"])))
            fields = {}
    assert not fields, f"a partial event at the end: {fields}"
    return response, events


def start_upload(company: Company, content: bytes) -> str:
    response = company.http.post(
        "/api/jobs/upload-and-categorize",
        data={"company_id": company.id, "tenant_id": "t1"},
        files={"file": ("statement.csv", content, "text/csv")},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_events_follow_a_job_to_its_end(company: Company, sample_statement: bytes) -> None:
    job_id = start_upload(company, sample_statement)

    response, events = read_events(company.http, job_id)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert len(events) >= 2
    assert {event.name for event in events} == {"status"}
    assert all(event.data["id"] == job_id for event in events)
    versions = [int(event.id) for event in events]
    assert versions == sorted(set(versions))
    progress = [event.data["progress"] for event in events]
    assert progress == sorted(progress)
    assert all(event.data["status"] not in TERMINAL for event in events[:-1])
    last = events[-1].data
    assert last["status"] == "complete"
    assert last["progress"] == 100
    assert last["result"]["imported"] == 300
    assert company.http.get(f"/api/jobs/{job_id}").json() == last


def test_events_of_a_finished_job_are_one_event_then_the_end(company: Company) -> None:
    job_id = company.http.post(
        "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"}
    ).json()["job_id"]
    finished = follow_job(company.http, job_id).view

    _, events = read_events(company.http, job_id)

    assert [event.data for event in events] == [finished]
