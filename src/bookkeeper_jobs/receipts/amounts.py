"""Money on a receipt: amounts in OCR text, the total, the tax and the currency.

The total is the amount on a row whose label says total (``TOTAL``, ``NET TOTAL``, ``TOTAL
PAYABLE``, ``AMOUNT DUE``, ``ROUNDING``...), not on a row that only looks like one (``SUB
TOTAL``, ``TOTAL QTY``, ``TOTAL GST``, ``TOTAL ... EXCL``). Final labels (net, grand,
payable, due, rounded) beat a plain "total"; within one kind the largest amount wins, because a
receipt lists the parts (excluding tax, before rounding up) before the whole.

The payment rows (cash, change, rounding) and the subtotal are read independently of the
total row, so they check it: a total they confirm is surer, and a total row they contradict
gives way to another reading they agree on (one misread digit is the usual cause).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from bookkeeper_jobs.receipts.layout import Row

_AMOUNT: Final = re.compile(
    r"(?<![\d.,/:-])"
    r"(?P<currency>RM|MYR|S\$|US\$|USD|EUR|GBP|SGD|[$€£])?\s?"
    r"(?P<units>\d{1,3}(?:,\d{3})+|\d{1,7}|(?=[.,]\d\d))"
    r"\s?(?P<sep>[.,])\s?(?P<cents>\d{2})"
    r"(?![\d%]|[.,/:-]\d)",
    re.IGNORECASE,
)
_CURRENCIES: Final = {
    "RM": "MYR",
    "MYR": "MYR",
    "S$": "SGD",
    "SGD": "SGD",
    "US$": "USD",
    "USD": "USD",
    "EUR": "EUR",
    "€": "EUR",
    "GBP": "GBP",
    "£": "GBP",
    "$": "$",
}
"""Printed currency -> ISO 4217 code; a bare ``$`` stays ``$`` (which dollar is unknown)."""

_ONE_DECIMAL_AT_END: Final = re.compile(r"(?<![\d.,])(?P<units>\d{1,7})[.,](?P<tenth>\d)\W*$")
"""``174.9`` ending a row: a total whose last zero the printer dropped or OCR lost."""

_FINAL_TOTAL: Final = re.compile(
    r"\b(?:n[ea]tt?|grand|payable|amount\s+due|total\s+due|balance\s+due|rounded|"
    r"rounding|total\s+amount|amount\s+payable|jumlah)\b",
    re.IGNORECASE,
)
_TOTAL: Final = re.compile(r"t\s?[o0]\s?t\s?a\s?[l1i]|\bamount\b|\bjumlah\b", re.IGNORECASE)
_NOT_TOTAL: Final = re.compile(
    r"sub[\s-]?t[o0]tal|taxable|\bqty\b|quantity|\bitems?\b|\bexcl|\bexclud|\bbefore\b|"
    r"adjust|discount|saving|\bchange\b|\btender|\bcash\b|\bpoints?\b|\b0%|\bzero\b|"
    r"supplies|^\W*(?:gst|tax|vat|sst)\b|total\s*(?:gst|tax|vat|sst)|summary",
    re.IGNORECASE,
)
_TAX: Final = re.compile(r"\b(?:gst|vat|sst|tax)\b", re.IGNORECASE)
_NOT_TAX: Final = re.compile(
    r"\b(?:id|reg|no|number|invoice|summary|excl\w*|incl\w*\s+gst\s*\)?\s*$)\b|\bcode\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None
    conf: float


@dataclass(frozen=True)
class Found:
    """A field value with the confidence of the rule and the OCR that found it."""

    value: Decimal
    currency: str | None
    confidence: float


def parse_amount(text: str) -> Decimal | None:
    """``"RM 1,007.50"`` -> ``Decimal("1007.50")``; None when it is not one amount."""
    match = _AMOUNT.search(text.strip())
    return _value(match) if match else None


def _value(match: re.Match[str]) -> Decimal | None:
    units = (match["units"] or "0").replace(",", "")
    try:
        return Decimal(f"{units}.{match['cents']}")
    except InvalidOperation:
        return None


def amounts(row: Row) -> list[Amount]:
    """The amounts printed on a row, left to right."""
    found = []
    for match in _AMOUNT.finditer(row.text):
        value = _value(match)
        if value is None:
            continue
        symbol = match["currency"]
        currency = _CURRENCIES.get(symbol.upper() if symbol else "", None)
        found.append(Amount(value, currency, row.conf_of(match.start(), match.end())))
    return found


def find_total(rows: list[Row]) -> Found | None:
    """The receipt's total: the amount of its best labelled total row (see the module)."""
    candidates: list[tuple[int, Decimal, int, Amount]] = []
    for index, row in enumerate(rows):
        label = row.label_text()
        if not (_TOTAL.search(label) or _FINAL_TOTAL.search(label)) or _NOT_TOTAL.search(label):
            continue
        best = _total_amount(row)
        if best is None:
            continue
        tier = 2 if _FINAL_TOTAL.search(label) else 1
        candidates.append((tier, best.value, index, best))
    if not candidates:
        return _unlabelled_total(rows)
    largest = max(value for _, value, _, _ in candidates)
    # A "rounding" or "net" label beside a tiny amount is an adjustment, not the total.
    plausible = [c for c in candidates if c[1] * 2 >= largest]
    tier, _, _, amount = max(plausible, key=lambda c: (c[0], c[1], c[2]))
    confidence = amount.conf * (0.95 if tier == 2 else 0.85)
    amount, confidence = _cross_checked(rows, amount, confidence, [c[3] for c in plausible])
    currency = amount.currency or receipt_currency(rows)
    return Found(amount.value, currency, round(min(confidence, 0.99), 3))


