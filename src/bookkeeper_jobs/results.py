"""What each job type returns: one pydantic model per task, stored as the job's ``result``.

The task functions build these models; the attempt runner stores ``model_dump(mode="json")``
and the API's OpenAPI schema shows them, so every field carries a description. The JSON is
exactly what the tasks returned as plain dicts before the models existed: the upload result's
``cancelled`` and ``categorization`` keys are still left out when they do not apply.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _is_false(value: bool) -> bool:
    return not value


def _is_none(value: object) -> bool:
    return value is None


class _Result(BaseModel):
    # Results are written once by a task and then only read: refuse stray keys and edits.
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorizedBySource(_Result):
    """How many target rows each source decided."""

    rule: int = Field(ge=0, description="Rows a categorization rule matched.")
    model: int = Field(
        ge=0, description="Rows the trained model categorized confidently (decision `auto`)."
    )
    uncategorized: int = Field(
        ge=0,
        description="Rows put in the Uncategorized account (no rule, no confident guess; "
        "some carry a suggestion for review).",
    )


class CategorizerModelInfo(_Result):
    """The model trained for this run, from the company's approved transactions."""

    trained: bool = Field(
        description="Whether a model was trained; without enough examples only rules apply."
    )
    examples: int = Field(ge=0, description="Approved, categorized transactions trained on.")
    classes: int = Field(ge=0, description="Distinct categories among those examples.")
    threshold: float = Field(
        description="The auto-apply threshold: at or above this calibrated confidence the "
        "model books its category; below it a row goes to Uncategorized (with a suggestion "
        "at or above `suggest_threshold`). Chosen by cross-validation on the training data "
        "as the lowest with at least 95% precision; 1.0 when none reached it (nothing booked)."
    )


class CategorizeResult(_Result):
    """The result of a ``categorize`` job (and of the upload's categorizing step)."""

    company_id: str = Field(description="The company whose transactions were categorized.")
    requested: int = Field(ge=0, description="Target rows: distinct ids given, or rows pending.")
    processed: int = Field(ge=0, description="Target rows looked at before the run ended.")
    categorized: int = Field(ge=0, description="Rows whose category this run saved.")
    by_source: CategorizedBySource = Field(description="Rows looked at, by what decided them.")
    skipped: int = Field(
        ge=0, description="Rows left alone: a person set or approved their category."
    )
    unknown_count: int = Field(
        ge=0, description="Given ids that do not exist or belong to another company."
    )
    unknown_ids: list[str] = Field(description="The first 100 of those ids.")
    cancelled: bool = Field(description="Whether the run stopped early on a cancel request.")
    model: CategorizerModelInfo = Field(description="The model this run trained.")
    auto_applied: int = Field(
        default=0, ge=0, description="Rows booked automatically: a rule, or the model's `auto`."
    )
    suggested: int = Field(
        default=0,
        ge=0,
        description="Rows left in Uncategorized with the model's suggestion stored for review.",
    )
    left: int = Field(
        default=0,
        ge=0,
        description="Rows left in Uncategorized without a suggestion (decision `none`).",
    )
    suggest_threshold: float = Field(
        default=1.0,
        description="At or above this calibrated confidence (and below `model.threshold`) "
        "the model's guess is stored as a suggestion, not booked; chosen by "
        "cross-validation on the training data (suggestions near it are right at least half "
        "the time). 1.0 without a model.",
    )


class BulkApproveResult(_Result):
    """The result of a ``bulk-approve`` job."""

    company_id: str = Field(description="The company whose transactions were approved.")
    requested: int = Field(ge=0, description="Distinct transaction ids given.")
    processed: int = Field(ge=0, description="Ids handled before the run ended.")
    approved: int = Field(ge=0, description="Transactions this run approved.")
    already_approved: int = Field(ge=0, description="Transactions that were approved before.")
    not_found_count: int = Field(
        ge=0, description="Ids that do not exist or belong to another company."
    )
    not_found: list[str] = Field(description="The first 100 of those ids.")
    cancelled: bool = Field(description="Whether the run stopped early on a cancel request.")


class UploadRowError(_Result):
    """A statement row that was not imported."""

    line: int = Field(description="The row's line in the uploaded file.")
    message: str = Field(description="What is wrong with the row.")


