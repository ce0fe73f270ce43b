"""Connecting a company to the test QuickBooks server the way a user does: intuit-oauth's
authorization URL, the server's consent redirect, the code exchanged for tokens; then the
connection stored sealed in the ledger, as the API's callback stores it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes

from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.quickbooks.session import QboCredentials, tokens_of
from bookkeeper_jobs.secretbox import SecretBox
from bookkeeper_jobs.settings import Settings
from tests.support.qbo_server import QboServer

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
REDIRECT_URI = "https://app.example.test/qbo/callback"
SECRETS_KEY = "test-secrets-key-0123456789abcdefghijklmnop"


def qbo_settings(server: QboServer) -> dict[str, Any]:
    """Settings that point the product at ``server`` (as a deployment points it at Intuit)."""
    return {
        "secrets_key": SECRETS_KEY,
        "qbo_client_id": CLIENT_ID,
        "qbo_client_secret": CLIENT_SECRET,
        "qbo_redirect_uri": REDIRECT_URI,
        "qbo_discovery_urls": {"sandbox": server.discovery_url, "production": server.discovery_url},
        "qbo_api_urls": {"sandbox": server.api_url, "production": server.api_url},
    }


def consent(authorization_url: str) -> dict[str, str]:
    """Follow the authorization URL as the user's browser would: the redirect's parameters
    (``code``, ``state``, ``realmId``)."""
    answer = httpx.get(authorization_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return {key: values[-1] for key, values in query.items()}


def connect(settings: Settings, ledger: Ledger, company_id: str, tenant_id: str) -> str:
    """Authorize against the server, store the sealed connection; the realm id."""
    environment = "sandbox"
    client = AuthClient(
        CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, settings.qbo_discovery_urls[environment]
    )
    granted = consent(client.get_authorization_url([Scopes.ACCOUNTING], state_token="test"))
    client.get_bearer_token(granted["code"], realm_id=granted["realmId"])
    tokens = tokens_of(
        client,
        QboCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=""),
    )
    ledger.ensure_company(company_id, tenant_id)
    ledger.quickbooks.save_connection(
        company_id,
        environment=environment,
        realm_id=granted["realmId"],
        credentials=SecretBox(settings.secrets_key).seal(tokens.credentials.model_dump()),
        refresh_token_expires_at=tokens.refresh_token_expires_at,
    )
    return granted["realmId"]
