"""The bookkeeping data the tasks work on (SQLAlchemy; SQLite by default, PostgreSQL in a
cluster): companies, chart of accounts, transactions and categorization rules."""

from __future__ import annotations

from bookkeeper_jobs.ledger.accounts import DEFAULT_CHART, UNCATEGORIZED, AccountKind, AccountSpec
from bookkeeper_jobs.ledger.engine import create_ledger_engine, task_errors
from bookkeeper_jobs.ledger.fingerprint import (
    normalize_description,
    to_cents,
    transaction_fingerprint,
)
from bookkeeper_jobs.ledger.ledger import Ledger
from bookkeeper_jobs.ledger.records import (
    Account,
    Approval,
    ApprovalOutcome,
    Booking,
    CategoryAssignment,
    CategorySource,
    NewTransaction,
    Rule,
    RuleKind,
    TrainingExample,
    Transaction,
    new_transaction_problem,
)

__all__ = [
    "DEFAULT_CHART",
    "UNCATEGORIZED",
    "Account",
    "AccountKind",
    "AccountSpec",
    "Approval",
    "ApprovalOutcome",
    "Booking",
    "CategoryAssignment",
    "CategorySource",
    "Ledger",
    "NewTransaction",
    "Rule",
    "RuleKind",
    "TrainingExample",
    "Transaction",
    "create_ledger_engine",
    "new_transaction_problem",
    "normalize_description",
    "task_errors",
    "to_cents",
    "transaction_fingerprint",
]
