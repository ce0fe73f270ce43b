"""A company's QuickBooks Online session: intuit-oauth for the tokens, python-quickbooks for
the Accounting API, with the endpoints from settings (Intuit's by default).

- Tokens are refreshed when the session opens and on a 401 (once); every refresh's tokens
  are sealed and stored at once (``on_tokens``): Intuit rotates refresh tokens, and one lost
  to a crash would end the connection.
- HTTP 429 and 5xx are retried by the HTTP session (urllib3's ``Retry``), honouring
  ``Retry-After`` up to :data:`MAX_RETRY_AFTER` seconds. Retrying a create is safe: each
  carries a ``requestid``, for which QuickBooks answers the first response again.
- A refused refresh token (revoked, expired) is :class:`NotConnectedError`; a network
  failure is :class:`ServiceUnavailableError` (the job's outage retries apply).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from pydantic import BaseModel
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth2Session
from urllib3.util.retry import Retry

from bookkeeper_jobs.errors import NotConnectedError, QuickBooksError, ServiceUnavailableError
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.settings import Settings

MAX_RETRIES: Final = 5
BACKOFF_FACTOR: Final = 0.5
MAX_RETRY_AFTER: Final = 60.0
"""A longer ``Retry-After`` is cut to this (the job's own retry takes over after that)."""
RETRY_STATUSES: Final = (429, 500, 502, 503, 504)
TIMEOUT_SECONDS: Final = 60.0

T = TypeVar("T")


class QboCredentials(BaseModel):
    """What is sealed in a connection: the app's credentials and the tokens."""

    client_id: str
    client_secret: str
    refresh_token: str
    access_token: str | None = None


@dataclass(frozen=True)
class Tokens:
    """Fresh tokens from a refresh, as they are to be stored."""

    credentials: QboCredentials
    refresh_token_expires_at: dt.datetime | None


class CappedRetry(Retry):
    """urllib3's retry, with ``Retry-After`` honoured up to :data:`MAX_RETRY_AFTER`."""

    def parse_retry_after(self, retry_after: str) -> float:
        return min(float(super().parse_retry_after(retry_after)), MAX_RETRY_AFTER)


class PatientAdapter(HTTPAdapter):
    """Retries 429 and 5xx (honouring ``Retry-After``) and never waits without a timeout."""

    def __init__(self) -> None:
        super().__init__(
            max_retries=CappedRetry(
                total=MAX_RETRIES,
                backoff_factor=BACKOFF_FACTOR,
                status_forcelist=RETRY_STATUSES,
                allowed_methods=None,  # POSTs too: creates carry a requestid, queries read
                respect_retry_after_header=True,
                raise_on_status=False,
            )
        )

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = TIMEOUT_SECONDS
        return super().send(request, *args, **kwargs)


def patient(session: requests.Session) -> None:
    session.mount("https://", PatientAdapter())
    session.mount("http://", PatientAdapter())


class PatientAuthClient(AuthClient):  # type: ignore[misc]
    """intuit-oauth's client whose requests time out, and whose token requests retry like
    the API's (the discovery document it fetches when built is one GET, not retried)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        response: requests.Response = super().request(method, url, *args, **kwargs)
        return response

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except AuthClientError as exc:
            raise ServiceUnavailableError(
                f"the QuickBooks discovery document answered HTTP {exc.status_code}"
            ) from exc
        patient(self)


def auth_client(
    settings: Settings,
    environment: str,
    credentials: QboCredentials,
    *,
    realm_id: str | None = None,
    redirect_uri: str | None = None,
) -> AuthClient:
    """intuit-oauth's client for ``environment``, its endpoints from the discovery document
    the settings name."""
    with network_errors("the QuickBooks sign-in service"):
        return PatientAuthClient(
            credentials.client_id,
            credentials.client_secret,
            redirect_uri or settings.qbo_redirect_uri or "",
            settings.qbo_discovery_urls[environment],
            access_token=credentials.access_token,
            refresh_token=credentials.refresh_token,
            realm_id=realm_id,
        )


def tokens_of(client: AuthClient, credentials: QboCredentials) -> Tokens:
    """The tokens ``client`` holds now (after a refresh or a code exchange)."""
    expires_in = getattr(client, "x_refresh_token_expires_in", None)
    expires_at = utcnow() + dt.timedelta(seconds=int(expires_in)) if expires_in else None
    updated = credentials.model_copy(
        update={"refresh_token": client.refresh_token, "access_token": client.access_token}
    )
    return Tokens(updated, expires_at)


class QboSession:
    """One export's conversation with one QuickBooks company."""

    def __init__(
        self,
        settings: Settings,
        environment: str,
        realm_id: str,
        credentials: QboCredentials,
        on_tokens: Callable[[Tokens], None],
    ) -> None:
        self.realm_id = realm_id
        self._credentials = credentials
        self._on_tokens = on_tokens
        self._auth = auth_client(settings, environment, credentials, realm_id=realm_id)
        self._refresh()
        self.client = QuickBooks(
            auth_client=self._auth,
            refresh_token=self._auth.refresh_token,
            company_id=realm_id,
            minorversion=settings.qbo_minor_version,
        )
        api_url = settings.qbo_api_urls[environment].rstrip("/")
        self.client.api_url_v3 = api_url
        self.client.sandbox_api_url_v3 = api_url
        patient(self.client.session)

    def call(self, what: str, request: Callable[[], T]) -> T:
        """``request()`` against the API; a 401 refreshes the tokens and tries once more."""
        with network_errors("QuickBooks Online"):
            try:
                return request()
            except AuthorizationException as exc:
                if exc.error_code != 401 and "AuthenticationFailed" not in str(exc.detail):
                    raise QuickBooksError(f"{what}: QuickBooks refused access: {exc}") from exc
            self._refresh()
            self.client.session = OAuth2Session(
                self._auth.client_id,
                token={"access_token": self._auth.access_token, "token_type": "Bearer"},
            )
            patient(self.client.session)
            try:
                return request()
            except AuthorizationException as exc:
                raise NotConnectedError(
                    f"{what}: QuickBooks refused the connection's tokens after a refresh;"
                    " connect the company again"
                ) from exc

    def _refresh(self) -> None:
        try:
            self._auth.refresh(refresh_token=self._credentials.refresh_token)
        except AuthClientError as exc:
            if exc.status_code in (400, 401):
                raise NotConnectedError(
                    "QuickBooks refused the stored refresh token (revoked or expired):"
                    " connect the company again"
                ) from exc
            raise ServiceUnavailableError(
                f"the QuickBooks sign-in service answered HTTP {exc.status_code}"
            ) from exc
        tokens = tokens_of(self._auth, self._credentials)
        self._credentials = tokens.credentials
        self._on_tokens(tokens)  # stored before anything else can go wrong


@contextmanager
def network_errors(service: str) -> Iterator[None]:
    """Connection failures and timeouts as an outage the job rides out."""
    try:
        yield
    except requests.RequestException as exc:
        raise ServiceUnavailableError(f"{service} cannot be reached: {type(exc).__name__}") from exc
