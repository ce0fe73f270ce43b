"""What a bank-statement parse produces: one :class:`ParsedRow` per transaction, one
:class:`RowError` per row that could not be read, and :class:`StatementFormatError` when the
whole file is unusable (the API answers that with a 4xx and the message).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from bookkeeper_jobs.errors import StatementFormatError

__all__ = ["ParsedRow", "RowError", "StatementFormatError"]


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    """1-based line number in the file where the row starts (a CSV header is a line too)."""
    date: datetime.date
    description: str
    amount: Decimal
    """Negative is money out (a debit), positive is money in."""
    currency: str
    """From a currency column (or an OFX currency) if present, else the default."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str
