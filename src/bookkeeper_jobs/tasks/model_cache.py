"""Each company's trained categorizer, kept in the artifact store between jobs.

Training takes seconds to tens of seconds; a categorize job reuses the company's cached model
until enough has changed since it was trained: :data:`RETRAIN_AFTER` training examples added
or removed, or corrections made. Loading a model unpickles it, so the file is signed (HMAC-
SHA256 with a key derived from ``BKJOBS_SECRETS_KEY``, else a random key kept beside the
models) and a file whose signature does not verify is ignored and replaced by a fresh
training, as is one of another format.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from bookkeeper_jobs.artifacts import ArtifactStore

log = logging.getLogger(__name__)

RETRAIN_AFTER: Final = 20
"""New training examples plus corrections since the cached model that make a job retrain."""
MAGIC: Final = b"BKJM1"
KEY_FILE: Final = ".signing-key"
_HEADER: Final = struct.Struct(">32sI")  # signature, header length


@dataclass(frozen=True)
class TrainingVersion:
    """What a model was trained on, as far as deciding to retrain goes."""

    examples: int
    corrections: int

    def behind(self, now: TrainingVersion) -> int:
        return abs(now.examples - self.examples) + abs(now.corrections - self.corrections)


@dataclass(frozen=True)
class CachedModel:
    version: TrainingVersion
    data: bytes


class ModelCache:
    def __init__(self, folder: Path, key: bytes) -> None:
        self._folder = folder
        self._key = key

    @classmethod
    def in_store(cls, artifacts: ArtifactStore, secrets_key: SecretStr | None) -> ModelCache:
        folder = artifacts.root / "models"
        return cls(folder, _signing_key(folder, secrets_key))

    def load(self, company_id: str) -> CachedModel | None:
        """The company's model, if one is stored and its signature verifies."""
        try:
            blob = self._path(company_id).read_bytes()
        except OSError:
            return None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _HEADER.size:
            return None
        signature, header_size = _HEADER.unpack_from(blob, len(MAGIC))
        body = blob[len(MAGIC) + _HEADER.size :]
        if not hmac.compare_digest(signature, self._sign(body)):
            log.warning("the cached categorizer of a company failed its signature; retraining")
            return None
        try:
            header = json.loads(body[:header_size])
            version = TrainingVersion(int(header["examples"]), int(header["corrections"]))
        except (ValueError, KeyError, TypeError):
            return None
        return CachedModel(version, body[header_size:])

    def store(self, company_id: str, version: TrainingVersion, data: bytes) -> None:
        """Keep the model (written whole, then renamed: a reader never sees half a file);
        a disk that refuses is logged, not fatal: the job has its model either way."""
        header = json.dumps({"examples": version.examples, "corrections": version.corrections})
        body = header.encode() + data
        blob = MAGIC + _HEADER.pack(self._sign(body), len(header.encode())) + body
        path = self._path(company_id)
        partial = path.with_suffix(f".{secrets.token_hex(4)}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(blob)
            os.replace(partial, path)
        except OSError as exc:
            log.warning("the categorizer could not be cached (%s); it is retrained next time", exc)
        finally:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)

    def _path(self, company_id: str) -> Path:
        # The company id is the caller's data: only its hash names a file.
        return self._folder / f"{hashlib.sha256(company_id.encode()).hexdigest()}.model"

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


def _signing_key(folder: Path, secrets_key: SecretStr | None) -> bytes:
    if secrets_key is not None:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"bookkeeper-jobs model cache"
        ).derive(secrets_key.get_secret_value().encode())
    path = folder / KEY_FILE
    with contextlib.suppress(OSError):
        key = path.read_bytes()
        if len(key) == 32:
            return key
    key = secrets.token_bytes(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes()
    except OSError:
        pass  # an unwritable store: this process signs with a key of its own
    return key
