"""Whatever the bytes, a parser returns records or raises SourceFormatError: nothing else.

"Never hangs" is enforced by the per-test timeout, not by timing assertions.
"""

import html
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from divpipe.errors import SourceFormatError
from divpipe.sources import cboe, nasdaq, nyse, snowball, yieldmax
from divpipe.sources.records import ParseResult

NOTICE = cboe.Notice("ABC", "2026-11-02", "ABC Funds")
PARSERS = {
    "nasdaq": lambda b: nasdaq.parse(b, "u"),
    "cboe-notices": lambda b: cboe.parse_notices(b, "u"),
    "cboe-detail": lambda b: cboe.parse_detail(b, "u", NOTICE),
    "yieldmax-list": lambda b: yieldmax.parse_fund_list(b, "u"),
    "yieldmax-fund": lambda b: yieldmax.parse_fund_page(b, "u", "ULTY"),
    "nyse": lambda b: nyse.parse(b, "u"),
    "snowball": lambda b: snowball.parse_page(b, "u", "nyse").result,
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "calendar", "rows", "symbol", "dividend_Ex_Date", "alerts", "symbols",
                         "totalCount", "pageSize", "ticker", "perShare", "status", "x"]), inner, max_size=6),
    max_leaves=25,
)

html_fragments = st.lists(st.sampled_from([
    "<table>", "</table>", "<tr>", "</tr>", "<td>", "</td>", "<th>", "Symbol", "Ex-Date", "Amount",
    "EX DATE", "ROC", "11/02/2026", "$0.25", "N/A", "<a href='/our-etfs/ulty/'>", "</a>", "\x00", "<!--",
    "<script>", "Security Name", "Record Date", "Declaration Date", "&reg;", "\u2122", "<table><tr>",
    "DISTRIBUTION PER SHARE", "</html>",
]), max_size=40).map("".join)
# Most generated pages end like a whole page, so they get past the truncation check into the tables.
html_pages = st.tuples(html_fragments, st.integers(0, 3)).map(lambda t: t[0] + ("</html>" if t[1] else ""))


def check(parse, body):
    try:
        result = parse(body)
    except SourceFormatError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(result, ParseResult)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes(name, body):
    check(PARSERS[name], body)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["nasdaq", "cboe-notices", "snowball"])
@FUZZ
@given(doc=json_values)
def test_arbitrary_json(name, doc):
    check(PARSERS[name], json.dumps(doc).encode())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["cboe-detail", "yieldmax-list", "yieldmax-fund", "nyse"])
@FUZZ
@given(html=html_pages)
def test_arbitrary_html(name, html):
    check(PARSERS[name], html.encode())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["nasdaq", "cboe-notices", "snowball"])
def test_deeply_nested_json_is_a_format_error(name):
    with pytest.raises(SourceFormatError):
        PARSERS[name](b"[" * 200_000)


cell_values = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                        st.text(max_size=15), st.sampled_from(["N/A", "$0.25", "10/2/2026", "Nov 3, 25", "-"]),
                        st.lists(st.integers(), max_size=2))


@pytest.mark.timeout(120)
@FUZZ
@given(rows=st.lists(st.fixed_dictionaries({k: cell_values for k in nasdaq.ROW_KEYS}), max_size=8))
def test_well_shaped_nasdaq_rows_are_each_kept_or_rejected(rows):
    doc = {"data": {"calendar": {"rows": rows}}, "status": {}}
    result = nasdaq.parse(json.dumps(doc).encode(), "u")
    assert len(result.records) + len(result.rejected) == len(rows)


@pytest.mark.timeout(120)
@FUZZ
@given(items=st.lists(st.fixed_dictionaries(
    {k: cell_values for k in (*snowball.ITEM_KEYS, "companyName", "currency")}), max_size=8))
def test_well_shaped_snowball_items_are_each_kept_or_rejected(items):
    doc = {"data": items, "totalCount": len(items), "pageSize": 50}
    page = snowball.parse_page(json.dumps(doc).encode(), "u", "nyse")
    assert len(page.result.records) + len(page.result.rejected) == len(items)


@pytest.mark.timeout(120)
@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=12), min_size=8, max_size=8), max_size=6))
def test_well_shaped_cboe_tables_are_each_kept_or_rejected(rows):
    head = "".join(f"<th>{c}</th>" for c in cboe.COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    page = f"<html><body><table><tr>{head}</tr>{body}</table></body></html>".encode()
    result = cboe.parse_detail(page, "u", NOTICE)
    assert len(result.records) + len(result.rejected) == len(rows)
