"""``bkjobs receipt upload / show / list`` against the live server: a real scanned receipt is
uploaded, read and matched, and what a user sees says so; listings page like ``jobs list``;
errors are one line; file names, vendors and OCR text reach the terminal as plain text."""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bookkeeper_jobs.cli import main
from bookkeeper_jobs.ledger import NewTransaction
from bookkeeper_jobs.receipts.matching import MatchCandidate, ReceiptMatch
from bookkeeper_jobs.receipts.model import ReceiptExtraction
from tests.api.conftest import Company
from tests.api.harness import LiveServer, make_jwt
from tests.api.test_cli_errors import closed_port

BKJOBS = str(Path(sys.executable).parent / "bkjobs")
RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"
"""PINGHWAI TRADING SDN BHD, 23/09/2017, total 1,007.50 (its ground truth)."""

MARKUP = "[/red][link=https://evil.example]click[/link]"
CONTROLS = "\x9b2J\u202egpj.exe\x1b]0;pwned\x07"
"""CSI (the one-byte C1 form) clear screen, a right-to-left override, an OSC title change."""
CONTROLS_SHOWN = "\\x9b2J\\u202egpj.exe\\x1b]0;pwned\\x07"
RAW_CONTROLS = ("\x9b", "\u202e", "\x1b", "\x07")
NAME_MARKUP = "[red][link=evil.example]click"
"""Markup that fits a file name (no ``/``)."""
NAME_CONTROLS = "\x9b2J\u202egpj.exe"
"""Controls that reach the server in a file name: httpx percent-encodes C0 controls in
it, and the server drops any left (ESC); C1 controls and bidi overrides stay."""


def bkjobs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BKJOBS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def client_args(server: LiveServer, company: Company) -> list[str]:
    return ["--url", server.base_url, "--key", make_jwt(company.tenant_id, [company.id])]


def upload_args(server: LiveServer, company: Company, path: Path) -> list[str]:
    return [
        "receipt", "upload", str(path), "--company", company.id, "--tenant", company.tenant_id,
        *client_args(server, company),
    ]  # fmt: skip


def seed_payment(server: LiveServer, company_id: str, day: str, text: str, amount: str) -> str:
    """One transaction of the company; its id."""
    with server.ledger() as ledger:
        ledger.ensure_company(company_id, "t1")
        ledger.add_transactions(
            company_id,
            [NewTransaction(datetime.date.fromisoformat(day), text, Decimal(amount), "MYR")],
        )
        (found,) = [
            t for t in ledger.list_transactions(company_id, limit=10) if t.description == text
        ]
    return found.id


def assert_plain(printed: str) -> None:
    for char in RAW_CONTROLS:
        assert char not in printed, repr(char)


def test_upload_read_prints_the_id_then_what_was_read_and_the_match(
    live_server: LiveServer, company: Company
) -> None:
    paid = seed_payment(
        live_server, company.id, "2017-09-25", "POS PINGHWAI TRADING KEPONG", "-1007.50"
    )

    done = bkjobs(*upload_args(live_server, company, RECEIPT), "--read")

    assert done.returncode == 0, done.stderr
    receipt_id, *summary = done.stdout.splitlines()
    assert receipt_id.startswith("rcpt-")
    assert (
        f"uploaded X51006556830.jpg (image/jpeg, 1 page, 157,614 bytes) as receipt {receipt_id}"
        in done.stderr
    )
    assert "started ocr job job-" in done.stderr
    assert "complete: " in done.stderr
    assert summary[0] == f"receipt   {receipt_id}  company {company.id}"
    assert summary[1].startswith("file      X51006556830.jpg  (image/jpeg, 157,614 bytes,")
    assert summary[2].startswith("status    read by job job-")
    assert summary[3].startswith("vendor    PINGHWAI TRADING SDN BHD  (confidence 0.")
    assert summary[4].startswith("date      2017-09-23  (confidence 0.")
    assert summary[5].startswith("total     1007.50 MYR  (confidence 0.")
    assert summary[7].startswith(
        f"match     matched: {paid}  2017-09-25  -1007.50  POS PINGHWAI TRADING KEPONG  (score 0."
    )

    shown = bkjobs("receipt", "show", receipt_id, *client_args(live_server, company))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == summary  # show prints what --read printed
    with_text = bkjobs("receipt", "show", receipt_id, "--text", *client_args(live_server, company))
    assert with_text.stdout.splitlines()[len(summary)] == "text"
    assert "  PINGHWAI TRADING SDN BHD" in with_text.stdout.splitlines()
    as_json = bkjobs("receipt", "show", receipt_id, "--json", *client_args(live_server, company))
    (line,) = as_json.stdout.splitlines()
    receipt = json.loads(line)
    assert (receipt["vendor"], receipt["date"], receipt["total"], receipt["currency"]) == (
        "PINGHWAI TRADING SDN BHD", "2017-09-23", "1007.50", "MYR",
    )  # fmt: skip
    assert receipt["matched_transaction_id"] == paid
    assert "PINGHWAI" in receipt["extraction"]["text"]


