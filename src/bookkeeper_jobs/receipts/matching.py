"""Matching a receipt to the ledger transaction that paid it.

A candidate must have the receipt's total (money out or in, within a cent, or within the
currency's cash rounding: a cash price in Malaysia or Switzerland is rounded to 5 cents) and
a date within :data:`WINDOW_DAYS` of the receipt's (a card payment posts a few days later).
Among candidates the score adds how close the dates are and how alike the vendor and the
bank's description are. The best candidate is the match unless another scores nearly as
well (two identical coffees on one day): then the receipt is left ``ambiguous`` for a person,
with both named. Candidates only ever come from the receipt's own company (the caller's
query is by company).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from bookkeeper_jobs.receipts.model import ReceiptExtraction

if TYPE_CHECKING:  # the ledger imports this module for its match model
    from bookkeeper_jobs.ledger.records import Transaction

WINDOW_DAYS: Final = 5
"""How far apart the receipt's and the transaction's dates may be."""
AMOUNT_WEIGHT: Final = 0.5
"""An equal amount is required; it is half the score."""
DATE_WEIGHT: Final = 0.25
VENDOR_WEIGHT: Final = 0.25
MIN_SCORE: Final = 0.6
"""Below this no candidate is a match (an equal amount days apart from another vendor)."""
MIN_LEAD: Final = 0.05
"""The best candidate must lead the runner-up by this much, else the match is ambiguous."""
CENT: Final = Decimal("0.01")
CASH_ROUNDING: Final[dict[str, Decimal]] = {
    "MYR": Decimal("0.05"),
    "CHF": Decimal("0.05"),
    "AUD": Decimal("0.05"),
    "NZD": Decimal("0.10"),
    "CAD": Decimal("0.05"),
    "SGD": Decimal("0.05"),
}
"""Currencies whose cash payments are rounded (the printed total may be before rounding)."""
_LEGAL_SUFFIXES: Final = re.compile(
    r"\b(SDN\.?\s*BHD|BHD|LTD|LIMITED|LLC|INC|CORP|CO|PLC|GMBH|S\.?A|PTE|ENTERPRISE|TRADING)\b\.?"
)
_NOISE: Final = re.compile(r"[^A-Z ]+")
MIN_PARTIAL_CHARS: Final = 4
"""A brand word shorter than this is never looked for inside a description."""
BRAND_WEIGHT: Final = 0.9
"""The vendor's first word found in a description counts this much of a whole-name match."""

MatchStatus = Literal["matched", "ambiguous", "unmatched"]


class MatchCandidate(BaseModel):
    """A transaction that could be the receipt's payment, with why."""

    transaction_id: str
    score: float = Field(description="0-1: amount equal (0.5), date close, vendor alike.")
    date: dt.date
    amount: Decimal
    description: str
    days_apart: int
    vendor_similarity: float = Field(description="0-1, vendor against the description.")


class ReceiptMatch(BaseModel):
    """What matching found: the match (or why none), and the runner-up."""

    status: MatchStatus
    transaction: MatchCandidate | None = Field(
        None, description="The matched transaction (``matched``), or the best candidate."
    )
    runner_up: MatchCandidate | None = Field(None, description="The second-best candidate.")
    reason: str = Field("", description="Why the receipt is unmatched or ambiguous.")

    @property
    def transaction_id(self) -> str | None:
        """The matched transaction's id; None unless ``matched``."""
        return (
            self.transaction.transaction_id
            if self.status == "matched" and self.transaction
            else None
        )


def amount_tolerance(currency: str | None) -> Decimal:
    """How far a transaction's amount may be from the receipt's total."""
    return max(CENT, CASH_ROUNDING.get((currency or "").upper(), CENT))


def search_window(receipt_date: dt.date) -> tuple[dt.date, dt.date]:
    span = dt.timedelta(days=WINDOW_DAYS)
    return receipt_date - span, receipt_date + span


def match_receipt(extraction: ReceiptExtraction, candidates: Sequence[Transaction]) -> ReceiptMatch:
    """The match of ``extraction`` among ``candidates`` (the company's transactions near the
    receipt's total and date; others are ignored)."""
    if extraction.total is None:
        return ReceiptMatch(status="unmatched", reason="no total was read from the receipt")
    if extraction.date is None:
        return ReceiptMatch(status="unmatched", reason="no date was read from the receipt")
    scored = sorted(
        (
            found
            for transaction in candidates
            if (found := score(extraction, transaction)) is not None
        ),
        key=lambda candidate: (-candidate.score, candidate.days_apart, candidate.transaction_id),
    )
    best = scored[0] if scored else None
    runner_up = scored[1] if len(scored) > 1 else None
    if best is None or best.score < MIN_SCORE:
        return ReceiptMatch(
            status="unmatched",
            transaction=best,
            runner_up=runner_up,
            reason=f"no transaction of {extraction.total} within {WINDOW_DAYS} days"
            + (" with a similar vendor" if best else ""),
        )
    if runner_up is not None and best.score - runner_up.score < MIN_LEAD:
        return ReceiptMatch(
            status="ambiguous",
            transaction=best,
            runner_up=runner_up,
            reason="two transactions fit the receipt about equally well",
        )
    return ReceiptMatch(status="matched", transaction=best, runner_up=runner_up)


def score(extraction: ReceiptExtraction, transaction: Transaction) -> MatchCandidate | None:
    """How well ``transaction`` fits the receipt; None when the amount or date rule it out."""
    assert extraction.total is not None and extraction.date is not None
    tolerance = amount_tolerance(extraction.currency or transaction.currency)
    if abs(abs(transaction.amount) - abs(extraction.total)) > tolerance:
        return None
    days = abs((transaction.date - extraction.date).days)
    if days > WINDOW_DAYS:
        return None
    similarity = vendor_similarity(extraction.company, transaction.description)
    total = (
        AMOUNT_WEIGHT + DATE_WEIGHT * (1 - days / (WINDOW_DAYS + 1)) + VENDOR_WEIGHT * similarity
    )
    return MatchCandidate(
        transaction_id=transaction.id,
        score=round(total, 3),
        date=transaction.date,
        amount=transaction.amount,
        description=transaction.description,
        days_apart=days,
        vendor_similarity=round(similarity, 3),
    )


def vendor_similarity(vendor: str | None, description: str) -> float:
    """0-1: how alike the receipt's vendor and a bank description are. Legal suffixes,
    digits and punctuation are dropped (banks print "POS STARBUCKS #1234 KL" for "Starbucks
    Coffee Sdn Bhd"), and the name's first word, where the brand usually is, may stand for
    it inside the description (slightly less than the whole name would)."""
    if not vendor:
        return 0.0
    name = _core_name(vendor)
    text = _core_name(description)
    if not name or not text:
        return 0.0
    best = fuzz.token_set_ratio(name, text) / 100
    brand = name.split()[0]
    if len(brand) >= MIN_PARTIAL_CHARS:
        best = max(best, BRAND_WEIGHT * fuzz.partial_ratio(brand, text) / 100)
    return float(best)


def _core_name(text: str) -> str:
    upper = _LEGAL_SUFFIXES.sub(" ", text.upper())
    return " ".join(_NOISE.sub(" ", upper).split())
