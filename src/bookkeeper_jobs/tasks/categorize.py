"""The ``categorize`` task, and the categorizing engine the upload task shares.

Train once per run (rules + the company's confirmed categories; a model cached in the
artifact store is reused until enough has changed, ``tasks/model_cache.py``), then walk the
target rows
in pages: given ids, those of the company; after an import, that import's new rows;
otherwise the next ``limit`` rows without a category. Rows a person decided are skipped.

What each prediction's decision does to a row (see ``tasks/categorizer.py``):

- ``auto`` (a rule, or the model at or above its auto-apply threshold): the category is
  booked, source ``rule`` / ``model``, with its confidence;
- ``suggest``: the row goes to the Uncategorized account (as rows the model could not place
  always have) and the guess is stored beside it, ``suggested_category`` and
  ``suggestion_confidence``, for a person to accept or correct; nothing is booked to it;
- ``none``: Uncategorized, no suggestion (an earlier one is cleared).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.ledger import Booking, CategoryAssignment, Ledger, Transaction, task_errors
from bookkeeper_jobs.results import CategorizedBySource, CategorizeResult, CategorizerModelInfo
from bookkeeper_jobs.tasks.categorizer import Categorizer, Item, Prediction
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.model_cache import RETRAIN_AFTER, ModelCache, TrainingVersion
from bookkeeper_jobs.tasks.reporter import ProgressReporter

PAGE_SIZE = 2_000
MAX_LISTED_IDS = 100
TRAINING_SHARE = 0.1
"""Share of the progress range spent on loading training data and fitting the model."""


def categorize(context: TaskContext[CategorizeSpec]) -> CategorizeResult:
    spec = context.spec
    with task_errors():
        check_company(context.ledger, spec.company_id, spec.tenant_id)
    return categorize_transactions(
        context.ledger,
        spec.company_id,
        reporter=context.reporter,
        transaction_ids=spec.transaction_ids,
        limit=None if spec.transaction_ids is not None else spec.limit,
        models=ModelCache.in_store(context.artifacts, context.settings.secrets_key),
    )


def check_company(ledger: Ledger, company_id: str, tenant_id: str) -> None:
    """Refuse (fatal) a company that belongs to another tenant, in the words used for a
    missing one so the refusal does not reveal that it exists.

    A company the ledger has never seen is not refused: it has no transactions yet (its
    first import creates it), so a task for it completes with nothing to do, as one for a
    company whose transactions are all categorized does."""
    owner = ledger.company_tenant(company_id)
    if owner is not None and owner != tenant_id:
        raise FatalTaskError(f"company {company_id!r} not found")


@dataclass
class Tally:
    total: int
    done: int = 0
    by_source: dict[str, int] = field(
        default_factory=lambda: {"rule": 0, "model": 0, "uncategorized": 0}
    )
    saved: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {"auto": 0, "suggest": 0, "none": 0})
    skipped: int = 0
    unknown_count: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    cancelled: bool = False

    def count(self, predictions: Sequence[Prediction], saved: int) -> None:
        for p in predictions:
            self.by_source["uncategorized" if p.uncategorized else p.source] += 1
            self.decisions[p.decision] += 1
        self.saved += saved
        self.skipped += len(predictions) - saved

    def booked(self, predictions: Sequence[Prediction]) -> None:
        """Rows an import wrote already booked to these predictions' categories."""
        self.total += len(predictions)
        self.done += len(predictions)
        self.count(predictions, len(predictions))

    def unknown(self, ids: Sequence[str]) -> None:
        self.unknown_count += len(ids)
        room = MAX_LISTED_IDS - len(self.unknown_ids)
        self.unknown_ids.extend(ids[: max(room, 0)])


def categorize_transactions(
    ledger: Ledger,
    company_id: str,
    *,
    reporter: ProgressReporter,
    transaction_ids: Sequence[str] | None = None,
    import_job_id: str | None = None,
    limit: int | None = None,
    progress_from: float = 0,
    progress_to: float = 100,
    models: ModelCache | None = None,
    categorizer: Categorizer | None = None,
    tally: Tally | None = None,
) -> CategorizeResult:
    """Categorize the target rows of ``company_id``; progress runs from ``progress_from`` to
    ``progress_to``. Stops early (partial counts, ``cancelled: true``) when cancelled.
    ``categorizer`` is used instead of loading or training one; ``tally`` adds to what an
    import already booked."""
    span = progress_to - progress_from
    train_end = progress_from + (span * TRAINING_SHARE if categorizer is None else 0)
    with task_errors():
        if categorizer is None:
            categorizer = trained_categorizer(ledger, company_id, reporter, progress_from, models)
        total = _total(ledger, company_id, transaction_ids, import_job_id, limit)
        tally = tally or Tally(total=0)
        tally.total += total
        reporter.update(train_end, _message(tally))
        pages = _pages(ledger, company_id, tally, transaction_ids, import_job_id, limit)
        for page in pages:
            if reporter.cancelled():
                tally.cancelled = True
                break
            _categorize_page(ledger, company_id, categorizer, page, tally)
            fraction = min(1.0, tally.done / tally.total) if tally.total else 1.0
            reporter.update(train_end + (progress_to - train_end) * fraction, _message(tally))
    if not tally.cancelled:
        reporter.update(progress_to, _message(tally))
    return categorize_result(company_id, categorizer, tally)


