"""Receipt files judged by content, every page read, bad files refused at once."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pypdfium2
import pytest
from PIL import Image

from bookkeeper_jobs.errors import (
    CorruptReceiptError,
    EmptyReceiptError,
    ReceiptFileError,
    ReceiptTooLargeError,
    UnsupportedReceiptTypeError,
)
from bookkeeper_jobs.receipts import MAX_PAGES, extract_receipt
from bookkeeper_jobs.receipts.loading import PDF_RENDER_DPI, load_pages, sniff
from tests.unit.receipts.conftest import RECEIPT_IDS, receipt_bytes

QUICK = 5.0
"""Seconds a refusal may take at most on a busy machine (it is about 0.1 s)."""


def _image_bytes(fmt: str, frames: int = 1, size: tuple[int, int] = (60, 40)) -> bytes:
    images = [Image.new("L", size, 255) for _ in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format=fmt, save_all=frames > 1, append_images=images[1:])
    return out.getvalue()


def _pdf_bytes(pages: int, width: float = 226.0, height: float = 600.0) -> bytes:
    document = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        document.new_page(width, height)
    out = io.BytesIO()
    document.save(out)
    document.close()
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _huge_png(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of side x side white pixels: about 60 KB on disk, 400 megapixels."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("fmt", "kind"), [("JPEG", "jpeg"), ("PNG", "png"), ("TIFF", "tiff")])
def test_images_are_judged_by_content(fmt: str, kind: str) -> None:
    data = _image_bytes(fmt)
    assert sniff(data) == kind
    [page] = load_pages(data)
    assert page.image.size == (60, 40)


def test_every_frame_of_a_tiff_and_every_page_of_a_pdf_is_read() -> None:
    assert len(load_pages(_image_bytes("TIFF", frames=3))) == 3
    pages = load_pages(_pdf_bytes(2, width=72, height=144))
    assert [page.image.size for page in pages] == [(PDF_RENDER_DPI, 2 * PDF_RENDER_DPI)] * 2
    assert all(page.dpi == PDF_RENDER_DPI for page in pages)


def _refused(data: bytes, error: type[ReceiptFileError], match: str) -> None:
    started = time.perf_counter()
    with pytest.raises(error, match=match):
        extract_receipt(data, filename="receipt.jpg")
    assert time.perf_counter() - started < QUICK


def test_an_empty_file_is_refused() -> None:
    _refused(b"", EmptyReceiptError, "empty")


def test_a_truncated_jpeg_is_refused() -> None:
    data = receipt_bytes(RECEIPT_IDS[0])
    _refused(data[: len(data) // 2], CorruptReceiptError, "truncated|damaged|cannot be read")


def test_a_zip_renamed_jpg_is_refused_naming_the_accepted_types() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("receipt.jpg", receipt_bytes(RECEIPT_IDS[0]))
    _refused(archive.getvalue(), UnsupportedReceiptTypeError, "JPEG, PNG, TIFF or PDF")


def test_text_and_garbage_are_refused() -> None:
    _refused(b"date,amount\n2024-01-01,3.50\n", UnsupportedReceiptTypeError, "not a receipt")
    _refused(b"\xff\xd8\xff" + b"\x00" * 100, CorruptReceiptError, "image")
    _refused(b"%PDF-1.7\n" + b"\x00" * 100, CorruptReceiptError, "PDF")


def test_a_pdf_with_thousands_of_pages_is_refused() -> None:
    _refused(_pdf_bytes(3000, 72, 72), ReceiptTooLargeError, f"3000 pages, more than {MAX_PAGES}")


def test_a_pdf_page_too_large_to_render_is_refused() -> None:
    _refused(_pdf_bytes(1, 14_400, 14_400), ReceiptTooLargeError, "pixels")


def test_a_20000_by_20000_image_is_refused_before_it_is_decoded() -> None:
    _refused(_huge_png(), ReceiptTooLargeError, "pixels")


def test_a_tiff_with_too_many_frames_is_refused() -> None:
    _refused(_image_bytes("TIFF", frames=MAX_PAGES + 1, size=(8, 8)), ReceiptTooLargeError, "pages")
