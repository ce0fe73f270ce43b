"""Bearer tokens: static API keys from settings, HS256 and RS256 JWTs."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bookkeeper_jobs.api.auth import Principal, authenticate
from bookkeeper_jobs.errors import AuthenticationError
from bookkeeper_jobs.settings import Grant, Settings

SECRET = "s" * 40


def settings(**extra: object) -> Settings:
    return Settings(
        api_keys={"key-one": Grant(tenant_id="t1", company_ids=["c1", "c2"])},
        jwt_secret=SECRET,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def test_a_static_key_grants_its_tenant_and_companies() -> None:
    # The subject (who, in audit records) names the key by a digest, never the key itself.
    assert authenticate("key-one", settings()) == Principal(
        "t1", frozenset({"c1", "c2"}), "api-key:9b346041bc9a"
    )


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(AuthenticationError, match="unknown API key"):
        authenticate("key-two", settings())


def test_an_hs256_jwt_carries_the_grant_in_its_claims() -> None:
    token = jwt.encode(
        {"tenant_id": "t9", "company_ids": ["c9"], "sub": "ada@example.test"}, SECRET, "HS256"
    )
    assert authenticate(token, settings()) == Principal("t9", frozenset({"c9"}), "ada@example.test")


@pytest.mark.parametrize(
    ("claims", "key", "message"),
    [
        ({"tenant_id": "t9", "exp": int(time.time()) - 10}, SECRET, "expired"),
        ({"tenant_id": "t9"}, "another-secret-" * 3, "Signature verification failed"),
        ({"company_ids": ["c9"]}, SECRET, "tenant_id"),
        ({"tenant_id": "t9", "company_ids": "c9"}, SECRET, "company_ids"),
    ],
)
def test_bad_jwts_are_refused_with_a_reason(
    claims: dict[str, object], key: str, message: str
) -> None:
    token = jwt.encode(claims, key, algorithm="HS256")
    with pytest.raises(AuthenticationError, match=message):
        authenticate(token, settings())


def test_an_unsigned_jwt_is_refused() -> None:
    token = jwt.encode({"tenant_id": "t9"}, None, algorithm="none")
    with pytest.raises(AuthenticationError, match="not accepted"):
        authenticate(token, settings())


def test_an_rs256_jwt_is_checked_with_the_public_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = jwt.encode({"tenant_id": "t3", "company_ids": ["c3"]}, private, algorithm="RS256")
    assert authenticate(token, settings(jwt_public_key=public_pem)) == Principal(
        "t3",
        frozenset({"c3"}),
        "jwt",  # no sub claim
    )
    with pytest.raises(AuthenticationError, match="not accepted"):
        authenticate(token, settings())


def test_audience_is_enforced_when_configured() -> None:
    token = jwt.encode({"tenant_id": "t1", "aud": "other"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError, match=r"(?i)audience"):
        authenticate(token, settings(jwt_audience="bookkeeper"))
