"""Our transactions as QuickBooks Online objects (python-quickbooks' classes), and the stable
request ids that make each create happen once.

- Money out is a ``Purchase`` paid from the bank account (``PaymentType`` ``Cash``, as
  QuickBooks records a debit from a bank account) with one ``AccountBasedExpenseLineDetail``
  line on the transaction's account, and the vendor when one is known.
- Money in is a ``Deposit`` into the bank account with one ``DepositLineDetail`` line on the
  transaction's account: income for a sale, the expense account itself for a refund (which
  lowers that expense).
- ``PrivateNote`` names our transaction id, so a person can trace an entry back.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.deposit import Deposit, DepositLine, DepositLineDetail
from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
from quickbooks.objects.purchase import Purchase
from quickbooks.objects.vendor import Vendor

from bookkeeper_jobs.ledger import Transaction

REQUEST_NAMESPACE: Final = uuid.UUID("6f1c2c8e-7d1a-4b55-9a43-0d7c3c1b9e21")
"""Request ids are UUID5 in this namespace: the same input gives the same id, anywhere."""
ACCOUNT_TYPES: Final = {
    "expense": "Expense",
    "income": "Income",
    "asset": "Other Current Asset",
    "liability": "Other Current Liability",
    "equity": "Equity",
}
"""Our account kinds as QuickBooks ``AccountType`` for accounts the export creates."""
MAX_NAME_CHARS: Final = 100
"""QuickBooks account names are at most 100 characters (vendor names 500: we keep 100)."""
MAX_DESCRIPTION_CHARS: Final = 4000


def request_id(*parts: str) -> str:
    """A ``requestid`` derived from ``parts`` (realm, what, which): stable across attempts."""
    return uuid.uuid5(REQUEST_NAMESPACE, "|".join(parts)).hex


def ref(value: str, name: str | None = None, kind: str | None = None) -> Ref:
    reference = Ref()
    reference.value = value
    if name is not None:
        reference.name = name
    if kind is not None:
        reference.type = kind
    return reference


def clean_name(name: str) -> str:
    """A name QuickBooks accepts: no colon (its sub-account separator), tabs or newlines,
    at most :data:`MAX_NAME_CHARS` characters."""
    cleaned = " ".join(name.replace(":", " ").split())
    return cleaned[:MAX_NAME_CHARS].strip()


def new_account(name: str, kind: str) -> Account:
    account = Account()
    account.Name = clean_name(name)
    account.AccountType = ACCOUNT_TYPES[kind]
    return account


def new_bank_account(name: str) -> Account:
    account = Account()
    account.Name = clean_name(name)
    account.AccountType = "Bank"
    return account


def new_vendor(name: str) -> Vendor:
    vendor = Vendor()
    vendor.DisplayName = clean_name(name)
    return vendor


def entity_for(transaction: Transaction) -> str:
    return "Purchase" if transaction.amount < 0 else "Deposit"


def purchase(
    transaction: Transaction, *, bank_account_id: str, account_id: str, vendor_id: str | None
) -> Purchase:
    line = AccountBasedExpenseLine()
    line.Amount = amount(transaction)
    line.Description = transaction.description[:MAX_DESCRIPTION_CHARS]
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = ref(account_id)
    entry = Purchase()
    entry.PaymentType = "Cash"
    entry.AccountRef = ref(bank_account_id)
    entry.TxnDate = transaction.date.isoformat()
    entry.PrivateNote = note_for(transaction)
    entry.Line = [line]
    if vendor_id is not None:
        entry.EntityRef = ref(vendor_id, kind="Vendor")
    return entry


def deposit(transaction: Transaction, *, bank_account_id: str, account_id: str) -> Deposit:
    line = DepositLine()
    line.Amount = amount(transaction)
    line.Description = transaction.description[:MAX_DESCRIPTION_CHARS]
    line.DepositLineDetail = DepositLineDetail()
    line.DepositLineDetail.AccountRef = ref(account_id)
    entry = Deposit()
    entry.DepositToAccountRef = ref(bank_account_id)
    entry.TxnDate = transaction.date.isoformat()
    entry.PrivateNote = note_for(transaction)
    entry.Line = [line]
    return entry


def amount(transaction: Transaction) -> float:
    """The line amount as a JSON number, as Intuit's examples send it (a two-decimal amount
    under 10^13 round-trips exactly through a float's shortest repr)."""
    return float(abs(transaction.amount))


def note_for(transaction: Transaction) -> str:
    return f"bookkeeper-jobs transaction {transaction.id}"


def as_json(entry: Purchase | Deposit | Account | Vendor) -> dict[str, Any]:
    """The object as python-quickbooks sends it (its own serialisation)."""
    data: dict[str, Any] = json.loads(entry.to_json())
    return data
