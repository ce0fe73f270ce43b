"""The artifact store: uploaded files kept in a directory (a shared volume in a cluster).

Requests never name a server path: an upload is saved here under a random id, and specs
refer to it by that id only.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from bookkeeper_jobs.errors import ArtifactTooLargeError

__all__ = ["ArtifactStore", "ArtifactTooLargeError"]

_ARTIFACT_ID = re.compile(r"^[a-f0-9]{32}$")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, artifact_id: str) -> Path:
        if not _ARTIFACT_ID.fullmatch(artifact_id):
            raise ValueError(f"not an artifact id: {artifact_id!r}")
        return self.root / artifact_id[:2] / artifact_id

    def open(self, artifact_id: str) -> BinaryIO:
        return self.path(artifact_id).open("rb")

    def exists(self, artifact_id: str) -> bool:
        return self.path(artifact_id).is_file()

    def delete(self, artifact_id: str) -> None:
        self.path(artifact_id).unlink(missing_ok=True)

    async def save_stream(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> str:
        """Write ``chunks`` to a new artifact; nothing is left behind if it is too large."""
        artifact_id = secrets.token_hex(16)
        final = self.path(artifact_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_suffix(".part")
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArtifactTooLargeError(max_bytes)
                    out.write(chunk)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return artifact_id
