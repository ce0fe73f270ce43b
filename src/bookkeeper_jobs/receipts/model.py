"""What the extraction returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field


class ReceiptExtraction(BaseModel):
    """The fields read from one receipt; a field not found is None and has no confidence."""

    company: str | None = Field(None, description="The vendor's name as printed.")
    date: dt.date | None = Field(None, description="The receipt's date (ISO 8601 in JSON).")
    total: Decimal | None = Field(None, description="The amount paid, as printed.")
    currency: str | None = Field(
        None,
        description="ISO 4217 code when printed unambiguously (RM -> MYR), else the printed"
        " symbol ($); None when no currency is printed.",
    )
    tax: Decimal | None = Field(None, description="Tax (GST, VAT, SST) when printed.")
    confidence: dict[str, float] = Field(
        default_factory=dict,
        description="0-1 per field found (company, date, total, tax): the OCR confidence of"
        " its words times how strongly the rule that found it identifies the field.",
    )
    text: str = Field("", description="The full OCR text, page after page.")
    pages: int = Field(0, description="Pages read (PDF pages, TIFF frames; 1 for an image).")
