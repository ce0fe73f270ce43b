"""tesseract through pytesseract: words with their boxes and confidences, grouped in lines.

``image_to_data`` rather than plain text, because the extraction needs the layout: an amount
printed at the right end of a "TOTAL" row is often a separate block for tesseract, and only
the boxes put it back on its row.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Final

import pytesseract
from PIL import Image

from bookkeeper_jobs.errors import OcrFailedError, OcrUnavailableError

INSTALL_HINT: Final = (
    "the tesseract OCR binary is not installed: install it with"
    " `apt-get install tesseract-ocr` (Debian/Ubuntu; `brew install tesseract` on macOS)"
)
PAGE_TIMEOUT: Final = 60.0
"""Seconds one tesseract run may take before the page fails (never a stuck worker)."""


@dataclass
class Word:
    text: str
    conf: float
    """tesseract's confidence, 0-100."""
    left: int
    top: int
    width: int
    height: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def middle(self) -> float:
        return self.top + self.height / 2


@dataclass
class Line:
    """One line as tesseract found it (words left to right)."""

    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def conf(self) -> float:
        """Mean word confidence, 0-1."""
        return sum(w.conf for w in self.words) / len(self.words) / 100 if self.words else 0.0

    @property
    def top(self) -> int:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> int:
        return max(w.bottom for w in self.words)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass
class OcrPage:
    lines: list[Line]
    width: int
    height: int

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def tesseract_available() -> bool:
    """Whether the configured tesseract binary can be found (for readiness checks)."""
    command = str(pytesseract.pytesseract.tesseract_cmd)
    return shutil.which(command) is not None


def recognise(image: Image.Image, *, psm: int, dpi: int | None = None) -> OcrPage:
    """OCR one page image with page segmentation mode ``psm``.

    tesseract's own OpenMP threads are turned off (``OMP_THREAD_LIMIT=1``): on a busy
    machine with few cores they make it several times slower for the same text."""
    os.environ["OMP_THREAD_LIMIT"] = "1"  # inherited by the tesseract subprocess
    config = f"--psm {psm}" + (f" --dpi {dpi}" if dpi else "")
    try:
        data = pytesseract.image_to_data(
            image, config=config, output_type=pytesseract.Output.DICT, timeout=PAGE_TIMEOUT
        )
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailableError(INSTALL_HINT) from None
    except pytesseract.TesseractError as exc:
        raise OcrFailedError(f"tesseract failed: {exc.message}") from None
    except RuntimeError as exc:  # pytesseract's timeout
        raise OcrFailedError(f"tesseract: {exc} after {PAGE_TIMEOUT:g} s") from None
    return OcrPage(_lines(data), image.width, image.height)


def _lines(data: dict[str, list[object]]) -> list[Line]:
    lines: dict[tuple[object, ...], Line] = {}
    for i, raw in enumerate(data["text"]):
        text = str(raw).strip()
        conf = float(str(data["conf"][i]))
        if not text or conf < 0:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, Line()).words.append(
            Word(
                text=text,
                conf=conf,
                left=int(str(data["left"][i])),
                top=int(str(data["top"][i])),
                width=int(str(data["width"][i])),
                height=int(str(data["height"][i])),
            )
        )
    return sorted(lines.values(), key=lambda line: (line.top, line.words[0].left))