def trained_categorizer(
    ledger: Ledger,
    company_id: str,
    reporter: ProgressReporter,
    progress: float,
    models: ModelCache | None,
) -> Categorizer:
    """The company's categorizer with its current rules: the cached model while fewer than
    ``RETRAIN_AFTER`` examples and corrections arrived since it was trained, else a new one
    (then cached)."""
    rules = ledger.list_rules(company_id)
    now = TrainingVersion(
        ledger.count_training_examples(company_id), ledger.review.corrections_count(company_id)
    )
    cached = models.load(company_id) if models is not None else None
    if cached is not None and cached.version.behind(now) < RETRAIN_AFTER:
        try:
            categorizer = Categorizer.from_bytes(cached.data, rules)
        except ValueError:
            pass  # another version's model: train a new one
        else:
            examples = f"{cached.version.examples:,}"
            reporter.update(progress, f"Using the categorizer trained on {examples} examples")
            return categorizer
    reporter.update(progress, f"Training the categorizer on {now.examples:,} examples")
    categorizer = Categorizer.train(rules, ledger.training_examples(company_id))
    if models is not None:
        models.store(company_id, now, categorizer.to_bytes())
    return categorizer


def _total(
    ledger: Ledger,
    company_id: str,
    transaction_ids: Sequence[str] | None,
    import_job_id: str | None,
    limit: int | None,
) -> int:
    if transaction_ids is not None:
        return len(set(transaction_ids))
    pending = ledger.count_transactions(company_id, uncategorized=True, import_job_id=import_job_id)
    return pending if limit is None else min(limit, pending)


def _pages(
    ledger: Ledger,
    company_id: str,
    tally: Tally,
    transaction_ids: Sequence[str] | None,
    import_job_id: str | None,
    limit: int | None,
) -> Iterator[list[Transaction]]:
    if transaction_ids is not None:
        yield from _pages_of_ids(ledger, company_id, tally, transaction_ids)
    else:
        yield from _pages_uncategorized(ledger, company_id, import_job_id, limit)


def _pages_of_ids(
    ledger: Ledger, company_id: str, tally: Tally, ids: Sequence[str]
) -> Iterator[list[Transaction]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), PAGE_SIZE):
        chunk = unique[start : start + PAGE_SIZE]
        found = ledger.get_transactions(company_id, chunk)
        known = {t.id for t in found}
        # Another company's id is reported exactly like an id that does not exist.
        tally.unknown([i for i in chunk if i not in known])
        tally.done += len(chunk) - len(found)
        yield found


def _pages_uncategorized(
    ledger: Ledger, company_id: str, import_job_id: str | None, limit: int | None
) -> Iterator[list[Transaction]]:
    remaining = limit
    after: str | None = None
    while remaining is None or remaining > 0:
        size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
        page = ledger.uncategorized_transactions(
            company_id, limit=size, after=after, import_job_id=import_job_id
        )
        if not page:
            return
        yield page
        after = page[-1].id
        remaining = None if remaining is None else remaining - len(page)


def _categorize_page(
    ledger: Ledger,
    company_id: str,
    categorizer: Categorizer,
    page: list[Transaction],
    tally: Tally,
) -> None:
    open_rows = [t for t in page if not t.locked]
    tally.skipped += len(page) - len(open_rows)
    items = [Item(t.description, t.amount, t.date) for t in open_rows]
    predictions = categorizer.predict(items, explain=False)
    assignments = [_assignment(t, p) for t, p in zip(open_rows, predictions, strict=True)]
    saved = ledger.save_categories(company_id, assignments)
    tally.count(predictions, saved)
    tally.done += len(page)


def _assignment(transaction: Transaction, prediction: Prediction) -> CategoryAssignment:
    booking = booking_of(prediction)
    return CategoryAssignment(
        transaction.id,
        booking.category,
        booking.confidence,
        booking.source,
        suggested_category=booking.suggested_category,
        suggestion_confidence=booking.suggestion_confidence,
    )


def booking_of(prediction: Prediction) -> Booking:
    """What ``prediction`` books a row to (see the module docstring)."""
    suggest = prediction.decision == "suggest"
    return Booking(
        prediction.booked_category,
        prediction.confidence,
        prediction.source,
        suggested_category=prediction.category if suggest else None,
        suggestion_confidence=prediction.confidence if suggest else None,
    )


def _message(tally: Tally) -> str:
    return f"Categorized {tally.done}/{tally.total} transactions"


def categorize_result(company_id: str, categorizer: Categorizer, tally: Tally) -> CategorizeResult:
    return CategorizeResult(
        company_id=company_id,
        requested=tally.total,
        processed=tally.done,
        categorized=tally.saved,
        by_source=CategorizedBySource.model_validate(tally.by_source),
        skipped=tally.skipped,
        unknown_count=tally.unknown_count,
        unknown_ids=list(tally.unknown_ids),
        cancelled=tally.cancelled,
        model=CategorizerModelInfo(
            trained=categorizer.info.trained,
            examples=categorizer.info.examples,
            classes=categorizer.info.classes,
            threshold=categorizer.threshold,
        ),
        auto_applied=tally.decisions["auto"],
        suggested=tally.decisions["suggest"],
        left=tally.decisions["none"],
        suggest_threshold=categorizer.suggest_threshold,
    )
