"""The ``ledger`` fixture: every test that takes it runs on SQLite and on PostgreSQL
(ledger tests and the task tests alike)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bookkeeper_jobs.ledger import Ledger
from tests.unit.ledger.factories import open_ledger, sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    with open_ledger(database_url) as opened:
        yield opened
