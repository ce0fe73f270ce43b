"""Settings come from the environment (prefix BKJOBS_) and refuse weak production secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bookkeeper_jobs.settings import ClientSettings, Settings, load_settings


def test_api_keys_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "BKJOBS_API_KEYS", '{"k-123": {"tenant_id": "t1", "company_ids": ["c1", "c2"]}}'
    )
    monkeypatch.setenv("BKJOBS_WORKER_CONCURRENCY", "4")
    settings = load_settings()
    assert settings.api_keys["k-123"].tenant_id == "t1"
    assert settings.api_keys["k-123"].company_ids == ["c1", "c2"]
    assert settings.worker_concurrency == 4


def test_defaults_match_the_seed_guide() -> None:
    settings = Settings()
    assert settings.job_timeout == 600
    assert settings.job_ttl == 24 * 3600
    assert settings.worker_concurrency == 2


def test_paths_derive_from_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.jobs_db == tmp_path / "jobs.db"
    assert settings.ledger_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert Settings(data_dir=tmp_path, database_url="postgresql+psycopg://x/y").ledger_url == (
        "postgresql+psycopg://x/y"
    )


@pytest.mark.parametrize(
    "options",
    [
        {"jwt_secret": "changeme"},
        {"jwt_secret": "short-but-not-a-placeholder"},
        {"api_keys": {"secret": {"tenant_id": "t1"}}},
        {"secrets_key": "changeme"},
        {"secrets_key": "x" * 31},
    ],
)
def test_production_refuses_placeholder_secrets(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="BKJOBS_"):
        Settings(environment="production", **{"secrets_key": "s" * 40, **options})  # type: ignore[arg-type]


def test_production_needs_a_secrets_key_and_says_so() -> None:
    with pytest.raises(ValidationError, match="BKJOBS_SECRETS_KEY is not set"):
        Settings(environment="production")


def test_production_accepts_strong_secrets() -> None:
    settings = Settings(
        environment="production",
        jwt_secret="x" * 40,  # type: ignore[arg-type]
        secrets_key="s" * 40,  # type: ignore[arg-type]
        api_keys={"k" * 32: {"tenant_id": "t1"}},  # type: ignore[dict-item]
    )
    assert settings.environment == "production"


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BKJOBS_WORKER_CONCURRENCY", "zero")
    with pytest.raises(ValidationError, match="worker_concurrency"):
        load_settings()


def test_client_settings_read_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BKJOBS_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("BKJOBS_API_KEY", "abc")
    client = ClientSettings()
    assert client.url == "http://127.0.0.1:9999"
    assert client.api_key is not None and client.api_key.get_secret_value() == "abc"