def _total_amount(row: Row) -> Amount | None:
    """The amount a total row states: its last amount, else a one-decimal amount ending the
    row (``NET TOTAL 174.9``), less sure, since a total has cents."""
    values = amounts(row)
    if values:
        return values[-1]
    match = _ONE_DECIMAL_AT_END.search(row.text)
    if match is None:
        return None
    value = Decimal(f"{match['units']}.{match['tenth']}0")
    return Amount(value, None, row.conf_of(match.start(), match.end()) * 0.8)


def _cross_checked(
    rows: list[Row], chosen: Amount, confidence: float, others: list[Amount]
) -> tuple[Amount, float]:
    """The total checked against the payment rows, which OCR reads independently: the cash
    paid (when no change was given) or cash minus change, and that sum plus or minus a
    printed rounding adjustment (cash settles the rounded total). A chosen total they
    confirm is surer; one they contradict gives way to another total row they confirm, then
    to a subtotal they confirm (nothing was added to it), or to cash minus change when that
    was read with more confidence (a misread digit is the usual cause)."""
    cash = _labelled_amount(rows, _CASH)
    change = _labelled_amount(rows, _CHANGE)
    witnesses: list[Amount] = []
    if cash and change and cash.value > change.value:
        paid = cash.value - change.value
        witnesses.append(Amount(paid, cash.currency, min(cash.conf, change.conf)))
    elif cash and not change:
        witnesses.append(cash)
    if not witnesses or chosen.value in {witness.value for witness in witnesses}:
        return chosen, confidence * (1.1 if witnesses else 1.0)
    if chosen.value in _rounded_both_ways(rows, witnesses):
        rounded = _printed_rounded_total(rows, witnesses)
        return (rounded or chosen), confidence * 1.1
    confirmed = {witness.value for witness in witnesses} | _rounded_both_ways(rows, witnesses)
    subtotal = _labelled_amount(rows, _SUBTOTAL)
    for other in [*others, *([subtotal] if subtotal else [])]:
        if other.value in confirmed:
            return other, other.conf * 0.9
    best_witness = max(witnesses, key=lambda witness: witness.conf)
    if cash and change and best_witness.conf > chosen.conf:
        return best_witness, best_witness.conf * 0.7
    return chosen, confidence * 0.9


