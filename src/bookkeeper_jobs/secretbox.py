"""Sealing credentials for storage: authenticated encryption (Fernet: AES-128-CBC with an
HMAC-SHA256) under a key derived from ``BKJOBS_SECRETS_KEY`` with HKDF-SHA256, so any long
random string serves as the setting. A sealed value names nothing it holds; a value sealed
under another key, or altered, does not open (:class:`SecretsKeyError`)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from bookkeeper_jobs.errors import SecretsKeyError

_CONTEXT = b"bookkeeper-jobs stored credentials v1"


class SecretBox:
    def __init__(self, secrets_key: SecretStr | None) -> None:
        if secrets_key is None:
            raise SecretsKeyError(
                "BKJOBS_SECRETS_KEY is not set: credentials cannot be stored or read"
            )
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(
            secrets_key.get_secret_value().encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode("ascii")

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretsKeyError(
                "stored credentials cannot be read with this BKJOBS_SECRETS_KEY (it changed?)"
            ) from exc
        return opened
