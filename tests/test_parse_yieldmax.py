import datetime as dt
from decimal import Decimal

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import yieldmax

HEADER = ["Distribution per Share", "Declared Date", "Ex Date", "Record Date", "Payable Date", "ROC"]


def fund_page(rows, header=HEADER):
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<html><body><h1>ULTY&reg;</h1><table><tr><th>NAV</th><th>Price</th></tr>"
            f"<tr><td>5.1</td><td>5.2</td></tr></table>"
            f"<table class='distributions'><tr>{head}</tr>{body}</table></body></html>").encode()


def test_requests():
    assert yieldmax.fund_list_request() == "https://yieldmaxetfs.com/our-etfs/"
    assert yieldmax.fund_request("ULTY") == "https://yieldmaxetfs.com/our-etfs/ulty/"


def test_fund_list_links_become_unique_tickers():
    page = b"""<html><body><nav><a href="https://yieldmaxetfs.com/our-etfs/">All ETFs</a></nav>
      <a href="https://yieldmaxetfs.com/our-etfs/ulty/">ULTY&reg; YieldMax Ultra Option Income</a>
      <a href="https://yieldmaxetfs.com/our-etfs/ulty/">again</a>
      <a href="/our-etfs/msty">MSTY</a>
      <a href="https://yieldmaxetfs.com/our-etfs/bad4/">broken</a>
      <a href="https://yieldmaxetfs.com/about/">About</a></body></html>"""
    result = yieldmax.parse_fund_list(page, "u")
    assert result.records == ["ULTY", "MSTY"]
    assert len(result.rejected) == 1 and "bad4" in result.rejected[0].row


@pytest.mark.parametrize("body", [b"<html><body><a href='/about/'>x</a></body></html>", b"",
                                  b"<html><body><a href='/our-etfs/ulty/'>ULTY</a>"])
def test_a_fund_list_without_funds_is_a_changed_page(body):
    with pytest.raises(SourceFormatError, match="yieldmax"):
        yieldmax.parse_fund_list(body, "u")


def test_distributions_with_roc_quirks():
    rows = [["$0.4511", "11/18/2026", "11/19/2026", "11/19/2026", "11/20/2026", "95.12%"],
            ["$0.0860", "11/11/2026", "11/12/2026", "11/12/2026", "11/13/2026", "-"]]
    url = "https://yieldmaxetfs.com/our-etfs/ulty/"
    first, second = yieldmax.parse_fund_page(fund_page(rows), url, "ULTY").records
    assert first.row() == {
        "symbol": "ULTY", "ex_date": dt.date(2026, 11, 19), "amount": Decimal("0.4511"),
        "payment_date": dt.date(2026, 11, 20), "record_date": dt.date(2026, 11, 19),
        "declaration_date": dt.date(2026, 11, 18), "roc_pct": Decimal("95.12"), "source_url": url,
        "distribution_type": "unknown", "seq": 1,
    }
    assert second.roc_pct is None and second.amount == Decimal("0.0860")


def test_uppercase_headers_and_extra_columns_are_accepted():
    header = [h.upper() for h in HEADER[:3]] + ["Notes"] + [h.upper() for h in HEADER[3:]]
    rows = [["$1", "11/18/2026", "11/19/2026", "x", "11/19/2026", "11/20/2026", "0%"]]
    [rec] = yieldmax.parse_fund_page(fund_page(rows, header), "u", "msty").records
    assert (rec.symbol, rec.amount, rec.payment_date, rec.roc_pct) == (
        "MSTY", Decimal(1), dt.date(2026, 11, 20), Decimal(0))


def test_bad_rows_rejected():
    rows = [["$0.50", "11/18/2026", "N/A", "11/19/2026", "11/20/2026", "1%"],
            ["$0.50", "11/18/2026", "11/19/2026", "11/19/2026", "11/20/2026", "plenty"],
            ["No distributions yet"]]
    result = yieldmax.parse_fund_page(fund_page(rows), "u", "ULTY")
    assert result.records == [] and len(result.rejected) == 3


@pytest.mark.parametrize(("body", "what"), [
    (fund_page([], header=[h for h in HEADER if h != "ROC"]), "'ROC'"),
    (b"<html><body>Page not found</body></html>", "no <table>"),
    (b" ", "empty body"),
])
def test_changed_fund_pages_raise(body, what):
    with pytest.raises(SourceFormatError, match=what):
        yieldmax.parse_fund_page(body, "u", "ULTY")
