"""The company's categorizer is cached between jobs: reused until enough examples or
corrections arrived, never loaded when its signature does not verify."""

from __future__ import annotations

from pathlib import Path

from bookkeeper_jobs.artifacts import ArtifactStore
from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.tasks.categorize import categorize
from bookkeeper_jobs.tasks.model_cache import RETRAIN_AFTER, ModelCache, TrainingVersion
from tests.unit.ledger.factories import COMPANY, TENANT, recording_reporter
from tests.unit.tasks.conftest import ContextFactory
from tests.unit.tasks.test_categorize import approved_history, new_rows


def run_categorize(ledger: Ledger, make_context: ContextFactory, description: str) -> list[str]:
    """Categorize one new row; the progress messages of the run."""
    ids = new_rows(ledger, [description])
    reporter, sink = recording_reporter()
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT, transaction_ids=ids)
    categorize(make_context(spec, ledger, reporter=reporter))
    return [message for _progress, message in sink.writes]


def test_the_second_job_reuses_the_trained_model(
    ledger: Ledger, make_context: ContextFactory, artifacts: ArtifactStore
) -> None:
    approved_history(ledger)

    first = run_categorize(ledger, make_context, "shell fuel station 99")
    second = run_categorize(ledger, make_context, "esso petrol 98")

    assert any(m.startswith("Training the categorizer on 36 examples") for m in first), first
    assert any(m.startswith("Using the categorizer trained on 36 examples") for m in second), second
    assert [p.name for p in (artifacts.root / "models").glob("*.model")] != []


def test_enough_corrections_make_the_next_job_retrain(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    approved_history(ledger)
    run_categorize(ledger, make_context, "shell fuel station 99")
    ids = new_rows(ledger, [f"corner shop {n}" for n in range(RETRAIN_AFTER)])
    for transaction_id in ids:
        assert ledger.review.correct(COMPANY, transaction_id, "6090", actor="test") is not None

    messages = run_categorize(ledger, make_context, "esso petrol 98")

    assert any(m.startswith("Training the categorizer on") for m in messages), messages


def test_a_tampered_model_is_never_loaded(
    ledger: Ledger, make_context: ContextFactory, artifacts: ArtifactStore
) -> None:
    approved_history(ledger)
    run_categorize(ledger, make_context, "shell fuel station 99")
    [stored] = (artifacts.root / "models").glob("*.model")
    blob = bytearray(stored.read_bytes())
    blob[-1] ^= 0xFF
    stored.write_bytes(bytes(blob))

    messages = run_categorize(ledger, make_context, "esso petrol 98")

    assert any(m.startswith("Training the categorizer on") for m in messages), messages


def test_a_company_id_only_names_a_file_by_its_hash(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "models", b"k" * 32)

    cache.store("../../etc/passwd", TrainingVersion(1, 0), b"model")

    [written] = list(tmp_path.rglob("*.model"))
    assert written.parent == tmp_path / "models"
    assert cache.load("../../etc/passwd") is not None
