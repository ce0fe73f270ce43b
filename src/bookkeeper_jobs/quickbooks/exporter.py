"""Exporting approved transactions to a QuickBooks Online company, each exactly once.

For every batch of up to 30 transactions (QuickBooks' batch limit) the exporter:
1. resolves each transaction's accounts and vendor to QuickBooks ids, finding them by name
   or creating them (each create with a request id derived from realm and name, so a
   repeated create answers the first one); an ambiguous name fails that transaction alone;
2. writes the batch's export records as ``sending`` with the batch's request id, derived
   from the realm and the transaction ids, BEFORE the request leaves;
3. sends the batch with that ``requestid`` and records each created object's id and sync
   token (``exported``); a per-item fault fails that transaction alone and drops its record.

A crash between 2 and 3 leaves ``sending`` records: the next attempt (or export) first
re-sends each such batch with the same request id, and QuickBooks answers with the first
response instead of creating anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Final

from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.vendor import Vendor

from bookkeeper_jobs.errors import ServiceUnavailableError
from bookkeeper_jobs.ledger import Account as LedgerAccount
from bookkeeper_jobs.ledger import Ledger, Transaction
from bookkeeper_jobs.lifecycle import bounded
from bookkeeper_jobs.quickbooks import objects
from bookkeeper_jobs.quickbooks.session import QboSession
from bookkeeper_jobs.results import ExportedEntry, ExportFailure

BATCH_SIZE: Final = 10
"""Operations per batch request: Intuit's batch page says up to 10 payloads today (30 in
earlier documentation and in python-quickbooks); 10 is valid under both."""
THROTTLED: Final = 3001
"""QuickBooks' fault code for HTTP 429 (``ThrottleExceeded``)."""
SERVER_FAULTS: Final = 10000
"""Fault codes from here up are QuickBooks' own failures (HTTP 5xx)."""
MAX_LISTED: Final = 20
MAX_MESSAGE_CHARS: Final = 300


class MappingError(Exception):
    """A transaction's account or vendor cannot be mapped (say which and why)."""


