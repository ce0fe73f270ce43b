"""End to end with the S3 artifact store: the API in embedded mode with
``BKJOBS_ARTIFACTS_BACKEND=s3`` against a real MinIO (``tests/support/minio.py``): a
statement and a receipt uploaded, their jobs run to completion by the worker processes,
the receipt file and the error report downloaded, and nothing kept on the local disk."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.artifacts.s3 import S3ArtifactStore
from tests.support.jobs_http import wait_for_job
from tests.support.minio import Minio, running_minio

from .harness import LiveServer, api_settings, new_company_id, serve_app

RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"
PREFIX = "e2e/"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minio]:
    with running_minio(tmp_path_factory.mktemp("minio")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_env(minio: Minio) -> Iterator[None]:
    """boto3's default chain reads the credentials, as in a pod given them by a Secret; the
    worker processes inherit them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", minio.access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", minio.secret_key)
        yield


@contextlib.contextmanager
def s3_server(minio: Minio, data_dir: Path, **overrides: Any) -> Iterator[tuple[str, LiveServer]]:
    """The API and its workers with the S3 backend on a new bucket; the bucket's name."""
    bucket = minio.new_bucket()
    settings = api_settings(
        data_dir,
        artifacts_backend="s3",
        s3_bucket=bucket,
        s3_prefix=PREFIX,
        s3_endpoint_url=minio.endpoint_url,
        s3_region="us-east-1",
        s3_sse="AES256",
        **overrides,
    )
    app = create_app(settings)
    try:
        with serve_app(app) as base_url:
            yield bucket, LiveServer(settings=settings, base_url=base_url)
    finally:  # the API's store runs in this process: close its connections
        services = getattr(app.state, "services", None)
        if isinstance(getattr(services, "artifacts", None), S3ArtifactStore):
            services.artifacts.close()


def started(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    return wait_for_job(
        http,
        job_id,
        lambda view: view["status"] in {"complete", "failed", "cancelled"},
        what="the job to finish",
        timeout=90.0,
    )


def test_statements_receipts_and_reports_live_in_the_bucket(
    minio: Minio, s3_env: None, tmp_path: Path
) -> None:
    with s3_server(minio, tmp_path) as (bucket, live), contextlib.ExitStack() as stack:
        company = new_company_id()
        http = stack.enter_context(live.client_for("t1", [company]))
        assert http.get("/readyz").status_code == 200

        statement = (
            b"Date,Description,Amount\n"
            b"01/05/2024,STARBUCKS STORE 1,-4.50\n"
            b"not-a-date,BROKEN ROW,-1.00\n"
            b"01/06/2024,SHELL OIL 2,-40.00\n"
        )
        upload = http.post(
            "/api/jobs/upload-and-categorize",
            data={"company_id": company, "tenant_id": "t1"},
            files={"file": ("statement.csv", statement, "text/csv")},
        )
        statement_job = finished(http, started(upload))
        assert statement_job["status"] == "complete", statement_job["error"]
        result = statement_job["result"]
        assert (result["imported"], result["row_errors"]) == (2, 1)

        report = http.get(result["error_report"])
        assert report.status_code == 200, report.text
        assert report.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(report.text)))
        assert rows[0] == ["line", "error"] and rows[1][0] == "3"

        receipt_bytes = RECEIPT.read_bytes()
        answer = http.post(
            "/api/receipts",
            data={"company_id": company, "tenant_id": "t1"},
            files={"file": ("scan.jpg", receipt_bytes, "image/jpeg")},
        )
        assert answer.status_code == 201, answer.text
        receipt_id = answer.json()["receipt_id"]
        body = {"company_id": company, "tenant_id": "t1", "receipt_id": receipt_id}
        ocr_job = finished(http, started(http.post("/api/jobs/ocr", json=body)))
        assert ocr_job["status"] == "complete", ocr_job["error"]
        assert ocr_job["result"]["total"] == "1007.50"

        download = http.get(f"/api/receipts/{receipt_id}/file")
        assert download.status_code == 200
        assert download.content == receipt_bytes
        assert download.headers["content-type"] == "image/jpeg"
        assert download.headers["content-security-policy"] == "sandbox"
        assert download.headers["content-disposition"] == 'attachment; filename="scan.jpg"'
        with live.client_for("t1", [new_company_id()]) as stranger:
            assert stranger.get(f"/api/receipts/{receipt_id}/file").status_code == 404

        assert live.artifact_files() == [], "nothing kept on the local disk"
        client = minio.client()
        stack.callback(client.close)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        assert all(key.startswith(PREFIX) for key in keys), keys
        assert any(key.startswith(f"{PREFIX}receipts/") for key in keys), keys
        assert any(key.endswith(".errors.csv") for key in keys), keys
        assert any(key.startswith(f"{PREFIX}models/") for key in keys), keys
        for key in keys:
            head = client.head_object(Bucket=bucket, Key=key)
            assert head["ServerSideEncryption"] == "AES256", key


def test_presigned_downloads_redirect_after_authorising(
    minio: Minio, s3_env: None, tmp_path: Path
) -> None:
    server = s3_server(minio, tmp_path, s3_presign_seconds=30, worker_concurrency=1)
    with server as (_bucket, live), contextlib.ExitStack() as stack:
        company = new_company_id()
        http = stack.enter_context(live.client_for("t1", [company]))
        receipt_bytes = RECEIPT.read_bytes()
        answer = http.post(
            "/api/receipts",
            data={"company_id": company, "tenant_id": "t1"},
            files={"file": ("scan.jpg", receipt_bytes, "image/jpeg")},
        )
        receipt_id = answer.json()["receipt_id"]

        redirect = http.get(f"/api/receipts/{receipt_id}/file")
        assert redirect.status_code == 307
        assert redirect.headers["cache-control"] == "no-store"
        url = redirect.headers["location"]
        assert url.startswith(minio.endpoint_url) and "X-Amz-Expires=30" in url
        fetched = httpx.get(url)  # no API credentials: the signature is the authorisation
        assert fetched.status_code == 200 and fetched.content == receipt_bytes
        assert fetched.headers["content-disposition"] == 'attachment; filename="scan.jpg"'
        with live.client_for("t1", [new_company_id()]) as stranger:
            assert stranger.get(f"/api/receipts/{receipt_id}/file").status_code == 404
