"""The ``bulk-approve`` task: approve a company's transactions in batches.

Ids of other companies are reported exactly like ids that do not exist (``not_found``),
and never touched; for a company the ledger has never seen, every id is. Approved
categories become training data for the categorizer.
"""

from __future__ import annotations

from bookkeeper_jobs.jobs import BulkApproveSpec
from bookkeeper_jobs.ledger import task_errors
from bookkeeper_jobs.results import BulkApproveResult
from bookkeeper_jobs.tasks.categorize import MAX_LISTED_IDS, check_company
from bookkeeper_jobs.tasks.context import TaskContext

BATCH_SIZE = 500


def bulk_approve(context: TaskContext[BulkApproveSpec]) -> BulkApproveResult:
    spec, ledger, reporter = context.spec, context.ledger, context.reporter
    ids = list(dict.fromkeys(spec.transaction_ids))
    approved = already = not_found_count = done = 0
    not_found: list[str] = []
    cancelled = False
    with task_errors():
        check_company(ledger, spec.company_id, spec.tenant_id)
        reporter.update(0, _message(0, len(ids)))
        for start in range(0, len(ids), BATCH_SIZE):
            if reporter.cancelled():
                cancelled = True
                break
            batch = ids[start : start + BATCH_SIZE]
            outcome = ledger.approve(spec.company_id, batch)
            approved += outcome.approved
            already += outcome.already_approved
            not_found_count += len(outcome.not_found)
            not_found.extend(outcome.not_found[: max(MAX_LISTED_IDS - len(not_found), 0)])
            done += len(batch)
            reporter.update(100 * done / len(ids), _message(done, len(ids)))
    return BulkApproveResult(
        company_id=spec.company_id,
        requested=len(ids),
        processed=done,
        approved=approved,
        already_approved=already,
        not_found_count=not_found_count,
        not_found=not_found,
        cancelled=cancelled,
    )


def _message(done: int, total: int) -> str:
    return f"Approved {done}/{total} transactions"