@dataclass
class ExportTally:
    exported: int = 0
    failed: int = 0
    entries: list[ExportedEntry] = field(default_factory=list)
    failures: list[ExportFailure] = field(default_factory=list)

    def created(self, transaction_id: str, entity: str, qbo_id: str) -> None:
        self.exported += 1
        if len(self.entries) < MAX_LISTED:
            self.entries.append(
                ExportedEntry(transaction_id=transaction_id, entity=entity, qbo_id=qbo_id)
            )

    def refused(self, transaction_id: str, message: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            text = bounded(message, MAX_MESSAGE_CHARS)
            self.failures.append(ExportFailure(transaction_id=transaction_id, message=text))


class Exporter:
    def __init__(
        self,
        session: QboSession,
        ledger: Ledger,
        company_id: str,
        job_id: str,
        *,
        bank_account: str,
        vendors: Callable[[Sequence[str]], dict[str, str]],
    ) -> None:
        """``vendors(transaction_ids)`` names the vendor of those transactions it knows
        (from matched receipts); the others get none."""
        self.session = session
        self.ledger = ledger
        self.company_id = company_id
        self.job_id = job_id
        self.tally = ExportTally()
        self._bank_account = bank_account
        self._vendor_names = vendors
        self._our_accounts: dict[str, LedgerAccount] = {
            account.code: account for account in ledger.list_accounts(company_id)
        }
        self._account_ids: dict[str, str] = {}
        self._vendor_ids: dict[str, str] = {}
        self._bank_id: str | None = None

    @property
    def realm(self) -> str:
        return self.session.realm_id

    # -- batches -----------------------------------------------------------------------

    def resume_unfinished(self) -> None:
        """Re-send the batches an earlier attempt wrote as ``sending`` and never recorded."""
        book = self.ledger.quickbooks
        pending = book.unfinished(self.company_id, self.realm)
        for request, records in groupby(pending, key=lambda record: record.request_id):
            ids = [record.transaction_id for record in records]
            found = self.ledger.get_transactions(self.company_id, ids)
            vendors = self._vendor_names(ids)
            entries = {t.id: self._entry(t, vendors.get(t.id)) for t in found}
            built = {tid: entry for tid, entry in entries.items() if isinstance(entry, dict)}
            self._send(request, built)

    def export(self, batch: Sequence[Transaction]) -> None:
        """Export one batch (at most :data:`BATCH_SIZE`) of not yet exported transactions."""
        built: dict[str, dict[str, Any]] = {}
        vendors = self._vendor_names([transaction.id for transaction in batch])
        for transaction in batch:
            entry = self._entry(transaction, vendors.get(transaction.id))
            if isinstance(entry, str):
                self.tally.refused(transaction.id, entry)
            else:
                built[transaction.id] = entry
        if not built:
            return
        request = objects.request_id(self.realm, "batch", *sorted(built))
        self.ledger.quickbooks.start_sending(
            self.company_id,
            self.realm,
            self.job_id,
            [(tid, next(iter(entry)), request) for tid, entry in built.items()],
        )
        self._send(request, built)

    def _send(self, request: str, built: dict[str, dict[str, Any]]) -> None:
        # A batch with a requestid takes bIds of at most 10 characters: the item's position,
        # in transaction id order, so a re-sent batch is the same request as the first.
        order = sorted(built)
        body = {
            "BatchItemRequest": [
                {"bId": str(index), "operation": "create", **built[tid]}
                for index, tid in enumerate(order, start=1)
            ]
        }
        client = self.session.client
        url = f"{client.api_url}/company/{self.realm}/batch"
        try:
            answer = self.session.call(
                "export", lambda: client.post(url, json.dumps(body), request_id=request)
            )
        except QuickbooksException as exc:
            if exc.error_code == THROTTLED or (exc.error_code or 0) >= SERVER_FAULTS:
                # Still throttled or failing after the HTTP retries: nothing was created;
                # the records stay "sending" and the job's retry sends the same request.
                raise ServiceUnavailableError(f"QuickBooks Online: {fault_text(exc)}") from exc
            self.ledger.quickbooks.forget_unsent(self.company_id, self.realm, order)
            for tid in order:
                self.tally.refused(tid, f"QuickBooks refused the batch: {fault_text(exc)}")
            return
        items = answer.get("BatchItemResponse") or []
        by_position = {str(index): tid for index, tid in enumerate(order, start=1)}
        for item in items:
            item["bId"] = by_position.get(str(item.get("bId")), "")
        self._record(items, built)

    def _record(self, items: list[dict[str, Any]], built: dict[str, dict[str, Any]]) -> None:
        created: list[tuple[str, str, str]] = []
        refused: list[str] = []
        for item in items:
            tid = str(item.get("bId"))
            if tid not in built:
                continue
            entity = next(iter(built[tid]))
            if "Fault" in item or entity not in item:
                refused.append(tid)
                self.tally.refused(tid, item_fault_text(item.get("Fault") or {}))
                continue
            data = item[entity]
            created.append((tid, str(data["Id"]), str(data.get("SyncToken", "0"))))
            self.tally.created(tid, entity, str(data["Id"]))
        missing = [tid for tid in built if tid not in {c[0] for c in created} | set(refused)]
        for tid in missing:
            self.tally.refused(tid, "QuickBooks did not answer for this transaction")
        book = self.ledger.quickbooks
        book.mark_exported(self.company_id, self.realm, created, self.job_id)
        book.forget_unsent(self.company_id, self.realm, refused + missing)

    # -- building one entry ------------------------------------------------------------

    def _entry(self, transaction: Transaction, vendor: str | None) -> dict[str, Any] | str:
        """``{"Purchase": {...}}`` or ``{"Deposit": {...}}``, or why it cannot be built."""
        try:
            account_id = self._account_id(transaction.category or "")
            bank_id = self._bank_account_id()
            if transaction.amount < 0:
                entry: Any = objects.purchase(
                    transaction,
                    bank_account_id=bank_id,
                    account_id=account_id,
                    vendor_id=self._vendor_id(vendor) if vendor else None,
                )
            else:
                entry = objects.deposit(transaction, bank_account_id=bank_id, account_id=account_id)
        except MappingError as exc:
            return str(exc)
        return {objects.entity_for(transaction): objects.as_json(entry)}

    def _account_id(self, code: str) -> str:
        if code not in self._account_ids:
            ours = self._our_accounts.get(code)
            if ours is None:
                raise MappingError(f"account {code!r} is not in the company's chart")
            self._account_ids[code] = self._find_or_create_account(
                ours.name, lambda: objects.new_account(ours.name, ours.kind)
            )
        return self._account_ids[code]

    def _bank_account_id(self) -> str:
        if self._bank_id is None:
            self._bank_id = self._find_or_create_account(
                self._bank_account,
                lambda: objects.new_bank_account(self._bank_account),
                must_be="Bank",
            )
        return self._bank_id

    def _find_or_create_account(
        self, name: str, make: Callable[[], Account], *, must_be: str | None = None
    ) -> str:
        clean = objects.clean_name(name)
        found = self.session.call(
            "find account", lambda: Account.filter(Name=clean, qb=self.session.client)
        )
        if len(found) > 1:
            raise MappingError(
                f"QuickBooks has {len(found)} accounts named {clean!r}: rename all but one"
            )
        if found:
            account = found[0]
            if must_be and account.AccountType != must_be:
                raise MappingError(
                    f"QuickBooks account {clean!r} is a {account.AccountType} account,"
                    f" not {must_be}"
                )
            return str(account.Id)
        created = make()
        rid = objects.request_id(self.realm, "account", clean)
        self.session.call(
            "create account", lambda: created.save(qb=self.session.client, request_id=rid)
        )
        return str(created.Id)

    def _vendor_id(self, name: str) -> str:
        clean = objects.clean_name(name)
        if clean not in self._vendor_ids:
            found = self.session.call(
                "find vendor", lambda: Vendor.filter(DisplayName=clean, qb=self.session.client)
            )
            if found:
                self._vendor_ids[clean] = str(found[0].Id)
            else:
                vendor = objects.new_vendor(clean)
                rid = objects.request_id(self.realm, "vendor", clean)
                self.session.call(
                    "create vendor", lambda: vendor.save(qb=self.session.client, request_id=rid)
                )
                self._vendor_ids[clean] = str(vendor.Id)
        return self._vendor_ids[clean]


def fault_text(exc: QuickbooksException) -> str:
    detail = f" ({exc.detail})" if getattr(exc, "detail", "") else ""
    return f"{exc.message}{detail}"


def item_fault_text(fault: dict[str, Any]) -> str:
    errors = fault.get("Error") or [{}]
    first = errors[0]
    message = first.get("Message") or "refused"
    detail = first.get("Detail")
    code = first.get("code")
    text = f"QuickBooks: {message}"
    if detail:
        text += f": {detail}"
    return f"{text} (code {code})" if code else text
