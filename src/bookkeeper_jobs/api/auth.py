"""Who is calling: a bearer token is a static API key from settings or a signed JWT.

A JWT carries the grant in its claims: ``tenant_id`` (string) and ``company_ids`` (list of
strings). HS256 tokens are checked with ``BKJOBS_JWT_SECRET``, RS256 ones with
``BKJOBS_JWT_PUBLIC_KEY``; ``exp`` is enforced when present.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import jwt

from bookkeeper_jobs.errors import AuthenticationError
from bookkeeper_jobs.settings import Settings


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    company_ids: frozenset[str]
    subject: str = ""
    """Who acts, for audit records: ``api-key:<first 12 hex of its SHA-256>`` for an API key
    (never the key), the JWT's ``sub`` claim (else ``jwt``)."""

    def may_access(self, tenant_id: str, company_id: str) -> bool:
        return tenant_id == self.tenant_id and company_id in self.company_ids


def authenticate(token: str, settings: Settings) -> Principal:
    for key, grant in settings.api_keys.items():
        if hmac.compare_digest(key.encode(), token.encode()):
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            return Principal(grant.tenant_id, frozenset(grant.company_ids), f"api-key:{digest}")
    if token.count(".") == 2:
        return _from_jwt(token, settings)
    raise AuthenticationError("unknown API key")


def _from_jwt(token: str, settings: Settings) -> Principal:
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"malformed token: {exc}") from exc
    key = _verification_key(algorithm, settings)
    assert isinstance(algorithm, str)  # _verification_key accepted it
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            options={"require": ["tenant_id"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"invalid token: {exc}") from exc
    tenant, companies = claims.get("tenant_id"), claims.get("company_ids", [])
    if not isinstance(tenant, str) or not tenant:
        raise AuthenticationError("token claim tenant_id must be a non-empty string")
    if not isinstance(companies, list) or not all(isinstance(c, str) for c in companies):
        raise AuthenticationError("token claim company_ids must be a list of strings")
    subject = claims.get("sub")
    return Principal(tenant, frozenset(companies), str(subject)[:200] if subject else "jwt")


def _verification_key(algorithm: object, settings: Settings) -> str:
    if algorithm == "HS256" and settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if algorithm == "RS256" and settings.jwt_public_key:
        return settings.jwt_public_key
    raise AuthenticationError(f"token algorithm {algorithm!r} is not accepted here")
