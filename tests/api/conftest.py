"""Fixtures of the HTTP suite: one live server (with worker processes) for the session, and
a company of its own for each test that needs data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .harness import LiveServer, api_settings, new_company_id, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_STATEMENT = REPO_ROOT / "examples" / "bank-statement.csv"
SAMPLE_ROWS = 300


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(api_settings(tmp_path_factory.mktemp("api"))) as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """Authenticated with key A (tenant t1, companies c1 and c2)."""
    with live_server.client() as http:
        yield http


@dataclass
class Company:
    """A company of tenant t1 no other test uses, and a client whose JWT grants it (and a
    sibling company of the same tenant, for cross-company checks)."""

    id: str
    sibling: str
    tenant_id: str
    http: httpx.Client


@pytest.fixture
def company(live_server: LiveServer) -> Iterator[Company]:
    company_id = new_company_id()
    sibling = f"{company_id}-b"
    with live_server.client_for("t1", [company_id, sibling]) as http:
        yield Company(id=company_id, sibling=sibling, tenant_id="t1", http=http)


@pytest.fixture(scope="session")
def sample_statement() -> bytes:
    return SAMPLE_STATEMENT.read_bytes()
