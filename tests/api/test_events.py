"""Following a job with Server-Sent Events: one ``status`` event per change, ending with the
terminal one, after which the server closes the stream."""

from __future__ import annotations

from tests.support.jobs_http import TERMINAL, accepted_job_id, follow_job
from tests.support.sse import read_job_events
from tests.support.uploads import upload_statement

from .conftest import Company


def test_events_follow_a_job_to_its_end(company: Company, sample_statement: bytes) -> None:
    job_id = accepted_job_id(upload_statement(company.http, company.id, sample_statement))

    stream = read_job_events(company.http, job_id)

    events = stream.events
    assert stream.response.status_code == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert stream.response.headers["Cache-Control"] == "no-cache"
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

    events = read_job_events(company.http, job_id).events

    assert [event.data for event in events] == [finished]
