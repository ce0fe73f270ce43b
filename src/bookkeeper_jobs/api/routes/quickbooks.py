"""Connecting a company to QuickBooks Online, and downloading export files.

- ``GET .../quickbooks/connect`` answers Intuit's authorization URL with a ``state`` bound to
  the caller's tenant and the company, single use and expiring; Intuit sends the user's
  browser back to ``GET /api/quickbooks/callback``, which carries no bearer token: the
  ``state`` is what authorises it. The code is exchanged with intuit-oauth and the tokens
  are stored sealed (``secretbox``).
- ``PUT .../quickbooks`` takes credentials directly (scripts): they are checked by one token
  refresh, whose rotated refresh token is what is stored.
- ``DELETE .../quickbooks`` revokes the refresh token at Intuit and forgets the connection.
- No answer ever holds a credential: a GET says connected, environment, realm and expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import requests
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import status as http
from fastapi.responses import FileResponse, Response
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from pydantic import BaseModel, ConfigDict, Field

from bookkeeper_jobs.api.deps import (
    CurrentPrincipal,
    Ledger,
    Services,
    ServicesDep,
    require_company,
)
from bookkeeper_jobs.api.downloads import artifact_response
from bookkeeper_jobs.api.problems import problem, quoted
from bookkeeper_jobs.errors import SecretsKeyError, ServiceUnavailableError
from bookkeeper_jobs.ledger.quickbooks import Environment, StoredConnection
from bookkeeper_jobs.quickbooks.session import QboCredentials, auth_client, tokens_of
from bookkeeper_jobs.secretbox import SecretBox

router = APIRouter(tags=["quickbooks"])

Responses = dict[int | str, dict[str, Any]]
COMPANY_ERRORS: Responses = {
    403: problem("The company is not in your grant."),
    404: problem("The company is another tenant's."),
}
REALM_ID_PATTERN = r"^[0-9A-Za-z]+$"
"""A QuickBooks company id (digits in practice): it goes into every API URL."""
UNREACHABLE: Responses = {502: problem("QuickBooks Online could not be reached.")}
NO_SECRETS_KEY: Responses = {
    409: problem("This server has no BKJOBS_SECRETS_KEY to seal credentials.")
}


class Connection(BaseModel):
    """A company's QuickBooks Online connection, without any credential."""

    company_id: str
    connected: bool
    environment: Environment | None = None
    realm_id: str | None = Field(default=None, description="The QuickBooks company's id.")
    connected_at: dt.datetime | None = None
    refresh_token_expires_at: dt.datetime | None = Field(
        default=None, description="When the stored refresh token expires unless used."
    )

    @classmethod
    def of(cls, company_id: str, stored: StoredConnection | None) -> Connection:
        if stored is None:
            return cls(company_id=company_id, connected=False)
        return cls(
            company_id=company_id,
            connected=True,
            environment=stored.environment,
            realm_id=stored.realm_id,
            connected_at=stored.connected_at,
            refresh_token_expires_at=stored.refresh_token_expires_at,
        )


class ConnectStart(BaseModel):
    authorization_url: str = Field(description="Send the user here to grant access.")
    expires_at: dt.datetime = Field(description="The flow must end before this.")


class DirectCredentials(BaseModel):
    """Credentials for scripts (an app's client id and secret, a realm and a refresh token)."""

    model_config = ConfigDict(extra="forbid")

    environment: Environment = "production"
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=255)
    realm_id: str = Field(min_length=1, max_length=64, pattern=REALM_ID_PATTERN)
    refresh_token: str = Field(min_length=1, max_length=2048)


class Disconnected(BaseModel):
    company_id: str
    connected: Literal[False] = False
    revoked: bool = Field(description="Whether Intuit confirmed the token's revocation.")
    detail: str = Field(default="", description="Why the revocation did not happen, if not.")


def own_company(company_id: str, principal: CurrentPrincipal, ledger: Ledger) -> str:
    """The company, if it is in the caller's grant and not another tenant's (else 403/404)."""
    require_company(principal, principal.tenant_id, company_id)
    with ledger.use() as book:
        owner = book.company_tenant(company_id)
    if owner is not None and owner != principal.tenant_id:
        raise HTTPException(
            http.HTTP_404_NOT_FOUND, detail=f"company {quoted(company_id)} not found"
        )
    return company_id


OwnCompany = Annotated[str, Depends(own_company)]


