"""The bank-statement parser: CSV header aliases, delimiters, date and amount formats, bad
rows, sniffing, encodings, OFX, and that CSV files are streamed rather than read whole."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bookkeeper_jobs.tasks import statements_csv
from bookkeeper_jobs.tasks.statements import (
    HEAD_BYTES,
    ParsedRow,
    RowError,
    StatementFormatError,
    count_data_lines,
    parse_statement,
    sniff_statement,
)
from bookkeeper_jobs.tasks.statements_csv_layout import (
    AMOUNT_ALIASES,
    CREDIT_ALIASES,
    DATE_ALIASES,
    DEBIT_ALIASES,
    DESCRIPTION_ALIASES,
)

EXAMPLE = Path(__file__).parents[3] / "examples" / "bank-statement.csv"
JAN_31 = datetime.date(2024, 1, 31)


def parse(data: str | bytes, filename: str = "statement.csv", **kwargs: Any) -> list[Any]:
    raw = data.encode() if isinstance(data, str) else data
    return list(parse_statement(io.BytesIO(raw), filename, **kwargs))


def only_row(data: str | bytes, **kwargs: Any) -> ParsedRow:
    (row,) = parse(data, **kwargs)
    assert isinstance(row, ParsedRow), row
    return row


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATE_ALIASES)
def test_date_column_aliases(name: str) -> None:
    row = only_row(f"{name.title()},Description,Amount\n2024-01-31,COFFEE,-3.50\n")
    assert row.date == JAN_31


@pytest.mark.parametrize("name", DESCRIPTION_ALIASES)
def test_description_column_aliases(name: str) -> None:
    row = only_row(f"Date,{name.upper()},Amount\n2024-01-31,COFFEE,-3.50\n")
    assert row.description == "COFFEE"


@pytest.mark.parametrize("name", AMOUNT_ALIASES)
def test_amount_column_aliases(name: str) -> None:
    row = only_row(f"Date,Description, {name} \n2024-01-31,COFFEE,-3.50\n")
    assert row.amount == Decimal("-3.50")


@pytest.mark.parametrize("name", ["Transaction_Date", "TRANS. DATE", "posting-date", "Date:"])
def test_header_names_ignore_case_spaces_and_punctuation(name: str) -> None:
    assert only_row(f"{name},Payee,Amount\n2024-01-31,COFFEE,1\n").date == JAN_31


def test_a_parenthesized_currency_in_the_header_is_the_files_currency() -> None:
    assert only_row("Date,Description,Amount (GBP)\n2024-01-31,TESCO,-3\n").currency == "GBP"


def test_the_best_alias_wins_and_an_empty_payee_falls_back_to_the_memo() -> None:
    rows = parse(
        "Posted Date,Transaction Date,Memo,Payee,Amount\n"
        "2024-02-01,2024-01-31,CARD 1234,STARBUCKS,-4\n"
        "2024-02-01,2024-01-31,ACH CREDIT,,10\n"
    )
    assert [(r.date, r.description) for r in rows] == [
        (JAN_31, "STARBUCKS"),
        (JAN_31, "ACH CREDIT"),
    ]


def test_preamble_rows_before_the_header_are_skipped_and_lines_still_count() -> None:
    rows = parse(
        "Account,Business Checking ****1234\n"
        "Period,01/01/2024 - 01/31/2024\n"
        "\n"
        "Date,Description,Amount,Balance\n"
        "2024-01-31,COFFEE,-3.50,100.00\n"
    )
    assert rows == [ParsedRow(5, JAN_31, "COFFEE", Decimal("-3.50"), "USD")]


def test_currency_column_and_a_code_written_with_the_amount() -> None:
    rows = parse(
        "Date,Description,Amount,Currency\n"
        "2024-01-31,A,1,eur\n"
        "2024-01-31,B,GBP 2,\n"
        "2024-01-31,C,3,\n"
        "2024-01-31,D,4,EURO\n",
        default_currency="cad",
    )
    assert [getattr(r, "currency", None) for r in rows] == ["EUR", "GBP", "CAD", None]
    assert rows[3] == RowError(5, "currency 'EURO' is not a 3-letter code")


# --- debit / credit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debit", "credit"), list(zip(DEBIT_ALIASES, CREDIT_ALIASES, strict=False))
)
def test_debit_and_credit_columns(debit: str, credit: str) -> None:
    rows = parse(
        f"Date,Description,{debit},{credit},Balance\n"
        "2024-01-31,RENT,2000.00,,1000\n"
        "2024-01-31,CLIENT,,1500.00,2500\n"
        "2024-01-31,NETTED,10.00,25.00,2515\n"
        "2024-01-31,SIGNED DEBIT,-7.25,,2507.75\n"
        "2024-01-31,NOTHING,,,2507.75\n"
    )
    amounts = [r.amount if isinstance(r, ParsedRow) else r.message for r in rows]
    assert amounts == [
        Decimal("-2000.00"),
        Decimal("1500.00"),
        Decimal("15.00"),
        Decimal("-7.25"),
        "debit and credit are both empty",
    ]


def test_a_lone_withdrawals_column_is_enough() -> None:
    assert only_row("Date,Details,Paid Out\n31/01/2024,TESCO,12.00\n").amount == Decimal("-12")


# --- delimiters ----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(delimiter: str) -> None:
    other = ";" if delimiter == "," else ","
    header = delimiter.join(["Date", "Description", "Amount"])
    row = only_row(f"{header}\n" + delimiter.join(["2024-01-31", f"A{other} B", "-3"]) + "\n")
    assert (row.description, row.amount) == (f"A{other} B", Decimal(-3))


def test_quoted_fields_with_delimiters_and_line_breaks_keep_line_numbers() -> None:
    rows = parse(
        'Date,Description,Amount\n2024-01-31,"ACME, INC\nINVOICE 7",-5\n2024-01-31,NEXT,-1\n'
    )
    assert [(r.line, r.description) for r in rows] == [(2, "ACME, INC INVOICE 7"), (4, "NEXT")]


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-31",
        "2024/01/31",
        "2024.1.31",
        "20240131",
        "01/31/2024",
        "1/31/24",
        "31/01/2024",
        "31.01.2024",
        "31-01-24",
        "31-Jan-2024",
        "31 January 2024",
        "31-JAN-24",
        "Jan 31, 2024",
        "January 31 2024",
        "Wed, Jan 31st 2024",
        "2024-Jan-31",
        "2024-01-31T14:05:00Z",
        "01/31/2024 2:05 PM",
    ],
)
def test_date_formats(raw: str) -> None:
    row = only_row(f'Date,Description,Amount\n"{raw}",X,1\n')
    assert row.date == JAN_31


@pytest.mark.parametrize("raw", ["31/31/2024", "2024-02-30", "yesterday", "13/13/2024", "1/2"])
def test_bad_dates_are_row_errors(raw: str) -> None:
    assert parse(f"Date,Description,Amount\n{raw},X,1\n") == [
        RowError(2, f"date '{raw}' is not a date")
    ]


def test_day_first_is_decided_by_the_first_unambiguous_row() -> None:
    rows = parse(
        "Date,Description,Amount\n"
        "01/02/2024,A,1\n"
        "bad,B,1\n"
        "05/02/2024,C,1\n"
        "13/02/2024,D,1\n"
        "03/04/2024,E,1\n"
    )
    assert [getattr(r, "date", r) for r in rows] == [
        datetime.date(2024, 2, 1),
        RowError(3, "date 'bad' is not a date"),
        datetime.date(2024, 2, 5),
        datetime.date(2024, 2, 13),
        datetime.date(2024, 4, 3),
    ]


def test_month_first_is_decided_by_the_first_unambiguous_row() -> None:
    rows = parse("Date,Description,Amount\n01/02/2024,A,1\n01/13/2024,B,1\n02/01/2024,C,1\n")
    assert [r.date.isoformat() for r in rows] == ["2024-01-02", "2024-01-13", "2024-02-01"]


def test_a_row_contradicting_the_files_order_is_a_row_error() -> None:
    rows = parse("Date,Description,Amount\n31/01/2024,A,1\n01/31/2024,B,1\n")
    assert rows[1] == RowError(3, "date '01/31/2024' is not a date in day/month/year order")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date,Description,Amount\n01/02/2024,A,1\n", datetime.date(2024, 1, 2)),
        ("Date,Description,Amount\n01.02.2024,A,1\n", datetime.date(2024, 2, 1)),
        ("Date;Description;Amount\n01/02/2024;A;1\n", datetime.date(2024, 2, 1)),
    ],
)
def test_without_a_deciding_row_dates_are_month_first_unless_european(
    text: str, expected: datetime.date
) -> None:
    assert only_row(text).date == expected


def test_holding_back_undecided_rows_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements_csv, "MAX_UNDECIDED_ROWS", 3)
    body = "".join(f"0{day}/02/2024,R{day},1\n" for day in range(1, 6))
    rows = parse("Date,Description,Amount\n" + body + "13/02/2024,LATE,1\n")
    assert [r.date.day for r in rows[:5]] == [2, 2, 2, 2, 2]  # month-first: 2 January...
    assert rows[5] == RowError(7, "date '13/02/2024' is not a date in month/day/year order")


# --- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("-12.50", "-12.50"),
        ("12", "12"),
        ("+12.50", "12.50"),
        ('"1,234.56"', "1234.56"),
        ('"-1,234,567.00"', "-1234567.00"),
        ('"12,34,567.89"', "1234567.89"),
        ("$12.50", "12.50"),
        ("-$12.50", "-12.50"),
        ("$-12.50", "-12.50"),
        ('"£1,000"', "1000"),
        ("€ 3.10", "3.10"),
        ("(12.50)", "-12.50"),
        ("($12.50)", "-12.50"),
        ("12.50-", "-12.50"),
        ("12.50 CR", "12.50"),
        ("12.50DR", "-12.50"),
        ("12.50 dr", "-12.50"),
        ("(12.50)CR", "12.50"),
        ("12.3.4", None),
        ("", None),
        ("1 000.00", "1000.00"),
        ("1'234.50", "1234.50"),
        ("\u221212.50", "-12.50"),
        ('"12,50"', "12.50"),
        (".5", "0.5"),
        ("-0.00", "0.00"),
    ],
)
def test_amount_formats(raw: str, expected: str | None) -> None:
    (row,) = parse(f"Date,Description,Amount\n2024-01-31,X,{raw}\n")
    if expected is None:
        assert isinstance(row, RowError)
    else:
        assert row.amount == Decimal(expected)
        assert str(row.amount) == str(Decimal(expected))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("-1.234", "-1234"),
        ("12,5", "12.5"),
        ("1.234.567,00 €", "1234567.00"),
    ],
)
def test_european_amounts_in_semicolon_files(raw: str, expected: str) -> None:
    row = only_row(f"Booking Date;Description;Amount\n31.01.2024;X;{raw}\n")
    assert (row.date, row.amount) == (JAN_31, Decimal(expected))


def test_three_decimals_after_a_comma_are_thousands_in_comma_files() -> None:
    assert only_row('Date,Description,Amount\n2024-01-31,X,"1,234"\n').amount == Decimal(1234)


@pytest.mark.parametrize("raw", ["abc", "1,2,3", "12.3.4", "N/A", "NaN", "1e5", "--", "$"])
def test_bad_amounts_are_row_errors(raw: str) -> None:
    assert parse(f'Date,Description,Amount\n2024-01-31,X,"{raw}"\n') == [
        RowError(2, f"amount '{raw}' is not a number")
    ]


# --- bad rows ------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_line_and_good_rows_still_parse() -> None:
    rows = parse(
        "Date,Description,Amount,Balance\n"
        "2024-01-30,GOOD ONE,-1.00,10\n"
        "31/31/2024,BAD DATE,-1.00,9\n"
        "\n"
        "2024-01-31,   ,-1.00,8\n"
        "2024-01-31,BAD AMOUNT,abc,7\n"
        "2024-01-31,ACME, INC,-1.00,6\n"
        "2024-01-31,SHORT\n"
        ",,,\n"
        "2024-01-31,,,\n"
        "2024-01-31,GOOD TWO,-2.00,5,,\n"
    )
    assert rows == [
        ParsedRow(2, datetime.date(2024, 1, 30), "GOOD ONE", Decimal("-1.00"), "USD"),
        RowError(3, "date '31/31/2024' is not a date"),
        RowError(5, "description is empty"),
        RowError(6, "amount 'abc' is not a number"),
        RowError(7, "expected 4 fields, found 5"),
        RowError(8, "expected 4 fields, found 2"),
        RowError(10, "description is empty; amount is empty"),
        ParsedRow(11, JAN_31, "GOOD TWO", Decimal("-2.00"), "USD"),
    ]


def test_an_overlong_line_is_a_row_error_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statements_csv, "MAX_LINE_CHARS", 64)
    rows = parse(f"Date,Description,Amount\n2024-01-31,{'X' * 200},1\n2024-01-31,OK,2\n")
    assert rows == [
        RowError(2, "line is longer than 64 characters"),
        ParsedRow(3, JAN_31, "OK", Decimal(2), "USD"),
    ]


@pytest.fixture
def small_csv_field_limit() -> Iterator[int]:
    previous = csv.field_size_limit(100)
    yield 100
    csv.field_size_limit(previous)


def test_a_row_csv_cannot_read_is_a_row_error(small_csv_field_limit: int) -> None:
    rows = parse(f'Date,Description,Amount\n2024-01-31,"{"X" * 200}",1\n2024-01-31,OK,2\n')
    assert rows == [
        RowError(
            2, f"row is not valid CSV: field larger than field limit ({small_csv_field_limit})"
        ),
        ParsedRow(3, JAN_31, "OK", Decimal(2), "USD"),
    ]


def test_whitespace_in_descriptions_is_squeezed() -> None:
    assert only_row("Date,Description,Amount\n2024-01-31, SHELL  OIL\t57444 ,1\n").description == (
        "SHELL OIL 57444"
    )


# --- sniffing and whole-file errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", "file is empty"),
        (b" \r\n\r\n", "file is empty"),
        (b"\xef\xbb\xbf\n", "file is empty"),
        (b"Date,Description,Amount\n\x00\x01\x02\x00", "file is not text (binary content)"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            "file is not text (binary content): it looks like a PDF",
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00",
            "file is not text (binary content): it looks like an Excel",
        ),
        (bytes(range(256)) * 4, "file is not text (binary content)"),
        (b"2024-01-31,COFFEE,-3.50\n2024-01-31,TEA,-2.50\n", "no header row found"),
        (
            b"When,What,Amount\n2024-01-31,COFFEE,-3.50\n",
            "no date column found; expected one of: date, transaction date",
        ),
        (
            b"Date,Amount\n2024-01-31,-3.50\n",
            "no description column found; expected one of: description",
        ),
        (b"Date,Description,Balance\n", "no amount column: need 'amount' or 'debit'/'credit'"),
        (b"Date,Description,Amount\n", None),
        (b"Date;Description;Amount\n", None),
    ],
)
def test_sniff_statement(head: bytes, message: str | None) -> None:
    if message is None:
        sniff_statement(head, "statement.csv")
        return
    with pytest.raises(StatementFormatError) as caught:
        sniff_statement(head, "statement.csv")
    assert str(caught.value).startswith(message)


def test_parse_raises_for_an_unusable_file_before_it_is_iterated() -> None:
    with pytest.raises(StatementFormatError, match="no header row found"):
        parse_statement(io.BytesIO(b"just some text\n"), "notes.txt")


def test_a_file_named_ofx_must_look_like_ofx() -> None:
    with pytest.raises(StatementFormatError, match="named like an OFX file"):
        sniff_statement(b"Date,Description,Amount\n", "download.QFX")


def test_default_currency_must_be_a_code() -> None:
    with pytest.raises(ValueError, match="3-letter code"):
        parse("Date,Description,Amount\n", default_currency="dollars")


def test_a_header_only_file_has_no_rows() -> None:
    assert parse("Date,Description,Amount\r\n") == []


# --- encodings -----------------------------------------------------------------------------


def test_utf8_bom_is_ignored() -> None:
    data = b"\xef\xbb\xbfDate,Description,Amount\r\n2024-01-31,CAF\xc3\x89,-3\r\n"
    sniff_statement(data, "s.csv")
    assert only_row(data).description == "CAFÉ"


def test_cp1252_is_the_fallback_when_the_head_is_not_utf8() -> None:
    data = "Date,Description,Amount\n2024-01-31,CAF\u00c9 \u2013 \u20ac,-3\n".encode("cp1252")
    sniff_statement(data, "s.csv")
    assert only_row(data).description == "CAF\u00c9 \u2013 \u20ac"


def test_latin1_is_the_last_resort() -> None:
    rows = b"".join(b"2024-01-31,ROW %d,-3\n" % i for i in range(20))
    data = b"Date,Description,Amount\n2024-01-31,CAF\xc9 \x81,-3\n" + rows
    assert parse(data)[0].description == "CAF\u00c9 \x81"


def test_utf16_with_a_bom() -> None:
    data = "Date\tDescription\tAmount\r\n31/01/2024\tZÜRICH\t-3\r\n".encode("utf-16")
    sniff_statement(data, "export.txt")
    assert only_row(data).description == "ZÜRICH"


def test_a_bad_byte_after_the_head_is_replaced_not_fatal() -> None:
    filler = "".join(f"2024-01-31,ROW {i},-1\n" for i in range(4000))
    data = f"Date,Description,Amount\n{filler}".encode() + b"2024-01-31,BAD \xff BYTE,-1\n"
    assert len(data) > HEAD_BYTES
    assert parse(data)[-1].description == "BAD \ufffd BYTE"


# --- streaming -----------------------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """A binary stream that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self._data.readinto(buffer)
        self.bytes_read += size
        return size


