import datetime as dt

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import nyse

HEADER = ["Symbol", "Security Name", "Ex-Date", "Record Date", "Declaration Date"]


def page(rows, header=HEADER):
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<html><body>{table}</body></html>".encode()


def test_rows_carry_dates_and_never_an_amount():
    rows = [["BRK.B", "Berkshire Hathaway Inc. Class B", "11/25/2026", "11/20/2026", "11/01/2026"],
            ["xyz", "XYZ Corp", "12/1/2026", "N/A", ""]]
    first, second = nyse.parse(page(rows), nyse.URL).records
    assert first.row() == {
        "symbol": "BRK.B", "ex_date": dt.date(2026, 11, 25), "amount": None, "payment_date": None,
        "record_date": dt.date(2026, 11, 20), "declaration_date": dt.date(2026, 11, 1),
        "security_name": "Berkshire Hathaway Inc. Class B", "source_url": nyse.URL,
        "distribution_type": "unknown", "seq": 1,
    }
    assert (second.symbol, second.ex_date, second.record_date) == ("XYZ", dt.date(2026, 12, 1), None)


def test_bad_rows_rejected():
    result = nyse.parse(page([["", "Nameless", "11/25/2026", "", ""], ["ABC", "ABC", "soon", "", ""]]), "u")
    assert result.records == [] and [r.reason for r in result.rejected] == ["symbol is missing",
                                                                             "not a date: 'soon'"]


def test_the_javascript_shell_is_named_as_such():
    shell = b"<html><head><script src='/app.js'></script></head><body><div id='root'></div></body></html>"
    with pytest.raises(SourceFormatError) as info:
        nyse.parse(shell, nyse.URL)
    message = str(info.value)
    assert message.startswith(f"nyse: unexpected response from {nyse.URL}: the page has no <table>")
    assert "renders its table with JavaScript" in message


def test_a_missing_column_is_named():
    with pytest.raises(SourceFormatError, match="'Ex-Date'"):
        nyse.parse(page([], header=["Symbol", "Security Name", "Record Date", "Declaration Date"]), "u")


def test_a_truncated_page_is_refused_rather_than_read_as_half_a_table():
    full = page([["ABC", "ABC Corp", "11/05/2026", "", ""]] * 40)
    assert len(nyse.parse(full, "u").records) == 40
    with pytest.raises(SourceFormatError, match="truncated"):
        nyse.parse(full[: len(full) // 2], "u")
