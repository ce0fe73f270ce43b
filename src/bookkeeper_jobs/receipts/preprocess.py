"""Image work before OCR, with Pillow and numpy: each step is kept because the benchmark
(``bench/ocr_accuracy.py``) showed it helps on real scans.

- grayscale: tesseract binarises internally; colour only adds noise and time.
- dark borders whitened: the scanner bed or torn paper edges, black regions touching the
  image border, can make tesseract's page layout find no text at all (one of the 40
  benchmark scans read nothing without it; overall one date more, one company fewer).
- a softened second view (``soften``: Gaussian blur, radius 1 px), read only when the first
  reading left a field missing or below 0.8 confidence (38 of the 40 benchmark receipts;
  the misses of the first reading had confidences up to 0.8), each field then taken from the
  surer reading. Read alone the softened view is no better (101 fields against 102 with the
  field rules before it was added), but it misreads different words: as a second reading it
  took the 40 receipts from 106 to 109 correct fields (dates 37 -> 39, companies 32 -> 33,
  totals 37 both), for about twice the OCR time (median 0.40 -> 0.76 s per receipt). Other
  second views, measured the same way, did less: blur radius 0.7 106, radius 1.5 108,
  rescaled 1.5x then blurred 107, line pitch raised to 45 px 107, unsharp mask 107,
  autocontrast 106, rescaled 1.5x 104, the same image with page segmentation 4 104 or 11
  106.

Tried and off by default, because the benchmark showed no gain on real scans:
- scaling text to the line pitch tesseract reads best (measured from the ink rows, since scans
  rarely state a true DPI): no better on 40 receipts (one field more, two fewer);
- Otsu thresholding: clearly worse (tesseract's own adaptive binarisation does better).
- measured again as the only view, with the field rules before the softened reread (102
  fields read right on the 40 receipts, 0.40 s median): every page scaled 1.5x 100, 2x 94;
  line pitch raised to 45 px 103 (one total more, not kept for one receipt); autocontrast
  100; unsharp mask 100; a 3x3 minimum filter (thickening dot-matrix strokes) 94; Gaussian
  blur 101.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageFilter, ImageOps

TARGET_LINE_PITCH: Final = 34.0
"""Pixels from one text line to the next that tesseract reads best on receipt print."""
MAX_OCR_PIXELS: Final = 12_000_000
"""Never scale a page above this (time grows with pixels)."""
SOFTEN_RADIUS: Final = 1.0
"""Gaussian radius in pixels of the softened second view (0.7 and 1.5 measured worse)."""


@dataclass(frozen=True)
class Preprocessing:
    """Which steps run; the defaults are what the benchmark kept."""

    clean_borders: bool = True
    rescale: bool = False
    threshold: bool = False
    softened_reread: bool = True
    """Reread a receipt with a doubtful field from a softened view (see ``soften``)."""


def preprocess(image: Image.Image, steps: Preprocessing = Preprocessing()) -> Image.Image:
    """The page image tesseract should read."""
    gray = ImageOps.grayscale(image.convert("RGB") if image.mode in ("P", "PA") else image)
    pixels = np.asarray(gray, dtype=np.uint8)
    if steps.clean_borders:
        pixels = whiten_dark_borders(pixels)
    result = Image.fromarray(pixels)
    if steps.rescale:
        result = rescale(result, line_pitch(pixels))
    if steps.threshold:
        result = otsu_threshold(result)
    return result


def soften(image: Image.Image) -> Image.Image:
    """A second view of the page for a second reading: a slight Gaussian blur joins the dots
    of dot-matrix print and smooths thermal-print speckle and JPEG noise, so tesseract reads
    some words differently (not better on average, but differently: see the module)."""
    return image.filter(ImageFilter.GaussianBlur(SOFTEN_RADIUS))


def dark_mask(pixels: np.ndarray) -> np.ndarray:
    """Pixels darker than the Otsu threshold of the page."""
    return np.asarray(pixels < otsu_level(pixels))


def otsu_level(pixels: np.ndarray) -> int:
    """Otsu's threshold: the grey level that best separates ink from paper."""
    histogram = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(histogram)
    mean = np.cumsum(histogram * levels)
    background = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean * total) ** 2 / (weight * background)
    between[~np.isfinite(between)] = 0
    return int(np.argmax(between)) + 1


def otsu_threshold(image: Image.Image) -> Image.Image:
    level = otsu_level(np.asarray(image, dtype=np.uint8))
    return image.point(lambda value: 255 if value >= level else 0)


def whiten_dark_borders(pixels: np.ndarray) -> np.ndarray:
    """Paint white the rows and columns at the edges that are mostly dark (scanner
    background, torn edges); text never fills most of a row."""
    dark = dark_mask(pixels)
    height, width = dark.shape
    row_dark = dark.mean(axis=1)
    col_dark = dark.mean(axis=0)
    out = pixels.copy()
    top, bottom = _edge_run(row_dark), _edge_run(row_dark[::-1])
    left, right = _edge_run(col_dark), _edge_run(col_dark[::-1])
    if top:
        out[: _grow(top, height), :] = 255
    if bottom:
        out[height - _grow(bottom, height) :, :] = 255
    if left:
        out[:, : _grow(left, width)] = 255
    if right:
        out[:, width - _grow(right, width) :] = 255
    return out


def _edge_run(fractions: np.ndarray, dark: float = 0.25, window: int = 12) -> int:
    """How many lines at this edge belong to a dark border: the last line, within the
    first fifth of the page, after which ``window`` lines in a row are less dark."""
    end = 0
    light = 0
    for index, fraction in enumerate(fractions[: max(len(fractions) // 5, 1)]):
        if fraction >= dark:
            end = index + 1
            light = 0
        else:
            light += 1
            if light >= window:
                break
    return end


def _grow(run: int, limit: int) -> int:
    """A few lines more than the dark run, for the ragged edge next to it."""
    return min(limit, run + max(4, run // 4))


def line_pitch(pixels: np.ndarray) -> float | None:
    """The typical distance in pixels between text lines, from the rows with ink."""
    dark = dark_mask(pixels)
    inked = dark.mean(axis=1) > 0.01
    starts = np.flatnonzero(inked[1:] & ~inked[:-1]) + 1
    if len(starts) < 4:
        return None
    gaps = np.diff(starts)
    gaps = gaps[gaps >= 6]
    if len(gaps) < 3:
        return None
    return float(np.median(gaps))


def rescale(image: Image.Image, pitch: float | None) -> Image.Image:
    """Scale so text lines are ``TARGET_LINE_PITCH`` pixels apart (within 0.5x-3x)."""
    if pitch is None:
        return image
    factor = min(max(TARGET_LINE_PITCH / pitch, 0.5), 3.0)
    if 0.5 < factor < 1.5:  # near enough: resampling blurs more than it helps
        return image
    factor = min(factor, (MAX_OCR_PIXELS / (image.width * image.height)) ** 0.5)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)
