"""Uploads over the size limit: refused with a 413 whether the body declares its length or
is sent chunked, and nothing is stored or queued."""

from __future__ import annotations

import itertools
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.uploads import UPLOAD_PATH, upload_statement

from .harness import KEY_A, LiveServer, api_settings, new_company_id, serve

MIB = 1024 * 1024
ROW = b"01/02/2024,OFFICE DEPOT #1234 SUPPLIES FOR THE FRONT DESK AND THE BACK OFFICE,-42.50\n"


def statement_of(size: int) -> bytes:
    header = b"Date,Description,Amount\n"
    return header + ROW * ((size - len(header)) // len(ROW) + 1)


def multipart_head(boundary: str, company_id: str) -> bytes:
    """The form fields and the start of the file part, for a hand-streamed upload."""
    return (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="company_id"\r\n\r\n'
        f"{company_id}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="tenant_id"\r\n\r\nt1\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="statement.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A 1 MiB limit. No workers: these tests end at the 413 or the 202, and workers that
    are still importing their tasks at shutdown would add seconds to the suite."""
    settings = api_settings(tmp_path_factory.mktemp("small"), max_upload_bytes=MIB)
    with serve(settings, run_workers=False) as server:
        yield server


@dataclass
class RefusedCompany:
    """A new company on one server, and a client for it: every upload it makes must be
    refused (it has no job at the end)."""

    server: LiveServer
    id: str
    http: httpx.Client

    def job_count(self) -> int:
        listing = self.http.get(f"/api/jobs/company/{self.id}").json()
        count: int = listing["count"]
        return count


def refused_company_on(server: LiveServer) -> Iterator[RefusedCompany]:
    """A new company; afterwards it has no job and no file was stored."""
    before = server.artifact_files()
    company_id = new_company_id()
    with server.client_for("t1", [company_id]) as http:
        company = RefusedCompany(server, company_id, http)
        yield company
        assert company.job_count() == 0
        assert server.artifact_files() == before


@pytest.fixture
def small(small_server: LiveServer) -> Iterator[RefusedCompany]:
    yield from refused_company_on(small_server)


@pytest.fixture
def default(live_server: LiveServer) -> Iterator[RefusedCompany]:
    """A company on the server with the default 20 MiB limit."""
    yield from refused_company_on(live_server)


def test_a_file_over_the_limit_is_a_413(small: RefusedCompany) -> None:
    response = upload_statement(small.http, small.id, statement_of(2 * MIB))

    assert response.status_code == 413
    assert response.json()["detail"].startswith("file: ")
    assert str(MIB) in response.json()["detail"]


def test_a_chunked_file_over_the_limit_is_a_413(small: RefusedCompany) -> None:
    boundary = uuid.uuid4().hex
    head = multipart_head(boundary, small.id)
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = statement_of(2 * MIB)

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]
        yield tail

    response = small.http.post(
        UPLOAD_PATH,
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 413
    assert response.json()["detail"].startswith("file: ")


def test_a_chunked_upload_is_cut_off_soon_after_the_limit(small: RefusedCompany) -> None:
    """Without a declared length the server must stop reading at the limit, not spool a
    64 MiB body to disk before the route can refuse it."""
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        block = ROW * (64 * 1024 // len(ROW))
        while sent < 64 * MIB:
            sent += len(block)
            yield block

    boundary = uuid.uuid4().hex
    head = multipart_head(boundary, small.id) + b"Date,Description,Amount\n"
    response = small.http.post(
        UPLOAD_PATH,
        content=itertools.chain([head], endless(), [f"\r\n--{boundary}--\r\n".encode()]),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 413, (response.text, sent)
    assert sent < 16 * MIB, f"the server read {sent:,} bytes before refusing"


def test_a_file_under_the_limit_is_accepted(small_server: LiveServer) -> None:
    company_id = new_company_id()
    stored = len(small_server.artifact_files())
    with small_server.client_for("t1", [company_id]) as http:
        response = upload_statement(http, company_id, statement_of(MIB - 4096))

    assert response.status_code == 202, response.text
    assert len(small_server.artifact_files()) == stored + 1


def test_a_50_mb_body_is_refused_by_its_declared_length(default: RefusedCompany) -> None:
    response = upload_statement(default.http, default.id, statement_of(50 * 1000 * 1000))

    assert response.status_code == 413
    assert str(20 * MIB) in response.json()["detail"]


def test_the_refusal_comes_before_the_body_is_sent(live_server: LiveServer) -> None:
    host, port = live_server.base_url.removeprefix("http://").split(":")
    request = (
        f"POST {UPLOAD_PATH} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: Bearer {KEY_A}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {50 * 1000 * 1000}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request.encode())  # the headers only: not one byte of the body
        with conn.makefile("rb") as reply:
            status_line = reply.readline()

    assert status_line.startswith(b"HTTP/1.1 413 ")
