"""Export files QuickBooks imports, for a company with no connection.

- ``csv``: QuickBooks Online's bank transactions upload, three columns (``Date``,
  ``Description``, ``Amount``; money out negative; dates ``MM/DD/YYYY``, one of the formats
  its importer offers). Cells are formula-safe: a description a spreadsheet would run as a
  formula starts with ``'``.
- ``iif``: the Intuit Interchange Format (QuickBooks Desktop and importers): one ``TRNS`` /
  ``SPL`` / ``ENDTRNS`` block per transaction, a ``CHECK`` out of the bank account or a
  ``DEPOSIT`` into it, split against the transaction's account. Tabs and line breaks in
  text (the format's separators) become spaces.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final, Literal

from bookkeeper_jobs.ledger import Transaction
from bookkeeper_jobs.tasks.error_report import safe_cell

FileFormat = Literal["csv", "iif"]
CONTENT_TYPES: Final[dict[FileFormat, str]] = {
    "csv": "text/csv; charset=utf-8",
    "iif": "text/plain; charset=utf-8",
}
_IIF_HEADER: Final = (
    "!TRNS\tTRNSTYPE\tDATE\tACCNT\tNAME\tAMOUNT\tMEMO\n"
    "!SPL\tTRNSTYPE\tDATE\tACCNT\tNAME\tAMOUNT\tMEMO\n"
    "!ENDTRNS\n"
)


def us_date(transaction: Transaction) -> str:
    return transaction.date.strftime("%m/%d/%Y")


def bank_csv(transactions: Iterable[Transaction]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Date", "Description", "Amount"])
    for transaction in transactions:
        writer.writerow(
            [us_date(transaction), safe_cell(transaction.description), str(transaction.amount)]
        )
    return out.getvalue()


def iif(
    transactions: Iterable[Transaction], account_names: Mapping[str, str], bank_account: str
) -> str:
    """``account_names`` maps our account codes to the names to book against."""
    out = io.StringIO()
    out.write(_IIF_HEADER)
    for transaction in transactions:
        kind = "CHECK" if transaction.amount < 0 else "DEPOSIT"
        account = account_names.get(transaction.category or "", transaction.category or "")
        day, memo = us_date(transaction), _field(transaction.description)
        amount: Decimal = transaction.amount
        out.write(_row("TRNS", kind, day, _field(bank_account), amount, memo))
        out.write(_row("SPL", kind, day, _field(account), -amount, memo))
        out.write("ENDTRNS\n")
    return out.getvalue()


def _row(tag: str, kind: str, day: str, account: str, amount: Decimal, memo: str) -> str:
    return "\t".join([tag, kind, day, account, "", str(amount), memo]) + "\n"


def _field(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())
