"""``docs/bad-input.md`` names a test for each kind of bad input: every row names at least one,
and every test it names exists (its module imports and defines that test function)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLE = REPO_ROOT / "docs" / "bad-input.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
"""A named test: ``tests/api/test_auth.py::test_an_expired_jwt_is_a_401``."""


def table_rows(markdown: str) -> list[str]:
    """The body rows of every table: lines starting with ``|``, less headers and rulers."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [row for row in rows if not row.startswith(("| bad input", "|---"))]


def named_tests(markdown: str) -> list[tuple[str, str]]:
    """Every ``(file, function)`` the document names, in order, without repeats."""
    return list(dict.fromkeys(TEST_REFERENCE.findall(markdown)))


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_every_row_names_a_test() -> None:
    rows = table_rows(TABLE.read_text())

    assert len(rows) >= 40
    assert [row for row in rows if not TEST_REFERENCE.search(row)] == []


@pytest.mark.parametrize(
    ("path", "function"), named_tests(TABLE.read_text()), ids=lambda part: str(part)
)
def test_every_named_test_exists(path: str, function: str) -> None:
    assert (REPO_ROOT / path).is_file(), path
    module = importlib.import_module(module_name(path))

    test = getattr(module, function, None)

    assert test is not None, f"{path} has no {function}"
    assert function.startswith("test_") and inspect.isfunction(test), f"{path}::{function}"
