"""``bkjobs categorizer predict``: the categorize job's model on CSV files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bookkeeper_jobs.cli import main
from tests.unit.tasks.test_categorizer import CONSISTENT, NOISY, history


def write_train(path: Path, *, with_dates: bool = True) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["description", "amount", "category", "date", "directorate"])
        for e in history():
            out.writerow([e.description, e.amount, e.category, e.date if with_dates else "", "x"])
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["categorizer", "predict", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_prints_category_confidence_and_decision_for_every_input_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_train(tmp_path / "train.csv")
    given = write_csv(
        tmp_path / "input.csv",
        [
            ["id", "description", "amount", "date"],
            ["t1", "tgc key hill", "14.50", "2020-03-04"],
            ["t2", NOISY, "25.00", ""],
            ["t3", "Riba Services", "-3", "2020-04-01"],
        ],
    )

    status, out, _ = run(capsys, "--train", str(train), "--input", str(given))

    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert out.splitlines()[0] == "id,category,confidence,decision"
    assert [(r["id"], r["category"], r["decision"]) for r in rows] == [
        ("t1", CONSISTENT["tgc key hill"], "auto"),
        ("t2", "L100", "suggest"),
        ("t3", "L030", rows[2]["decision"]),
    ]
    assert all(0 <= float(r["confidence"]) < 1 for r in rows)


def test_tiny_training_data_gives_no_category_and_no_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_csv(
        tmp_path / "train.csv", [["description", "amount", "category"], ["shop", "1", "L100"]]
    )
    given = write_csv(tmp_path / "input.csv", [["id", "description", "amount"], ["a", "shop", "1"]])

    status, out, _ = run(capsys, "--train", str(train), "--input", str(given))

    assert status == 0
    assert out.splitlines() == ["id,category,confidence,decision", "a,,0.0000,none"]


def test_a_missing_column_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_train(tmp_path / "train.csv")
    given = write_csv(tmp_path / "input.csv", [["id", "description"], ["a", "shop"]])

    status, out, err = run(capsys, "--train", str(train), "--input", str(given))

    assert status == 2
    assert out == ""
    assert "missing column amount" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        (b"\xff\xfe\x00bad", "not a readable UTF-8 CSV"),
        (b"id,description,amount\na,shop,lots\n", "line 2: amount 'lots' is not a number"),
        (b"id,description,amount,date\na,shop,1,30/11/2026\n", "date '30/11/2026'"),
    ],
)
def test_an_unreadable_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    train = write_train(tmp_path / "train.csv", with_dates=False)
    given = tmp_path / "input.csv"
    if content is not None:
        given.write_bytes(content)

    status, out, err = run(capsys, "--train", str(train), "--input", str(given))

    assert status == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
