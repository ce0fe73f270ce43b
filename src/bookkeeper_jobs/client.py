"""A small HTTP client of the jobs API, used by the ``bkjobs`` commands that talk to a
running server (submit, follow, list, cancel, and receipts: upload, show, list).

Every failure reaches the caller as one of two errors whose message reads as one line:
:class:`~bookkeeper_jobs.errors.ApiError` (the API answered an error status) and
:class:`ApiConnectionError` (no usable answer at all: refused, timed out, cut off, bad URL).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bookkeeper_jobs.errors import ApiError, BookkeeperJobsError
from bookkeeper_jobs.settings import ClientSettings

MAX_DETAIL_CHARS = 500
"""An error's detail is cut here: a CLI error is one line, not a web page the server sent."""


class ApiConnectionError(BookkeeperJobsError):
    """The API could not be reached, did not answer in time, or the connection broke."""


class JobsClient:
    def __init__(self, settings: ClientSettings, *, timeout: float = 30.0) -> None:
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self.base_url = with_scheme(settings.url)
        try:
            self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        except httpx.InvalidURL as exc:
            raise ApiConnectionError(f"the API URL {self.base_url!r} is not valid: {exc}") from None

    def close(self) -> None:
        self._http.close()

    def start(self, job_type: str, body: dict[str, Any]) -> str:
        with self._reaching():
            response = self._http.post(f"/api/jobs/{segment(job_type)}", json=body)
        return str(self._check(response)["job_id"])

    def upload(self, path: Path, company_id: str, tenant_id: str) -> str:
        with path.open("rb") as stream, self._reaching():
            response = self._http.post(
                "/api/jobs/upload-and-categorize",
                files={"file": (path.name, stream, "text/csv")},
                data={"company_id": company_id, "tenant_id": tenant_id},
            )
        return str(self._check(response)["job_id"])

    def upload_receipt(self, path: Path, company_id: str, tenant_id: str) -> dict[str, Any]:
        """Store a receipt file; the answer names its ``receipt_id`` (the server judges the
        type by the content, so the file is sent as plain bytes)."""
        with path.open("rb") as stream, self._reaching():
            response = self._http.post(
                "/api/receipts",
                files={"file": (path.name, stream, "application/octet-stream")},
                data={"company_id": company_id, "tenant_id": tenant_id},
            )
        return self._check(response)

    def get_receipt(self, receipt_id: str) -> dict[str, Any]:
        """The receipt with what OCR read and its match."""
        with self._reaching():
            response = self._http.get(f"/api/receipts/{segment(receipt_id)}")
        return self._check(response)

    def list_receipts(
        self, company_id: str, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the company's receipts, newest first; ``next_cursor`` asks for more."""
        return self._page(f"/api/companies/{segment(company_id)}/receipts", limit, cursor)

    def get(self, job_id: str) -> dict[str, Any]:
        with self._reaching():
            response = self._http.get(f"/api/jobs/{segment(job_id)}")
        return self._check(response)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._reaching():
            response = self._http.post(f"/api/jobs/{segment(job_id)}/cancel")
        return self._check(response)

    def list_company(
        self, company_id: str, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the company's jobs, newest first; ``next_cursor`` asks for the next."""
        return self._page(f"/api/jobs/company/{segment(company_id)}", limit, cursor)

    def _page(self, path: str, limit: int, cursor: str | None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        with self._reaching():
            response = self._http.get(path, params=params)
        return self._check(response)

    def follow(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's status at every change (Server-Sent Events) until it ends."""
        with (
            self._reaching(),
            self._http.stream(
                "GET", f"/api/jobs/{segment(job_id)}/events", timeout=None
            ) as response,
        ):
            if response.is_error:
                response.read()
                self._check(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield json.loads(line.removeprefix("data: "))

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turns httpx's transport errors into one ApiConnectionError naming the API."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise ApiConnectionError(
                f"cannot reach the API at {self.base_url}: {reason(exc)}"
            ) from None
        except httpx.TimeoutException as exc:
            raise ApiConnectionError(
                f"the API at {self.base_url} did not answer in time ({reason(exc)})"
            ) from None
        except httpx.TransportError as exc:
            raise ApiConnectionError(
                f"the connection to the API at {self.base_url} failed: {reason(exc)}"
            ) from None

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.is_error:
            raise ApiError(response.status_code, error_detail(response))
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # E.g. --url names some other web server: say so instead of a KeyError later.
            raise ApiConnectionError(
                f"{self.base_url} answered HTTP {response.status_code} without the jobs "
                "API's JSON; is it the bookkeeper-jobs API?"
            )
        return body


def with_scheme(url: str) -> str:
    """``127.0.0.1:8000`` as ``http://127.0.0.1:8000``: the CLI's help shows the address
    without a scheme, and httpx would read ``127.0.0.1`` as one."""
    return url if "://" in url else f"http://{url}"


def segment(value: str) -> str:
    """``value`` as one URL path segment: an id typed with ``/``, ``?``, ``..`` or control
    characters names that (missing) job, never another route or an invalid URL."""
    encoded = quote(value, safe="")
    # "." and ".." stay dot-segments after quoting, and URL normalization would drop them.
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


def error_detail(response: httpx.Response) -> str:
    """The ``detail`` of an error answer as JSON text (the API's errors are JSON)."""
    try:
        body = response.json()
    except ValueError:
        return shortened(json.dumps(response.text)) if response.text else ""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return shortened(json.dumps(detail)) if detail else ""


def shortened(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def reason(exc: httpx.TransportError) -> str:
    """httpx's message, or the error's name when it has none (some timeouts)."""
    return str(exc) or type(exc).__name__
