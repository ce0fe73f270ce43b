"""Without the tesseract binary the server still serves and runs the other jobs: `/readyz`
stays ready but says OCR is unavailable, and an `ocr` job fails saying how to install it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jobs_http import accepted_job_id

from .conftest import Company
from .harness import KEY_A, LiveServer, api_settings, serve
from .test_receipts import RECEIPT, finished, start_ocr, upload, uploaded_id


@pytest.fixture(scope="module")
def server_without_tesseract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    empty = tmp_path_factory.mktemp("no-programs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(empty))  # the workers started by the server inherit it
        with serve(api_settings(tmp_path_factory.mktemp("api"))) as server:
            yield server


def test_readyz_stays_ready_and_names_ocr_as_unavailable(
    server_without_tesseract: LiveServer,
) -> None:
    with server_without_tesseract.client(token=None) as anonymous:
        response = anonymous.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert len(body["degraded"]) == 1
    assert body["degraded"][0].startswith("OCR is unavailable")
    assert "apt-get install tesseract-ocr" in body["degraded"][0]


def test_an_ocr_job_fails_saying_how_to_install_tesseract(
    server_without_tesseract: LiveServer,
) -> None:
    with server_without_tesseract.client(KEY_A) as http:
        company = Company(id="c1", sibling="c2", tenant_id="t1", http=http)
        receipt_id = uploaded_id(upload(http, company, Path(RECEIPT).read_bytes()))
        job = finished(http, accepted_job_id(start_ocr(http, company, receipt_id)))

    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert "tesseract OCR binary is not installed" in str(job["error"])
    assert "apt-get install tesseract-ocr" in str(job["error"])