def _printed_rounded_total(rows: list[Row], witnesses: list[Amount]) -> Amount | None:
    """The rounded total when a row other than the payment rows states it: the amount due,
    which the payment settles exactly, rather than the total before rounding."""
    paid = {witness.value for witness in witnesses}
    for row in rows:
        if _CASH.search(row.text) or _CHANGE.search(row.text):
            continue
        for amount in amounts(row)[-1:]:
            if amount.value in paid:
                return amount
    return None


def _rounded_both_ways(rows: list[Row], witnesses: list[Amount]) -> set[Decimal]:
    """Each payment witness plus and minus the printed rounding adjustment (its sign is
    printed inconsistently, or lost by OCR)."""
    steps: set[Decimal] = set()
    for row in rows:
        if _ROUNDING.search(row.text):
            steps.update(Decimal(f"0.{cents}") for cents in _CENTS_ONLY.findall(row.text))
    steps.discard(Decimal("0.00"))
    return {w.value + sign * step for w in witnesses for step in steps for sign in (1, -1)}


_CASH: Final = re.compile(r"\b(?:cash|tendered|paid)\b", re.IGNORECASE)
_CHANGE: Final = re.compile(r"\b(?:change|balance)\b", re.IGNORECASE)
_SUBTOTAL: Final = re.compile(r"sub[\s-]?t[o0]tal", re.IGNORECASE)
_ROUNDING: Final = re.compile(r"\bround(?:ing|ed)?\b", re.IGNORECASE)
_CENTS_ONLY: Final = re.compile(r"(?<![\d.,])0?[.,](\d\d)(?![\d.,])")
"""A rounding adjustment: under one unit, signed or not (``-0.02``, ``0.01``)."""


def _labelled_amount(rows: list[Row], label: re.Pattern[str]) -> Amount | None:
    for row in rows:
        values = amounts(row)
        if values and label.search(row.text):
            return values[-1]
    return None


def _unlabelled_total(rows: list[Row]) -> Found | None:
    """No row says total: cash paid minus change given, else the subtotal (less sure)."""
    currency = receipt_currency(rows)
    cash = _labelled_amount(rows, _CASH)
    change = _labelled_amount(rows, _CHANGE)
    if cash and change and cash.value > change.value:
        confidence = min(cash.conf, change.conf) * 0.6
        return Found(cash.value - change.value, currency, round(confidence, 3))
    subtotal = _labelled_amount(rows, _SUBTOTAL)
    if subtotal:
        return Found(subtotal.value, currency, round(subtotal.conf * 0.5, 3))
    return None


def find_tax(rows: list[Row], total: Decimal | None) -> Found | None:
    """The tax amount when printed (GST, VAT, SST, sales tax): the last plausible tax row."""
    best: Found | None = None
    for row in rows:
        label = row.label_text()
        if not _TAX.search(label) or _NOT_TAX.search(label):
            continue
        for amount in amounts(row)[-1:]:
            if amount.value <= 0 or (total is not None and amount.value >= total):
                continue
            confidence = round(amount.conf * 0.8, 3)
            best = Found(amount.value, amount.currency, confidence)
    return best


def receipt_currency(rows: list[Row]) -> str | None:
    """The currency printed most often beside amounts anywhere on the receipt."""
    counts: dict[str, int] = {}
    for row in rows:
        for amount in amounts(row):
            if amount.currency:
                counts[amount.currency] = counts.get(amount.currency, 0) + 1
        if re.search(r"\((?:RM|MYR)\)|\bRM\b", row.text):
            counts["MYR"] = counts.get("MYR", 0) + 1
    return max(counts, key=lambda code: counts[code]) if counts else None
