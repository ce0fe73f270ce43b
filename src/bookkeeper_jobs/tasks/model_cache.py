"""Each company's trained categorizer, kept in the artifact store between jobs.

Training takes seconds to tens of seconds; a categorize job reuses the company's cached model
until enough has changed since it was trained: :data:`RETRAIN_AFTER` training examples added
or removed, or corrections made. Loading a model unpickles it, so the file is signed (HMAC-
SHA256 with a key derived from ``BKJOBS_SECRETS_KEY``, else a random key kept beside the
models) and a file whose signature does not verify is ignored and replaced by a fresh
training, as is one of another format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from bookkeeper_jobs.artifacts import MODELS_FOLDER, ArtifactStore, DirectoryArtifactStore
from bookkeeper_jobs.errors import StorageError

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
    def __init__(self, folder: ArtifactStore | Path, key: bytes) -> None:
        self._folder = DirectoryArtifactStore(folder) if isinstance(folder, Path) else folder
        self._key = key

    @classmethod
    def in_store(cls, artifacts: ArtifactStore, secrets_key: SecretStr | None) -> ModelCache:
        folder = artifacts.folder(MODELS_FOLDER)
        return cls(folder, _signing_key(folder, secrets_key))

    def load(self, company_id: str) -> CachedModel | None:
        """The company's model, if one is stored and its signature verifies."""
        try:
            blob = self._folder.read_blob(self._name(company_id))
        except StorageError:
            blob = None
        if blob is None:
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
        """Keep the model (written whole: a reader never sees half of one); a store that
        refuses is logged, not fatal: the job has its model either way."""
        header = json.dumps({"examples": version.examples, "corrections": version.corrections})
        body = header.encode() + data
        blob = MAGIC + _HEADER.pack(self._sign(body), len(header.encode())) + body
        try:
            self._folder.write_blob(self._name(company_id), blob)
        except StorageError as exc:
            log.warning("the categorizer could not be cached (%s); it is retrained next time", exc)

    @staticmethod
    def _name(company_id: str) -> str:
        # The company id is the caller's data: only its hash names a file.
        return f"{hashlib.sha256(company_id.encode()).hexdigest()}.model"

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


def _signing_key(folder: ArtifactStore, secrets_key: SecretStr | None) -> bytes:
    if secrets_key is not None:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"bookkeeper-jobs model cache"
        ).derive(secrets_key.get_secret_value().encode())
    try:
        key = folder.read_blob(KEY_FILE)
        if key is not None and len(key) == 32:
            return key
        # The first process to store a key wins; in an object store without conditional
        # writes two first processes may both write one: the models signed with the loser's
        # key then fail to verify once and are retrained, nothing worse.
        stored = folder.keep_first(KEY_FILE, secrets.token_bytes(32))
        if len(stored) == 32:
            return stored
    except StorageError:
        pass  # an unwritable store: this process signs with a key of its own
    return secrets.token_bytes(32)
