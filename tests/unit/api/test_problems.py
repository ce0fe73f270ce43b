"""What an error answer quotes of the input is cut to a small bound, whatever its shape."""

from __future__ import annotations

import json

from bookkeeper_jobs.api.problems import MAX_BODY_CHARS, bounded, bounded_errors, quoted


def test_a_long_string_keeps_its_start_and_says_how_much_is_left_out() -> None:
    assert bounded("a" * 1_000) == "a" * 200 + "… (800 more characters)"
    assert quoted("b" * 250) == repr("b" * 200 + "… (50 more characters)")
    assert bounded("short") == "short"


def test_lists_and_objects_keep_a_few_items() -> None:
    assert bounded(list(range(100))) == [0, 1, 2, 3, 4, "… 95 more items"]
    assert bounded({f"k{n}": n for n in range(8)}) == {
        "k0": 0,
        "k1": 1,
        "k2": 2,
        "k3": 3,
        "k4": 4,
        "…": "3 more keys",
    }


def test_nested_values_share_one_budget() -> None:
    shown = bounded([["x" * 150] * 5] * 5)

    assert len(json.dumps(shown, ensure_ascii=False)) < 600
    assert bounded([[[1]]]) == [["<list of 1 items>"]]


def test_bytes_and_huge_numbers_are_cut_too() -> None:
    assert bounded(b"\xff" * 1_000) == "\ufffd" * 200 + "… (800 more bytes)"
    assert str(bounded(10**4_000)).endswith("more characters)")


def test_many_errors_are_listed_while_they_fit_then_counted() -> None:
    errors = [
        {"type": "string_type", "loc": ("body", "ids", n), "msg": "bad", "input": "v" * 500}
        for n in range(1_000)
    ]

    shown = bounded_errors(errors)

    assert len(json.dumps(shown)) < MAX_BODY_CHARS + 200
    assert shown[0]["loc"] == ["body", "ids", 0]
    assert shown[-1]["type"] == "too_many_errors"
    assert f"{1_000 - (len(shown) - 1)} more errors" in shown[-1]["msg"]
