"""Behaviour check on real data: the model learns a company's history well beyond the
majority-class baseline (25.6%). The same split and loading as
``bench/categorization_accuracy.py``, which prints the scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.categorization_accuracy import (
    COMPANY,
    DEFAULT_DATASET,
    TENANT,
    import_test,
    load_history,
    read_dataset,
)
from bookkeeper_jobs.tasks.categorize import categorize_transactions
from tests.unit.ledger.factories import open_ledger, recording_reporter, sqlite_url


@pytest.mark.slow
def test_model_accuracy_is_well_above_the_majority_baseline(tmp_path: Path) -> None:
    if not DEFAULT_DATASET.is_file():
        # Data kept beside the repository (../shared/datasets), not a service or program:
        # a checkout without it cannot run this check, and says so.
        pytest.skip(f"transactions-dev dataset not found at {DEFAULT_DATASET}")
    train, held_out = read_dataset(DEFAULT_DATASET)
    with open_ledger(sqlite_url(tmp_path)) as ledger:
        ledger.ensure_company(COMPANY, TENANT)
        load_history(ledger, train)
        truth = import_test(ledger, held_out)

        result = categorize_transactions(
            ledger, COMPANY, reporter=recording_reporter()[0], import_job_id="bench-test"
        )

        predicted = ledger.list_transactions(
            COMPANY, limit=len(held_out) + 1, import_job_id="bench-test"
        )
    accuracy = sum(t.category == truth[t.fingerprint] for t in predicted) / len(predicted)
    assert result.categorized == len(held_out)
    assert accuracy > 0.5
