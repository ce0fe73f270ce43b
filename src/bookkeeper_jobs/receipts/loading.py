"""Loading a receipt file into page images, judged by its content, never by its name.

Accepted: JPEG, PNG, TIFF (every frame) and PDF (every page, rendered with pypdfium2).
Every limit is checked from the header before anything is decoded, so a PDF with thousands of
pages or an image of 20,000 x 20,000 pixels is refused at once with ``ReceiptTooLargeError``
instead of filling the memory of a worker.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final, Literal

import pypdfium2
from PIL import Image, ImageSequence

from bookkeeper_jobs.errors import (
    CorruptReceiptError,
    EmptyReceiptError,
    ReceiptTooLargeError,
    UnsupportedReceiptTypeError,
)

ReceiptKind = Literal["jpeg", "png", "tiff", "pdf"]

ACCEPTED_TYPES: Final = "JPEG, PNG, TIFF or PDF"
MAX_PAGES: Final = 20
"""Pages (PDF) or frames (TIFF) per receipt: a long invoice fits, a PDF bomb does not."""
MAX_PAGE_PIXELS: Final = 40_000_000
"""Pixels per page image (about A3 at 400 DPI); a 20,000 x 20,000 image is ten times that."""
PDF_RENDER_DPI: Final = 300
"""PDF pages are rendered at this resolution (tesseract reads best at about 300 DPI)."""
_PDF_SCALE: Final = PDF_RENDER_DPI / 72

_MAGIC: Final[tuple[tuple[bytes, ReceiptKind], ...]] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
_PDF_MAGIC: Final = b"%PDF-"
_PDF_MAGIC_WINDOW: Final = 1024
"""PDF readers accept the header anywhere in the first KiB (after junk some tools prepend)."""


CONTENT_TYPES: Final[dict[ReceiptKind, str]] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class ReceiptFileInfo:
    """What the header of a receipt file says, checked against the limits."""

    kind: ReceiptKind
    pages: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]


@dataclass(frozen=True)
class ReceiptPage:
    """One page of a receipt as an image, with the resolution it is known to have."""

    image: Image.Image
    dpi: float | None
    """Known resolution (PDF pages: the render DPI); None when a scan does not say."""


def sniff(data: bytes) -> ReceiptKind:
    """The receipt type from the first bytes; refuses empty and unsupported content."""
    if not data:
        raise EmptyReceiptError("the receipt file is empty")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW]:
        return "pdf"
    raise UnsupportedReceiptTypeError(
        f"not a receipt image or PDF: the content is none of {ACCEPTED_TYPES}"
    )


def inspect_receipt(data: bytes) -> ReceiptFileInfo:
    """The type and page count of the receipt in ``data``, every limit checked from the
    headers without decoding a pixel (what an upload is checked with before it is stored).
    A file that passes may still be damaged further in: reading it says so."""
    kind = sniff(data)
    if kind == "pdf":
        document = _open_pdf(data)
        try:
            return ReceiptFileInfo(kind, _check_pdf(document))
        finally:
            document.close()
    image = _open_image(data)
    sizes = _frame_sizes(image)
    return ReceiptFileInfo(kind, len(sizes))


def load_pages(data: bytes) -> list[ReceiptPage]:
    """Every page of the receipt in ``data`` as an image, each within the limits."""
    kind = sniff(data)
    if kind == "pdf":
        return _pdf_pages(data)
    return _image_pages(data)


def _check_pixels(width: int, height: int, where: str) -> None:
    if width <= 0 or height <= 0:
        raise CorruptReceiptError(f"{where} has no pixels ({width} x {height})")
    if width * height > MAX_PAGE_PIXELS:
        raise ReceiptTooLargeError(
            f"{where} is {width} x {height} pixels, more than the limit of"
            f" {MAX_PAGE_PIXELS:,} pixels per page"
        )


def _open_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is lower and says more than Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ReceiptTooLargeError(
            f"the image has more than {MAX_PAGE_PIXELS:,} pixels per page"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptReceiptError(f"the image cannot be read: {exc}") from None
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_PAGES:
        raise ReceiptTooLargeError(f"the image has {frames} pages, more than {MAX_PAGES}")
    return image


def _frame_sizes(image: Image.Image) -> list[tuple[int, int]]:
    """Each frame's size, checked, from the frame headers (no pixel decoded)."""
    sizes = []
    try:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            _check_pixels(frame.width, frame.height, f"page {number}")
            sizes.append(frame.size)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptReceiptError(f"the image is truncated or damaged: {exc}") from None
    return sizes


def _image_pages(data: bytes) -> list[ReceiptPage]:
    image = _open_image(data)
    pages = []
    try:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            _check_pixels(frame.width, frame.height, f"page {number}")
            frame.load()
            pages.append(ReceiptPage(frame.copy(), _image_dpi(frame)))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptReceiptError(f"the image is truncated or damaged: {exc}") from None
    return pages


def _image_dpi(image: Image.Image) -> float | None:
    """The horizontal DPI the file states, if it is plausible for a scan (many say 72 or 1)."""
    dpi = image.info.get("dpi")
    if not dpi:
        return None
    try:
        value = float(dpi[0])
    except (TypeError, ValueError, IndexError):
        return None
    return value if 100 <= value <= 1200 else None


def _open_pdf(data: bytes) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise CorruptReceiptError(f"the PDF cannot be read: {exc}") from None


def _check_pdf(document: pypdfium2.PdfDocument) -> int:
    """The page count, after checking it and every page's size at the render DPI."""
    try:
        count = len(document)
        if count == 0:
            raise CorruptReceiptError("the PDF has no pages")
        if count > MAX_PAGES:
            raise ReceiptTooLargeError(f"the PDF has {count} pages, more than {MAX_PAGES}")
        for index in range(count):
            width, height = document[index].get_size()
            size = (round(width * _PDF_SCALE), round(height * _PDF_SCALE))
            _check_pixels(*size, f"PDF page {index + 1} at {PDF_RENDER_DPI} DPI")
    except pypdfium2.PdfiumError as exc:
        raise CorruptReceiptError(f"the PDF is damaged: {exc}") from None
    return count


def _pdf_pages(data: bytes) -> list[ReceiptPage]:
    document = _open_pdf(data)
    try:
        count = _check_pdf(document)
        pages = []
        for index in range(count):
            bitmap = document[index].render(scale=_PDF_SCALE, grayscale=True)
            pages.append(ReceiptPage(bitmap.to_pil(), float(PDF_RENDER_DPI)))
        return pages
    except pypdfium2.PdfiumError as exc:
        raise CorruptReceiptError(f"the PDF is damaged: {exc}") from None
    finally:
        document.close()