def test_csv_is_streamed_not_read_up_front() -> None:
    body = "".join(
        f"01/{1 + i % 28:02d}/2024,AMAZON MKTPLACE PMTS {i},-{i}.99\n" for i in range(80_000)
    )
    data = f"Date,Description,Amount\n{body}".encode()
    stream = CountingStream(data)
    rows = parse_statement(stream, "big.csv")  # type: ignore[arg-type]
    assert stream.bytes_read <= HEAD_BYTES
    first = next(rows)
    assert first == ParsedRow(
        2, datetime.date(2024, 1, 1), "AMAZON MKTPLACE PMTS 0", Decimal("-0.99"), "USD"
    )
    assert stream.bytes_read < 1.5 * (1 << 20) < len(data) // 2
    assert sum(1 for _ in rows) == 79_999
    assert stream.bytes_read == len(data)


def test_parsing_leaves_the_stream_open() -> None:
    stream = io.BytesIO(b"Date,Description,Amount\n2024-01-31,X,1\n")
    assert len(list(parse_statement(stream, "s.csv"))) == 1
    assert not stream.closed


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"", 0),
        (b"a\n", 1),
        (b"a\nb", 2),
        (b"a\r\nb\r\n", 2),
        (b"a\rb\rc", 3),
        (b"x\n" * 3_000_000, 3_000_000),
    ],
)
def test_count_data_lines(data: bytes, lines: int) -> None:
    assert count_data_lines(io.BytesIO(data)) == lines