def secret_box(services: Services) -> SecretBox:
    """The box sealing credentials; a 409 on a server configured without a secrets key
    (production refuses to start so; elsewhere connecting needs one set)."""
    try:
        return SecretBox(services.settings.secrets_key)
    except SecretsKeyError as exc:
        raise HTTPException(http.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("/api/companies/{company_id}/quickbooks", responses=COMPANY_ERRORS)
def get_connection(company_id: OwnCompany, ledger: Ledger) -> Connection:
    """Whether the company is connected, to which QuickBooks company and environment."""
    with ledger.use() as book:
        return Connection.of(company_id, book.quickbooks.connection(company_id))


@router.get(
    "/api/companies/{company_id}/quickbooks/connect",
    responses={
        **COMPANY_ERRORS,
        **UNREACHABLE,
        409: problem("This server has no QuickBooks app configured: use PUT."),
    },
)
def start_connect(
    company_id: OwnCompany,
    principal: CurrentPrincipal,
    services: ServicesDep,
    ledger: Ledger,
    environment: Annotated[Environment, Query()] = "production",
) -> ConnectStart:
    """Start Intuit's authorization-code flow: send the user to `authorization_url`."""
    settings = services.settings
    if not (settings.qbo_client_id and settings.qbo_client_secret and settings.qbo_redirect_uri):
        raise HTTPException(
            http.HTTP_409_CONFLICT,
            detail="this server has no QuickBooks app configured (BKJOBS_QBO_CLIENT_ID,"
            " BKJOBS_QBO_CLIENT_SECRET, BKJOBS_QBO_REDIRECT_URI): connect with PUT instead",
        )
    with ledger.use() as book:
        book.ensure_company(company_id, principal.tenant_id)
        state, expires_at = book.quickbooks.new_state(
            company_id, principal.tenant_id, environment, settings.qbo_state_ttl
        )
    client = _app_client(services, environment)
    url = client.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    return ConnectStart(authorization_url=url, expires_at=expires_at)


@router.get(
    "/api/quickbooks/callback",
    responses={
        400: problem("The flow's state is unknown, used or expired, or Intuit refused."),
        **UNREACHABLE,
        **NO_SECRETS_KEY,
    },
)
def finish_connect(
    services: ServicesDep,
    ledger: Ledger,
    state: Annotated[str, Query(min_length=1, max_length=512)],
    code: Annotated[str | None, Query(max_length=2048)] = None,
    realm_id: Annotated[
        str | None, Query(alias="realmId", max_length=64, pattern=REALM_ID_PATTERN)
    ] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Connection:
    """Where Intuit sends the user back: no bearer token, the single-use `state` authorises
    it. Exchanges the code and stores the connection."""
    with ledger.use() as book:
        pending = book.quickbooks.consume_state(state)
    if pending is None:
        raise HTTPException(
            http.HTTP_400_BAD_REQUEST,
            detail="state: unknown, already used or expired; start the connection again",
        )
    if error is not None or not code or not realm_id:
        raise HTTPException(
            http.HTTP_400_BAD_REQUEST,
            detail=f"QuickBooks did not grant access ({quoted(error or 'no code or realmId')})",
        )
    settings = services.settings
    box = secret_box(services)
    client = _app_client(services, pending.environment)
    try:
        with _intuit_errors():
            client.get_bearer_token(code, realm_id=realm_id)
    except AuthClientError as exc:
        raise HTTPException(
            http.HTTP_400_BAD_REQUEST,
            detail=f"code: QuickBooks refused it (HTTP {exc.status_code}); start again",
        ) from exc
    credentials = QboCredentials(
        client_id=settings.qbo_client_id,
        client_secret=_app_secret(services),
        refresh_token=client.refresh_token,
        access_token=client.access_token,
    )
    tokens = tokens_of(client, credentials)
    with ledger.use() as book:
        stored = book.quickbooks.save_connection(
            pending.company_id,
            environment=pending.environment,
            realm_id=realm_id,
            credentials=box.seal(tokens.credentials.model_dump()),
            refresh_token_expires_at=tokens.refresh_token_expires_at,
        )
    return Connection.of(pending.company_id, stored)


@router.put(
    "/api/companies/{company_id}/quickbooks",
    responses={
        **COMPANY_ERRORS,
        **UNREACHABLE,
        **NO_SECRETS_KEY,
        422: {"description": "A field is missing, or QuickBooks refused the credentials."},
    },
)
def put_connection(
    company_id: OwnCompany,
    body: DirectCredentials,
    principal: CurrentPrincipal,
    services: ServicesDep,
    ledger: Ledger,
) -> Connection:
    """Connect with credentials directly; they are checked with one token refresh."""
    box = secret_box(services)
    given = QboCredentials(
        client_id=body.client_id,
        client_secret=body.client_secret,
        refresh_token=body.refresh_token,
    )
    client = _client(services, body.environment, given, realm_id=body.realm_id)
    try:
        with _intuit_errors():
            client.refresh(refresh_token=body.refresh_token)
    except AuthClientError as exc:
        # Intuit's token endpoint: 401 invalid_client for the app's credentials, 400
        # invalid_grant for the refresh token.
        field = "client_id, client_secret" if exc.status_code == 401 else "refresh_token"
        raise HTTPException(
            http.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{field}: QuickBooks refused these credentials (HTTP {exc.status_code})",
        ) from exc
    tokens = tokens_of(client, given)
    with ledger.use() as book:
        book.ensure_company(company_id, principal.tenant_id)
        stored = book.quickbooks.save_connection(
            company_id,
            environment=body.environment,
            realm_id=body.realm_id,
            credentials=box.seal(tokens.credentials.model_dump()),
            refresh_token_expires_at=tokens.refresh_token_expires_at,
        )
    return Connection.of(company_id, stored)


@router.delete(
    "/api/companies/{company_id}/quickbooks",
    responses={**COMPANY_ERRORS, 404: problem("The company is not connected.")},
)
def delete_connection(
    company_id: OwnCompany, services: ServicesDep, ledger: Ledger
) -> Disconnected:
    """Revoke the refresh token at Intuit and forget the connection (forgotten even when
    Intuit cannot be reached: `revoked` says whether it confirmed)."""
    with ledger.use() as book:
        stored = book.quickbooks.connection(company_id)
    if stored is None:
        raise not_connected(company_id)
    revoked, detail = _revoke(services, stored)
    with ledger.use() as book:
        book.quickbooks.delete_connection(company_id)
    return Disconnected(company_id=company_id, revoked=revoked, detail=detail)


def not_connected(company_id: str) -> HTTPException:
    return HTTPException(
        http.HTTP_404_NOT_FOUND,
        detail=f"company {quoted(company_id)} is not connected to QuickBooks Online",
    )


def _revoke(services: Services, stored: StoredConnection) -> tuple[bool, str]:
    try:
        credentials = QboCredentials.model_validate(secret_box(services).open(stored.credentials))
        client = _client(services, stored.environment, credentials, realm_id=stored.realm_id)
        with _intuit_errors():
            client.revoke(token=credentials.refresh_token)
    except (AuthClientError, SecretsKeyError, HTTPException) as exc:
        return False, f"QuickBooks did not confirm the revocation: {type(exc).__name__}"
    return True, ""


def _app_secret(services: Services) -> str:
    secret = services.settings.qbo_client_secret
    return secret.get_secret_value() if secret else ""


def _app_client(services: Services, environment: str) -> Any:
    app = QboCredentials(
        client_id=services.settings.qbo_client_id,
        client_secret=_app_secret(services),
        refresh_token="",
    )
    return _client(services, environment, app)


def _client(
    services: Services, environment: str, credentials: QboCredentials, realm_id: str | None = None
) -> Any:
    try:
        return auth_client(services.settings, environment, credentials, realm_id=realm_id)
    except ServiceUnavailableError as exc:
        raise HTTPException(http.HTTP_502_BAD_GATEWAY, detail=str(exc)) from exc


@contextmanager
def _intuit_errors() -> Iterator[None]:
    """Intuit unreachable during a token request: a 502 naming it."""
    try:
        yield
    except requests.RequestException as exc:
        raise HTTPException(
            http.HTTP_502_BAD_GATEWAY,
            detail=f"QuickBooks Online cannot be reached: {type(exc).__name__}",
        ) from exc


@router.get(
    "/api/artifacts/{file_id}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "text/plain": {}},
            "description": "A file an export wrote (CSV or IIF for QuickBooks), as an attachment.",
        },
        404: problem("No such file, or not one of yours."),
    },
)
def download_export_file(
    file_id: str, principal: CurrentPrincipal, services: ServicesDep, ledger: Ledger
) -> Response:
    """A file an `export-qbo` job wrote (its result's `file`): authorised like jobs."""
    with ledger.use() as book:
        found = book.quickbooks.file(file_id)
    missing = HTTPException(http.HTTP_404_NOT_FOUND, detail=f"file {quoted(file_id)} not found")
    if found is None or not principal.may_access(found.tenant_id, found.company_id):
        raise missing
    return artifact_response(
        services.artifacts.exports,
        found.artifact_id,
        media_type=found.content_type,
        filename=found.filename,
        headers={"X-Content-Type-Options": "nosniff"},
        missing=missing,
    )
