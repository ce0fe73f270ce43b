"""Serving a stored artifact to a caller the route has already authorised.

A directory store's file is sent as it is (``FileResponse``). An object store's is streamed
through the API by default: the API keeps its security headers, the bucket need not be
reachable from clients, and the files are small (an upload is at most
``BKJOBS_MAX_UPLOAD_BYTES``). With ``BKJOBS_S3_PRESIGN_SECONDS`` > 0 the answer is instead a
307 redirect to a presigned GET that expires after that many seconds, so the bytes bypass
the API; the authorisation still happens here first, and the URL is never stored.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from fastapi import HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from bookkeeper_jobs.artifacts import ArtifactStore, attachment

CHUNK_BYTES = 64 * 1024


def artifact_response(
    store: ArtifactStore,
    artifact_id: str,
    *,
    media_type: str,
    filename: str,
    headers: Mapping[str, str],
    missing: HTTPException,
    report: bool = False,
) -> Response:
    """The artifact (or the upload's error report) as an attachment; ``missing`` if gone."""
    local = store.local_file(artifact_id, report=report)
    if local is not None:
        if not local.is_file():
            raise missing
        return FileResponse(local, media_type=media_type, filename=filename, headers=headers)
    if not (report or store.exists(artifact_id)):
        raise missing
    url = store.download_url(artifact_id, filename=filename, content_type=media_type, report=report)
    if url is not None:
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    try:
        stream = store.open_report(artifact_id) if report else store.open(artifact_id)
    except FileNotFoundError:
        raise missing from None
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return StreamingResponse(
        _chunks(stream),
        media_type=media_type,
        headers={
            **headers,
            "Content-Disposition": attachment(filename),
            "Content-Length": str(size),
        },
    )


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