# --- OFX -----------------------------------------------------------------------------------

OFX_V1 = b"""OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>
<DTSERVER>20240201120000<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>
<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<STMTRS><CURDEF>USD
<BANKACCTFROM><BANKID>121000248<ACCTID>1234<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><DTSTART>20240101<DTEND>20240131
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20240131235900.000[-5:EST]
<TRNAMT>-42.10
<FITID>1
<NAME>SHELL OIL 57444
<MEMO>FUEL
</STMTTRN>
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20240110
<TRNAMT>1500.00
<FITID>2
<NAME>SMITH &amp; SONS
<MEMO>SMITH &amp; SONS
</STMTTRN>
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>2024XX10
<TRNAMT>abc
<FITID>3
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL><BALAMT>1000.00<DTASOF>20240131</LEDGERBAL>
</STMTRS></STMTTRNRS></BANKMSGSRSV1>
</OFX>
"""

OFX_V2 = b"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX>
<CREDITCARDMSGSRSV1><CCSTMTTRNRS><TRNUID>1</TRNUID>
<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<CCSTMTRS><CURDEF>CAD</CURDEF><CCACCTFROM><ACCTID>9999</ACCTID></CCACCTFROM>
<BANKTRANLIST><DTSTART>20240101</DTSTART><DTEND>20240131</DTEND>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240115</DTPOSTED><TRNAMT>-12.50</TRNAMT>
<FITID>a</FITID><NAME>UBER *TRIP</NAME></STMTTRN>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20240116</DTPOSTED><TRNAMT>-9.99</TRNAMT>
<FITID>b</FITID><MEMO>ADOBE *CREATIVE CLD</MEMO>
<CURRENCY><CURRATE>1.35</CURRATE><CURSYM>USD</CURSYM></CURRENCY></STMTTRN>
</BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1>
</OFX>
"""


def test_ofx_1_sgml() -> None:
    sniff_statement(OFX_V1, "download.qfx")
    assert parse(OFX_V1, "download.qfx") == [
        ParsedRow(18, JAN_31, "SHELL OIL 57444 - FUEL", Decimal("-42.10"), "USD"),
        ParsedRow(26, datetime.date(2024, 1, 10), "SMITH & SONS", Decimal("1500.00"), "USD"),
        RowError(
            34, "date '2024XX10' is not a date; description is empty; amount 'abc' is not a number"
        ),
    ]


def test_ofx_2_xml_with_statement_and_transaction_currencies() -> None:
    sniff_statement(OFX_V2, "export.ofx")
    assert parse(OFX_V2, "whatever.dat") == [
        ParsedRow(8, datetime.date(2024, 1, 15), "UBER *TRIP", Decimal("-12.50"), "CAD"),
        ParsedRow(10, datetime.date(2024, 1, 16), "ADOBE *CREATIVE CLD", Decimal("-9.99"), "USD"),
    ]


def test_an_ofx_body_without_a_header_is_accepted() -> None:
    body = OFX_V1[OFX_V1.index(b"<OFX>") :]
    assert len(parse(body, "bank.ofx")) == 3


def test_a_broken_ofx_file_is_a_format_error() -> None:
    with pytest.raises(StatementFormatError, match="not a valid OFX file"):
        parse(b"OFXHEADER:100\nDATA:OFXSGML\n\n<OFX>broken", "bank.ofx")


# --- the sample ----------------------------------------------------------------------------


def test_the_example_statement_parses_cleanly() -> None:
    with EXAMPLE.open("rb") as stream:
        sniff_statement(stream.read(HEAD_BYTES), EXAMPLE.name)
        stream.seek(0)
        rows = list(parse_statement(stream, EXAMPLE.name))
    assert len(rows) == 300
    assert all(isinstance(row, ParsedRow) for row in rows)
    dates = [row.date for row in rows]
    assert dates == sorted(dates)
    assert (dates[-1] - dates[0]).days > 80
    assert any(row.amount > 0 and "REFUND" in row.description for row in rows)
    assert any(abs(row.amount) >= 1000 for row in rows)
