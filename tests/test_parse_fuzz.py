"""Whatever the bytes, a parser returns records or raises SourceFormatError: nothing else.

"Never hangs" is enforced by the per-test timeout, not by timing assertions.
"""

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
]), max_size=40).map("".join)


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
@given(html=html_fragments)
def test_arbitrary_html(name, html):
    check(PARSERS[name], html.encode())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["nasdaq", "cboe-notices", "snowball"])
def test_deeply_nested_json_is_a_format_error(name):
    with pytest.raises(SourceFormatError):
        PARSERS[name](b"[" * 200_000)