def test_upload_prints_only_the_id_and_show_says_it_is_not_read_yet(
    live_server: LiveServer, company: Company
) -> None:
    done = bkjobs(*upload_args(live_server, company, RECEIPT))

    assert done.returncode == 0, done.stderr
    (receipt_id,) = done.stdout.splitlines()
    shown = bkjobs("receipt", "show", receipt_id, *client_args(live_server, company))
    assert shown.returncode == 0, shown.stderr
    status = shown.stdout.splitlines()[-1]
    assert status.startswith("status    uploaded: not read yet (bkjobs submit ocr")
    assert f"--param receipt_id={receipt_id}" in status


def test_the_same_file_again_says_it_was_already_uploaded(
    live_server: LiveServer, company: Company
) -> None:
    first = bkjobs(*upload_args(live_server, company, RECEIPT))
    assert first.returncode == 0, first.stderr

    again = bkjobs(*upload_args(live_server, company, RECEIPT))

    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout  # the same receipt id
    receipt_id = first.stdout.strip()
    assert again.stderr.splitlines() == [
        "already uploaded: X51006556830.jpg (image/jpeg, 1 page, 157,614 bytes) as receipt "
        f"{receipt_id}"
    ]


def test_receipt_list_pages_newest_first_with_the_cursor_it_prints(
    live_server: LiveServer, company: Company, tmp_path: Path
) -> None:
    ids = []
    for n in range(3):
        copy = tmp_path / f"scan-{n}.jpg"
        copy.write_bytes(RECEIPT.read_bytes() + bytes([n]))  # a file of its own
        done = bkjobs(*upload_args(live_server, company, copy))
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())
    key = ["--key", make_jwt(company.tenant_id, [company.id])]

    first = bkjobs(
        "receipt", "list", "--company", company.id, "--limit", "2", "--url", live_server.base_url,
        *key,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[-2] == "2 receipt(s)"
    more = first.stderr.splitlines()[-1]
    assert more.startswith("more: bkjobs receipt list "), first.stderr
    second = bkjobs(*shlex.split(more.removeprefix("more: bkjobs ")), *key)
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines()[-1] == "1 receipt(s)"

    lines = first.stdout.splitlines() + second.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ids[::-1]  # newest first, each once
    assert lines[-1].split()[2:] == ["uploaded", "-", "-", "-", "-", "scan-0.jpg", "-"]


def test_a_truncated_jpeg_read_exits_1_saying_it_is_damaged(
    live_server: LiveServer, company: Company, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.jpg"
    data = RECEIPT.read_bytes()
    cut.write_bytes(data[: len(data) // 3])

    done = bkjobs(*upload_args(live_server, company, cut), "--read")

    assert done.returncode == 1
    (receipt_id,) = done.stdout.splitlines()  # the id; nothing was read to print
    assert receipt_id.startswith("rcpt-")
    last = done.stderr.splitlines()[-1]
    assert last.startswith("failed: ")
    assert "cut.jpg" in last
    assert "truncated or damaged" in last


def test_a_file_that_is_not_a_receipt_is_one_error_line(
    live_server: LiveServer, company: Company, tmp_path: Path
) -> None:
    text = tmp_path / "receipt.jpg"
    text.write_text("TOTAL 12.00\n")

    done = bkjobs(*upload_args(live_server, company, text), "--read")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        'error: HTTP 415: "file: not a receipt image or PDF: the content is none of JPEG, PNG, '
        'TIFF or PDF"'
    ]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith("error: ")
    assert printed.out == ""
    assert "Traceback" not in printed.err
    return line


def test_a_missing_file_is_named_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "scan.jpg"
    url = f"http://127.0.0.1:{closed_port()}"  # the server is down too: the file comes first

    exit_code = main(
        ["receipt", "upload", str(missing), "--company", "c1", "--tenant", "t1", "--url", url]
    )

    assert exit_code == 2
    assert one_error_line(capsys) == f"error: {missing}: no such file"


@pytest.mark.parametrize(
    "command",
    [
        ["receipt", "show", "rcpt-00000000000000000000"],
        ["receipt", "list", "--company", "c1"],
        ["receipt", "upload", str(RECEIPT), "--company", "c1", "--tenant", "t1", "--read"],
    ],
)
def test_a_server_that_is_down_is_one_line_naming_its_url(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    exit_code = main([*command, "--url", url, "--key", "some-key"])

    assert exit_code == 2
    assert f"cannot reach the API at {url}" in one_error_line(capsys)


def test_an_unknown_receipt_is_one_error_line(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(
        ["receipt", "show", "rcpt-00000000000000000000", *client_args(live_server, company)]
    )

    assert exit_code == 2
    assert one_error_line(capsys) == (
        "error: HTTP 404: \"receipt 'rcpt-00000000000000000000' not found\""
    )


def test_a_company_outside_the_grant_is_one_error_line(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (
        ["receipt", "list", "--company", "someone-else"],
        ["receipt", "upload", str(RECEIPT), "--company", "someone-else", "--tenant", "t1"],
    ):
        exit_code = main([*command, *client_args(live_server, company)])

        assert exit_code == 2
        line = one_error_line(capsys)
        assert line.startswith("error: HTTP 403: ")
        assert "company_id" in line


def test_a_hostile_file_name_is_shown_as_text(
    live_server: LiveServer, company: Company, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / f"scan {NAME_MARKUP} {NAME_CONTROLS}.jpg"
    hostile.write_bytes(RECEIPT.read_bytes())

    assert main(upload_args(live_server, company, hostile)) == 0
    uploaded = capsys.readouterr()
    receipt_id = uploaded.out.strip()
    assert (
        main(["receipt", "list", "--company", company.id, *client_args(live_server, company)]) == 0
    )
    listed = capsys.readouterr()
    assert main(["receipt", "show", receipt_id, *client_args(live_server, company)]) == 0
    shown = capsys.readouterr()

    for printed in (uploaded.err, listed.out, shown.out):
        # The server keeps the name without its controls; the markup is shown as text.
        assert f"scan {NAME_MARKUP} 2Jgpj.exe.jpg" in printed, printed
        assert_plain(printed)
    assert_plain(uploaded.out + listed.err + shown.err)


def test_hostile_ocr_text_vendor_and_description_are_shown_as_text(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    """What OCR reads is whatever the receipt printed, and a match quotes the bank's text:
    stored as a job would store them, then shown by ``show``, ``show --json`` and ``list``."""
    payment = seed_payment(
        live_server, company.id, "2017-09-25", f"POS {MARKUP} {CONTROLS}", "-1007.50"
    )
    assert main(upload_args(live_server, company, RECEIPT)) == 0
    receipt_id = capsys.readouterr().out.strip()
    vendor = f"EVIL {MARKUP} {CONTROLS} SDN BHD"
    extraction = ReceiptExtraction(
        company=vendor,
        date=datetime.date(2017, 9, 23),
        total=Decimal("1007.50"),
        currency="MYR",
        confidence={"company": 0.5, "date": 0.9, "total": 0.9},
        text=f"{vendor}\nTOTAL 1,007.50 {CONTROLS}\n",
        pages=1,
    )
    candidate = MatchCandidate(
        transaction_id=payment,
        score=0.9,
        date=datetime.date(2017, 9, 25),
        amount=Decimal("-1007.50"),
        description=f"POS {MARKUP} {CONTROLS}",
        days_apart=2,
        vendor_similarity=0.5,
    )
    with live_server.ledger() as ledger:
        assert ledger.receipts.record_ocr(
            receipt_id,
            company.id,
            extraction=extraction,
            match=ReceiptMatch(status="matched", transaction=candidate),
            job_id="job-00000000000000000000",
        )
    args = client_args(live_server, company)

    assert main(["receipt", "show", receipt_id, "--text", *args]) == 0
    shown = capsys.readouterr().out
    assert main(["receipt", "show", receipt_id, "--json", *args]) == 0
    as_json = capsys.readouterr().out
    assert main(["receipt", "list", "--company", company.id, *args]) == 0
    listed = capsys.readouterr().out

    assert f"vendor    EVIL {MARKUP} {CONTROLS_SHOWN} SDN BHD  (confidence 0.5)" in shown
    assert f"  TOTAL 1,007.50 {CONTROLS_SHOWN}" in shown.splitlines()
    assert f"POS {MARKUP} {CONTROLS_SHOWN}  (score 0.9)" in shown
    assert f"EVIL {MARKUP} {CONTROLS_SHOWN} SDN BHD" in listed
    (line,) = as_json.splitlines()
    assert json.loads(line)["vendor"] == vendor  # still JSON, the text exactly as read
    assert json.loads(line)["extraction"]["text"] == extraction.text
    for printed in (shown, as_json, listed):
        assert_plain(printed)
