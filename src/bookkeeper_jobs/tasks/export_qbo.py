"""The ``export-qbo`` task: the company's approved transactions of a date range, each
exported once to its QuickBooks Online company (``quickbooks/exporter.py`` says how), or
written to a file QuickBooks imports (``destination`` ``csv`` or ``iif``).

Progress counts exported, skipped (exported before) and failed transactions. A cancel is
honoured between batches; what was exported stays exported (and recorded).
"""

from __future__ import annotations

from quickbooks.exceptions import QuickbooksException

from bookkeeper_jobs.errors import (
    FatalTaskError,
    NotConnectedError,
    QuickBooksError,
    SecretsKeyError,
)
from bookkeeper_jobs.jobs import ExportQboSpec
from bookkeeper_jobs.ledger import Ledger, Transaction, task_errors
from bookkeeper_jobs.quickbooks import files
from bookkeeper_jobs.quickbooks.exporter import BATCH_SIZE, Exporter, fault_text
from bookkeeper_jobs.quickbooks.session import QboCredentials, QboSession, Tokens
from bookkeeper_jobs.results import ExportQboResult
from bookkeeper_jobs.secretbox import SecretBox
from bookkeeper_jobs.tasks.categorize import check_company
from bookkeeper_jobs.tasks.context import TaskContext

FILE_ROWS = 100_000
"""At most this many transactions go into one export file (a year of a busy company)."""


def export_qbo(context: TaskContext[ExportQboSpec]) -> ExportQboResult:
    spec = context.spec
    with task_errors():
        check_company(context.ledger, spec.company_id, spec.tenant_id)
    if spec.destination != "quickbooks":
        return _export_file(context)
    try:
        with task_errors():
            return _export_to_quickbooks(context)
    except (NotConnectedError, SecretsKeyError) as exc:
        raise FatalTaskError(str(exc)) from exc
    except QuickBooksError as exc:
        raise FatalTaskError(f"QuickBooks: {exc}") from exc
    except QuickbooksException as exc:  # a refusal no rule above expected
        raise FatalTaskError(f"QuickBooks refused the export: {fault_text(exc)}") from exc


def _export_to_quickbooks(context: TaskContext[ExportQboSpec]) -> ExportQboResult:
    spec, ledger, reporter = context.spec, context.ledger, context.reporter
    book = ledger.quickbooks
    connection = book.connection(spec.company_id)
    if connection is None:
        raise NotConnectedError(
            f"company {spec.company_id!r} is not connected to QuickBooks Online"
        )
    box = SecretBox(context.settings.secrets_key)
    credentials = QboCredentials.model_validate(box.open(connection.credentials))
    reporter.update(0, "Connecting to QuickBooks Online")

    def store(tokens: Tokens) -> None:
        sealed = box.seal(tokens.credentials.model_dump())
        with task_errors():
            book.update_credentials(
                spec.company_id, connection.realm_id, sealed, tokens.refresh_token_expires_at
            )

    session = QboSession(
        context.settings, connection.environment, connection.realm_id, credentials, store
    )
    exporter = Exporter(
        session,
        ledger,
        spec.company_id,
        context.job_id,
        bank_account=spec.bank_account,
        vendors=lambda ids: ledger.receipts.vendors_of(spec.company_id, ids),
    )
    exporter.resume_unfinished()
    realm = connection.realm_id
    in_range, exported_before = book.export_counts(
        spec.company_id, realm, spec.start_date, spec.end_date
    )
    skipped = max(0, exported_before - exporter.tally.exported)
    total = max(1, in_range - skipped)
    cancelled, after = False, None
    while batch := book.exportable(
        spec.company_id, realm, spec.start_date, spec.end_date, after=after, limit=BATCH_SIZE
    ):
        if reporter.cancelled():
            cancelled = True
            break
        exporter.export(batch)
        after = batch[-1].id
        done = exporter.tally.exported + exporter.tally.failed
        reporter.update(100 * min(1.0, done / total), _progress(exporter, skipped))
    tally = exporter.tally
    return ExportQboResult(
        start_date=spec.start_date,
        end_date=spec.end_date,
        destination="quickbooks",
        realm_id=connection.realm_id,
        exported=tally.exported,
        skipped=skipped,
        failed=tally.failed,
        entries=tally.entries,
        failures=tally.failures,
        cancelled=cancelled,
    )


def _progress(exporter: Exporter, skipped: int) -> str:
    tally = exporter.tally
    return f"Exported {tally.exported:,}, skipped {skipped:,}, failed {tally.failed:,}"


def _export_file(context: TaskContext[ExportQboSpec]) -> ExportQboResult:
    spec, ledger, reporter = context.spec, context.ledger, context.reporter
    assert spec.destination in ("csv", "iif")
    reporter.update(0, f"Writing the {spec.destination.upper()} file")
    with task_errors():
        rows = _approved_in_range(ledger, spec)
        names = {account.code: account.name for account in ledger.list_accounts(spec.company_id)}
    if spec.destination == "csv":
        text = files.bank_csv(rows)
    else:
        text = files.iif(rows, names, spec.bank_account)
    artifact_id = context.artifacts.exports.save_bytes(text.encode())
    filename = f"{spec.company_id}-{spec.start_date}-{spec.end_date}.{spec.destination}"
    with task_errors():
        file_id = ledger.quickbooks.add_file(
            spec.company_id,
            context.job_id,
            artifact_id,
            filename,
            files.CONTENT_TYPES[spec.destination],
        )
    reporter.update(100, f"Wrote {len(rows):,} transactions to {filename}")
    return ExportQboResult(
        start_date=spec.start_date,
        end_date=spec.end_date,
        destination=spec.destination,
        exported=len(rows),
        skipped=0,
        failed=0,
        file=f"/api/artifacts/{file_id}",
    )


def _approved_in_range(ledger: Ledger, spec: ExportQboSpec) -> list[Transaction]:
    return ledger.quickbooks.approved_in_range(
        spec.company_id, spec.start_date, spec.end_date, limit=FILE_ROWS
    )
