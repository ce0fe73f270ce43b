"""A job as a client sees it over HTTP: its view (``GET /api/jobs/{id}``), the id in a 202
answer, and waiting for a view that satisfies a test (a status, progress, its end).

Every wait here polls with :func:`tests.support.polling.wait_until`; a timeout names the job
and shows the last view it had."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.polling import wait_until

JobView = dict[str, Any]
"""The JSON of ``GET /api/jobs/{id}``."""

TERMINAL = frozenset({"complete", "failed", "cancelled"})
"""The statuses a job never leaves."""


def job_view(http: httpx.Client, job_id: str) -> JobView:
    """The job's view now (the answer must be a 200)."""
    response = http.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    view: JobView = response.json()
    return view


def accepted_job_id(response: httpx.Response) -> str:
    """The job id of a submission's 202 answer, whose body and ``Location`` must be what the
    API promises (``{"job_id": ..., "status": "pending"}`` and the job's URL)."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"job_id": body["job_id"], "status": "pending"}
    assert response.headers["Location"] == f"/api/jobs/{body['job_id']}"
    job_id: str = body["job_id"]
    return job_id


def wait_for_job(
    http: httpx.Client,
    job_id: str,
    accept: Callable[[JobView], bool],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.02,
) -> JobView:
    """The job's first view that ``accept`` accepts, polled every ``interval`` seconds; fails
    after ``timeout`` seconds, saying ``what`` was awaited and the last view seen."""
    last: JobView | None = None

    def accepted() -> JobView | None:
        nonlocal last
        last = job_view(http, job_id)
        return last if accept(last) else None

    try:
        return wait_until(accepted, timeout=timeout, interval=interval, what=f"job {job_id} {what}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the job's last view: {last}") from None


def wait_for_job_status(
    http: httpx.Client, job_id: str, statuses: Collection[str], *, timeout: float = 30.0
) -> JobView:
    """The job's first view whose status is one of ``statuses``."""
    return wait_for_job(
        http,
        job_id,
        lambda view: view["status"] in statuses,
        what=f"to reach {sorted(statuses)}",
        timeout=timeout,
    )


@dataclass
class Followed:
    """A job polled to its end: the last view and every progress value seen on the way."""

    view: JobView
    progress: list[int]


def follow_job(
    http: httpx.Client, job_id: str, *, timeout: float = 60.0, interval: float = 0.05
) -> Followed:
    """Poll the job until its status is terminal, recording its progress at every poll."""
    progress: list[int] = []

    def finished(view: JobView) -> bool:
        progress.append(view["progress"])
        return view["status"] in TERMINAL

    view = wait_for_job(
        http, job_id, finished, what="to finish", timeout=timeout, interval=interval
    )
    return Followed(view, progress)
