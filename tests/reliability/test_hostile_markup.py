"""HTML table extraction stays linear in time and bounded in memory, whatever the nesting.

Speed is not asserted in seconds: the test counts the Python calls the parse
makes for n and 4n nested tables (4x for linear work, 16x for the quadratic
walk this replaced), and the peak memory of a parse in a child process
against the size of the page.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from divpipe.errors import SourceFormatError
from divpipe.sources import payload


def _nested(n: int) -> bytes:
    return (b"<html><body>" + b"<table><tr><td>x" * n + b"</td></tr></table>" * n
            + b"<table><tr><th>Ex Date</th><th>Amount</th></tr><tr><td>1/2/2026</td><td>0.5</td></tr></table>"
            + b"</body></html>")


def _python_calls(body: bytes) -> int:
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        payload.table_with_columns(body, ["Ex Date", "Amount"], "test", "https://example.com/")
    finally:
        sys.setprofile(None)
    return calls


def test_nested_tables_cost_linear_work():
    small, large = _python_calls(_nested(200)), _python_calls(_nested(800))
    assert large / small < 6, (small, large)


def test_nested_tables_still_yield_the_table_and_their_own_rows():
    tables = payload.html_tables(_nested(3), "test", "https://example.com/")
    # Each table has its own cell; the nested tables' text is not repeated in every outer cell.
    assert tables[:3] == [[["x"]], [["x"]], [["x"]]]
    assert payload.table_with_columns(_nested(300), ["Ex Date", "Amount"], "test", "u") == [
        {"Ex Date": "1/2/2026", "Amount": "0.5"}]


def test_a_page_of_thousands_of_tables_is_refused():
    with pytest.raises(SourceFormatError, match="more than 1000 tables"):
        payload.html_tables(_nested(5000), "test", "https://example.com/")


@pytest.mark.slow
def test_memory_stays_a_small_multiple_of_the_page():
    script = textwrap.dedent("""
        import resource
        from divpipe.sources import payload
        row = b"<tr><td>2026-01-02</td><td>0.25</td><td>x</td></tr>"
        body = b"<html><body><table>" + row * (4_000_000 // len(row)) + b"</table></body></html>"
        payload.html_tables(body[:100] + b"</html>", "t", "u")  # imports and first-use allocations
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tables = payload.html_tables(body, "t", "u")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert len(tables[0]) == 4_000_000 // len(row)
        print((after - before) * 1024 / len(body))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) < 20, f"peak memory {float(proc.stdout):.1f}x the page"
