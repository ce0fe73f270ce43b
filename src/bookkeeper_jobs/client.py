"""A small HTTP client of the jobs API, used by the ``bkjobs`` commands that talk to a
running server (submit, follow, list, cancel)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bookkeeper_jobs.errors import ApiError
from bookkeeper_jobs.settings import ClientSettings


class JobsClient:
    def __init__(self, settings: ClientSettings, *, timeout: float = 30.0) -> None:
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._http = httpx.Client(base_url=settings.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def start(self, job_type: str, body: dict[str, Any]) -> str:
        return str(self._check(self._http.post(f"/api/jobs/{job_type}", json=body))["job_id"])

    def upload(self, path: Path, company_id: str, tenant_id: str) -> str:
        with path.open("rb") as stream:
            response = self._http.post(
                "/api/jobs/upload-and-categorize",
                files={"file": (path.name, stream, "text/csv")},
                data={"company_id": company_id, "tenant_id": tenant_id},
            )
        return str(self._check(response)["job_id"])

    def get(self, job_id: str) -> dict[str, Any]:
        return self._check(self._http.get(f"/api/jobs/{job_id}"))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._check(self._http.post(f"/api/jobs/{job_id}/cancel"))

    def list_company(self, company_id: str, limit: int) -> dict[str, Any]:
        response = self._http.get(f"/api/jobs/company/{company_id}", params={"limit": limit})
        return self._check(response)

    def follow(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's status at every change (Server-Sent Events) until it ends."""
        with self._http.stream("GET", f"/api/jobs/{job_id}/events", timeout=None) as response:
            if response.is_error:
                response.read()
                self._check(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))

    @staticmethod
    def _check(response: httpx.Response) -> dict[str, Any]:
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, json.dumps(detail) if detail else "")
        body: dict[str, Any] = response.json()
        return body
