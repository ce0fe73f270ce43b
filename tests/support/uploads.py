"""Uploading a bank statement the way a client does: a multipart ``POST`` of the file and the
form fields to ``/api/jobs/upload-and-categorize``.

Tests that send a deliberately malformed form (a field or the file missing, a hand-streamed
body) build that request themselves; everything else uploads with :func:`upload_statement`.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

UPLOAD_PATH = "/api/jobs/upload-and-categorize"
MERCHANTS = ("STARBUCKS STORE", "SHELL OIL", "OFFICE DEPOT #", "UBER *TRIP", "COSTCO WHSE #")


def generated_statement(rows: int, *, year: int) -> bytes:
    """A plain CSV statement of ``rows`` distinct, valid rows dated in ``year`` (like
    ``bench/make_statement.py``, without its bad rows): big ones take seconds to import."""
    lines = ["Date,Description,Amount\n"]
    for index in range(rows):
        month, day = 1 + index % 12, 1 + index % 28
        merchant = MERCHANTS[index % len(MERCHANTS)]
        amount = f"-{1 + index % 500}.{index % 100:02d}"
        lines.append(f"{month:02d}/{day:02d}/{year},{merchant} {index},{amount}\n")
    return "".join(lines).encode()


def upload_statement(
    http: httpx.Client,
    company_id: str,
    content: bytes,
    *,
    filename: str = "statement.csv",
    tenant_id: str = "t1",
    content_type: str = "text/csv",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Upload ``content`` as the file ``filename`` for ``company_id`` of ``tenant_id`` (the
    suites' tenant ``t1`` unless told); the answer, whatever its status."""
    return http.post(
        UPLOAD_PATH,
        data={"company_id": company_id, "tenant_id": tenant_id},
        files={"file": (filename, content, content_type)},
        headers=headers,
    )