class UploadAndCategorizeResult(_Result):
    """The result of an ``upload-and-categorize`` job."""

    filename: str = Field(description="The uploaded file's name.")
    rows: int = Field(ge=0, description="Good rows read from the file.")
    imported: int = Field(ge=0, description="Rows added to the ledger.")
    duplicates: int = Field(
        ge=0, description="Good rows already in the ledger (a re-run or a re-upload)."
    )
    row_errors: int = Field(ge=0, description="Rows not imported because of an error.")
    errors: list[UploadRowError] = Field(description="The first 20 of those rows.")
    error_report: str | None = Field(
        default=None,
        exclude_if=_is_none,  # absent when every row was good
        description="Where to download every bad row as CSV (`line,error`), when there are any.",
    )
    cancelled: bool = Field(
        default=False,
        exclude_if=_is_false,  # the key is present (and true) only when cancelled
        description="Present and true when the import stopped early on a cancel request.",
    )
    categorization: CategorizeResult | None = Field(
        default=None,
        exclude_if=_is_none,  # absent when cancelled: nothing was categorized
        description="How the imported rows were categorized; absent when cancelled.",
    )


class OcrResult(_Result):
    """The result of an ``ocr`` job: the fields read and the match, in short (the receipt,
    ``GET /api/receipts/{receipt_id}``, has the full text, confidences and candidates)."""

    receipt_id: str = Field(description="The receipt read.")
    receipt: str = Field(description="Where to read the receipt with its extraction and match.")
    vendor: str | None = Field(default=None, description="The vendor's name as printed.")
    date: dt.date | None = Field(default=None, description="The receipt's date.")
    total: Decimal | None = Field(default=None, description="The amount paid.")
    currency: str | None = Field(default=None, description="ISO 4217 code, or the symbol.")
    tax: Decimal | None = Field(default=None, description="Tax, when printed.")
    confidence: dict[str, float] = Field(
        default_factory=dict, description="0-1 per field found (vendor is `company`)."
    )
    pages: int = Field(default=0, ge=0, description="Pages read.")
    match_status: Literal["matched", "ambiguous", "unmatched"] | None = Field(
        default=None,
        description="Whether a transaction of the company matched; absent when cancelled.",
    )
    matched_transaction_id: str | None = Field(
        default=None, description="The transaction the receipt matched (`matched` only)."
    )
    match_score: float | None = Field(
        default=None, description="0-1: the best candidate's score, when there was one."
    )
    cancelled: bool = Field(
        default=False,
        exclude_if=_is_false,
        description="Present and true when the job stopped between pages on a cancel request.",
    )


class ExportedEntry(_Result):
    """A transaction created in QuickBooks Online."""

    transaction_id: str
    entity: Literal["Purchase", "Deposit"] = Field(description="What it became.")
    qbo_id: str = Field(description="Its id in QuickBooks.")


class ExportFailure(_Result):
    """A transaction that was not exported, and why (the export went on without it)."""

    transaction_id: str
    message: str = Field(description="QuickBooks' fault, or the mapping problem.")


class ExportQboResult(_Result):
    """The result of an ``export-qbo`` job."""

    start_date: dt.date
    end_date: dt.date
    destination: Literal["quickbooks", "csv", "iif"] = Field(
        description="Where the transactions went: QuickBooks Online, or a file to import."
    )
    realm_id: str | None = Field(default=None, description="The QuickBooks company exported to.")
    exported: int = Field(ge=0, description="Transactions created in QuickBooks (or written).")
    skipped: int = Field(ge=0, description="Transactions in the range exported before.")
    failed: int = Field(
        ge=0, description="Transactions QuickBooks refused or that could not be mapped."
    )
    entries: list[ExportedEntry] = Field(
        default_factory=list, description="The first 20 objects created."
    )
    failures: list[ExportFailure] = Field(
        default_factory=list, description="The first 20 failures, each with its reason."
    )
    file: str | None = Field(
        default=None,
        exclude_if=_is_none,
        description="Where to download the file written (csv, iif): `GET /api/artifacts/{id}`.",
    )
    cancelled: bool = Field(
        default=False,
        exclude_if=_is_false,
        description="Present and true when the export stopped early on a cancel request.",
    )
