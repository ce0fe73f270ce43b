"""Printed rows from tesseract's lines.

tesseract often splits a receipt row in two blocks (the label on the left, the amount in a
right-hand column); rows put the words back together by their boxes: lines whose vertical
middles fall inside each other's height and whose words do not overlap are one row.
"""

from __future__ import annotations

from dataclasses import dataclass

from bookkeeper_jobs.receipts.ocr import Line, OcrPage


@dataclass
class Row(Line):
    """Words printed on one row of the receipt, left to right (tesseract's lines of one
    printed row joined): a line's text, extent and confidence, and its page."""

    page: int = 1

    def label_text(self) -> str:
        """The text the row's label is read from (the whole row)."""
        return self.text

    def conf_of(self, start: int, end: int) -> float:
        """Mean confidence (0-1) of the words covering ``text[start:end]``."""
        position = 0
        confs = []
        for word in self.words:
            word_end = position + len(word.text)
            if word_end > start and position < end:
                confs.append(word.conf)
            position = word_end + 1
        return sum(confs) / len(confs) / 100 if confs else self.conf

    def _accepts(self, line: Line) -> bool:
        middle = line.middle
        if not (self.top <= middle <= self.bottom):
            own_middle = (self.top + self.bottom) / 2
            if not (line.top <= own_middle <= line.bottom):
                return False
        return all(
            w.right <= line.words[0].left or w.left >= line.words[-1].right for w in self.words
        )


def rows(pages: list[OcrPage]) -> list[Row]:
    """Every page's lines merged into rows, top to bottom, page after page."""
    result: list[Row] = []
    for number, page in enumerate(pages, start=1):
        page_rows: list[Row] = []
        for line in sorted(page.lines, key=lambda item: item.top):
            if not line.words:
                continue
            for row in reversed(page_rows[-3:]):
                if row._accepts(line):
                    row.words = sorted([*row.words, *line.words], key=lambda w: w.left)
                    break
            else:
                page_rows.append(Row(list(line.words), number))
        result.extend(page_rows)
    return result
