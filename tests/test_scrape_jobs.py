"""The scrape scripts end to end against a tiny hand-written site and a real database.

The site serves exactly the payloads each test writes, so the edge cases the
simulator does not produce (a shape change on one page out of many, a page
that keeps failing, the NYSE JavaScript shell) are pinned here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Site:
    """routes: {(host, path): handler(query) -> (status, bytes)}; records every hit."""

    def __init__(self):
        self.routes = {}
        self.hits: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                host = self.headers.get("X-Original-Host", "")
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with site.lock:
                    site.hits.append((host, parts.path, query))
                handler = site.routes.get((host, parts.path))
                status, body = handler(query) if handler else (404, b"not found")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, host, path, handler):
        self.routes[(host, path)] = handler if callable(handler) else (lambda q: (200, handler))

    def count(self, path_prefix):
        return sum(1 for _, path, _ in self.hits if path.startswith(path_prefix))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


@pytest.fixture
def env(db_env, site):
    return {**db_env, "DIVPIPE_SIMULATOR_URL": site.url, "HTTP_RETRIES": "1", "HTTP_BACKOFF": "0",
            **{f"{s}_RATE_LIMIT": "200" for s in ("NASDAQ", "CBOE", "YIELDMAX", "NYSE", "SNOWBALL")}}


def scrape(script, env, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def rows(conn, table, columns="symbol, ex_date, amount"):
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} ORDER BY symbol, ex_date")
        out = cur.fetchall()
    conn.rollback()
    return out


def summary(proc):
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("✅")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


# -- NASDAQ -----------------------------------------------------------------

NASDAQ = ("api.nasdaq.com", "/api/calendar/dividends")


def nasdaq_row(symbol, ex, rate):
    return {"companyName": f"{symbol} Inc.", "symbol": symbol, "dividend_Ex_Date": ex, "payment_Date": "N/A",
            "record_Date": ex, "dividend_Rate": rate, "indicated_Annual_Dividend": "N/A",
            "announcement_Date": "N/A"}


def nasdaq_doc(rows_):
    return json.dumps({"data": {"calendar": {"asOf": "x", "headers": {}, "rows": rows_}, "timeframe": {}},
                       "message": None, "status": {"rCode": 200}}).encode()


NASDAQ_DAYS = {
    "2026-11-02": nasdaq_doc([nasdaq_row("ALCO", "11/2/2026", 0.05), nasdaq_row("BAD^", "11/2/2026", 1)]),
    "2026-11-03": nasdaq_doc([nasdaq_row("brk.b", "11/03/2026", "$1.25")]),
    "2026-11-04": nasdaq_doc(None),
}


def serve_nasdaq(site, days):
    site.route(*NASDAQ, lambda q: (200, days[q["date"]]) if q.get("date") in days else (404, b"?"))


def test_nasdaq_window_is_stored_once_and_a_rerun_writes_nothing(site, env, conn):
    serve_nasdaq(site, NASDAQ_DAYS)
    first = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-04")
    assert first.returncode == 0, first.stderr
    line = summary(first)
    assert "3 requests" in line and "2 records parsed" in line and "2 inserted, 0 updated" in line
    assert "1 rejected" in line
    assert "⚠️ nasdaq: rejected row" in first.stderr and "BAD^" in first.stderr
    assert rows(conn, "raw_dividends_nasdaq") == [
        ("ALCO", dt.date(2026, 11, 2), Decimal("0.05")), ("BRK.B", dt.date(2026, 11, 3), Decimal("1.25"))]
    assert sorted(q["date"] for _, _, q in site.hits) == ["2026-11-02", "2026-11-03", "2026-11-04"]

    again = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-04")
    assert again.returncode == 0 and "0 inserted, 0 updated" in summary(again)


def test_nasdaq_changed_pages_beyond_the_share_fail_the_run_and_write_nothing(site, env, conn):
    # One page of three is more than SCRAPE_MAX_FAILED_PAGE_RATIO (0.2): systemic.
    days = dict(NASDAQ_DAYS)
    days["2026-11-03"] = json.dumps({"data": {"calendar": {"asOf": "x", "records": []}}}).encode()
    serve_nasdaq(site, days)
    proc = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-04")
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("❌")]
    assert len(errors) == 1
    assert "nasdaq: unexpected response from https://api.nasdaq.com/api/calendar/dividends?date=2026-11-03" \
           in errors[0]
    assert "has no key 'rows'" in errors[0] and "nothing written" in errors[0]
    assert "1 of 3 pages failed (33% > SCRAPE_MAX_FAILED_PAGE_RATIO 20%)" in errors[0]
    assert rows(conn, "raw_dividends_nasdaq") == []
    # A changed shape fails every time: fetched once plus the two re-fetches, then given up.
    assert [q["date"] for _, _, q in site.hits].count("2026-11-03") == 3


def test_nasdaq_a_body_garbled_once_is_fetched_again(site, env, conn):
    served = []

    def flaky(q):
        served.append(q["date"])
        body = NASDAQ_DAYS[q["date"]]
        if q["date"] == "2026-11-02" and served.count("2026-11-02") == 1:
            return 200, body[: len(body) // 3] + b"\x00<!-- upstream error -->{{"
        return 200, body

    site.route(*NASDAQ, flaky)
    proc = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-04")
    assert proc.returncode == 0, proc.stderr
    assert "invalid JSON" in proc.stderr and "fetching it again" in proc.stderr
    assert "2 inserted" in summary(proc)
    assert len(rows(conn, "raw_dividends_nasdaq")) == 2


def warned(proc):
    """The summary line of a run that skipped pages."""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("⚠️")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


def skipped_pages(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT source, page, url, failures FROM scrape_skipped_pages ORDER BY source, page")
        out = cur.fetchall()
    conn.rollback()
    return out


def test_nasdaq_a_date_that_keeps_failing_is_skipped_recorded_and_fetched_again_next_night(site, env, conn):
    days = dict(NASDAQ_DAYS)
    broken = {"2026-11-04"}

    def handler(q):
        if q["date"] in broken:
            return 503, b"busy"
        return 200, days.get(q["date"], nasdaq_doc(None))

    site.route(*NASDAQ, handler)
    proc = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-01", "--end", "2026-11-10")
    assert proc.returncode == 0, proc.stderr
    url = "https://api.nasdaq.com/api/calendar/dividends?date=2026-11-04"
    [skip_line] = [ln for ln in proc.stderr.splitlines() if "⚠️ nasdaq: skipped" in ln]
    assert skip_line.endswith(f"⚠️ nasdaq: skipped {url}: giving up on api.nasdaq.com/api/calendar/dividends: "
                              f"last status 503")
    assert "2 inserted" in warned(proc) and "1 page skipped" in warned(proc)
    assert len(rows(conn, "raw_dividends_nasdaq")) == 2
    assert skipped_pages(conn) == [("nasdaq", "2026-11-04", url, 1)]

    # Still broken the next night: counted again. The night after, it parses, though
    # it has left the window: its rows are stored and the record is gone.
    again = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-05", "--end", "2026-11-10")
    assert again.returncode == 0 and "1 page skipped" in warned(again)
    assert skipped_pages(conn) == [("nasdaq", "2026-11-04", url, 2)]
    broken.clear()
    days["2026-11-04"] = nasdaq_doc([nasdaq_row("LATE", "11/4/2026", 0.5)])
    healed = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-05", "--end", "2026-11-10")
    assert healed.returncode == 0, healed.stderr
    assert "1 inserted" in summary(healed)
    assert ("LATE", dt.date(2026, 11, 4), Decimal("0.5")) in rows(conn, "raw_dividends_nasdaq")
    assert skipped_pages(conn) == []


NOT_AVAILABLE = json.dumps({"data": None, "message": None, "status": {
    "rCode": 400, "bCodeMessage": [{"code": 1001, "errorMessage": "Data is currently not available for the "
                                                                  "selected date."}],
    "developerMessage": None}}).encode()
INVALID_DATE = json.dumps({"data": None, "message": None, "status": {
    "rCode": 400, "bCodeMessage": [{"code": 1001, "errorMessage": "Invalid date format. Please use yyyy-MM-dd"}],
    "developerMessage": None}}).encode()


def test_nasdaq_dates_not_available_are_empty_days_fetched_once(site, env, conn):
    days = {**NASDAQ_DAYS, "2026-11-07": NOT_AVAILABLE, "2026-11-08": NOT_AVAILABLE, "2026-11-11": NOT_AVAILABLE}
    site.route(*NASDAQ, lambda q: (200, days.get(q["date"], nasdaq_doc(None))))
    proc = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-11")
    assert proc.returncode == 0, proc.stderr
    line = summary(proc)
    assert "10 requests" in line and "2 inserted" in line and "3 dates not available" in line
    named = [ln for ln in proc.stderr.splitlines() if "2026-11-07" in ln]
    assert len(named) == 1 and "2026-11-07, 2026-11-08, 2026-11-11" in named[0]
    assert skipped_pages(conn) == []


def test_nasdaq_any_other_null_data_is_an_error(site, env, conn):
    days = {**NASDAQ_DAYS, "2026-11-04": INVALID_DATE}
    site.route(*NASDAQ, lambda q: (200, days[q["date"]]))
    proc = scrape("scrape_nasdaq_dividends.py", env, "--start", "2026-11-02", "--end", "2026-11-04")
    assert proc.returncode == 1
    assert "'data' is null" in proc.stderr and "Invalid date format" in proc.stderr
    assert [q["date"] for _, _, q in site.hits].count("2026-11-04") == 3  # re-fetched, then given up
    assert rows(conn, "raw_dividends_nasdaq") == []


def test_nasdaq_two_distributions_on_one_ex_date_are_both_kept_and_corrected_in_place(site, env, conn):
    listed = [nasdaq_row("MAIN", "11/6/2026", 0.30), nasdaq_row("MAIN", "11/6/2026", 0.255)]
    site.route(*NASDAQ, lambda q: (200, nasdaq_doc(listed)))
    args = ("--start", "2026-11-06", "--end", "2026-11-06")
    first = scrape("scrape_nasdaq_dividends.py", env, *args)
    assert "2 inserted" in summary(first)
    stored = "symbol, ex_date, distribution_type, seq, amount"
    assert sorted(rows(conn, "raw_dividends_nasdaq", stored)) == [
        ("MAIN", dt.date(2026, 11, 6), "unknown", 1, Decimal("0.255")),
        ("MAIN", dt.date(2026, 11, 6), "unknown", 2, Decimal("0.30"))]
    listed.reverse()  # the order NASDAQ lists them in does not matter
    assert "0 inserted, 0 updated" in summary(scrape("scrape_nasdaq_dividends.py", env, *args))
    listed[0] = nasdaq_row("MAIN", "11/6/2026", 0.25)  # 0.255 corrected
    fixed = scrape("scrape_nasdaq_dividends.py", env, *args)
    assert "0 inserted, 1 updated" in summary(fixed)
    assert [r[3:] for r in sorted(rows(conn, "raw_dividends_nasdaq", stored))] == [
        (1, Decimal("0.25")), (2, Decimal("0.30"))]


def test_dry_run_prints_records_and_writes_nothing(site, env, conn):
    serve_nasdaq(site, NASDAQ_DAYS)
    proc = scrape("scrape_nasdaq_dividends.py", env, "--dry-run",
                  "--start", "2026-11-02", "--end", "2026-11-04")
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [(r["symbol"], r["ex_date"], r["amount"]) for r in printed] == [
        ("ALCO", "2026-11-02", "0.05"), ("BRK.B", "2026-11-03", "1.25")]
    assert "dry run, nothing written" in summary(proc)
    assert rows(conn, "raw_dividends_nasdaq") == []


@pytest.mark.parametrize(("script", "args", "what"), [
    ("scrape_nasdaq_dividends.py", ["--start", "11/02/2026"], "not a date"),
    ("scrape_nasdaq_dividends.py", ["--start", "2026-11-05", "--end", "2026-11-01"], "after --end"),
    ("scrape_nasdaq_dividends.py", ["--start", "2020-01-01", "--end", "2026-01-01"], "longer than"),
    ("scrape_nyse_dividends.py", ["--start", "2026-01-01"], "unrecognized arguments"),
    ("scrape_cboe_dividends.py", ["--years", "2026,20x6"], "not a year"),
    ("scrape_yieldmax.py", ["--tickers", "ULTY,BAD1"], "not a valid symbol: 'BAD1'"),
    ("scrape_snowball_dividends.py", ["--category", "../etc"], "not a category"),
    ("scrape_snowball_dividends.py", ["--pages", "3"], "unrecognized arguments"),
])
def test_bad_usage_is_one_line_and_exit_2(site, env, script, args, what):
    proc = scrape(script, env, *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("❌") and what in proc.stderr
    assert site.hits == []


def test_every_script_documents_its_flags():
    expected = {
        "scrape_nasdaq_dividends.py": ["--start", "--end", "--dry-run"],
        "scrape_nyse_dividends.py": ["--dry-run"],
        "scrape_cboe_dividends.py": ["--years", "--dry-run"],
        "scrape_yieldmax.py": ["--tickers", "--dry-run"],
        "scrape_snowball_dividends.py": ["--category", "--dry-run"],
    }
    for script, flags in expected.items():
        proc = scrape(script, dict(os.environ), "--help")
        assert proc.returncode == 0
        for flag in flags:
            assert flag in proc.stdout, (script, flag)


# -- NYSE -------------------------------------------------------------------

NYSE = ("www.nyse.com", "/ex-date-dividends")


def nyse_page(rows_):
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows_)
    return (b"<html><body><table><tr><th>Symbol</th><th>Security Name</th><th>Ex-Date</th>"
            b"<th>Record Date</th><th>Declaration Date</th></tr>" + body.encode() + b"</table></body></html>")


def test_nyse_stores_every_row_it_lists_and_never_an_amount(site, env, conn):
    # Each row is a fact the page states, whatever its ex-date: none is left out.
    site.route(*NYSE, nyse_page([["ABC", "ABC Corp", "11/05/2026", "11/04/2026", "10/20/2026"],
                                 ["OLD", "Old Corp", "01/05/2026", "01/04/2026", "12/20/2025"],
                                 ["FAR", "Far Corp", "06/05/2027", "06/04/2027", "10/20/2026"]]))
    proc = scrape("scrape_nyse_dividends.py", env)
    assert proc.returncode == 0, proc.stderr
    assert "3 records parsed, 3 inserted" in summary(proc)
    assert rows(conn, "raw_dividends_nyse", "symbol, ex_date, amount, record_date, security_name") == [
        ("ABC", dt.date(2026, 11, 5), None, dt.date(2026, 11, 4), "ABC Corp"),
        ("FAR", dt.date(2027, 6, 5), None, dt.date(2027, 6, 4), "Far Corp"),
        ("OLD", dt.date(2026, 1, 5), None, dt.date(2026, 1, 4), "Old Corp")]


def test_nyse_javascript_shell_says_so_and_exits_1(site, env, conn):
    site.route(*NYSE, b"<html><body><div id='root'></div><script src='/main.js'></script></body></html>")
    proc = scrape("scrape_nyse_dividends.py", env)
    assert proc.returncode == 1
    assert "the page has no <table>: the live page renders its table with JavaScript" in proc.stderr
    assert rows(conn, "raw_dividends_nyse") == []


# -- CBOE -------------------------------------------------------------------

CBOE_NOTICES = ("www.cboe.com", "/us/equities/notices/data/dividends/")
CBOE_DETAILS = ("www.cboe.com", "/us/equities/notices/dividends/details/")


def cboe_detail(query):
    cells = "".join(
        f"<tr><td>{s}</td><td>{s} Fund</td><td>11/13/2026</td><td>11/13/2026</td><td>11/20/2026</td>"
        f"<td>$0.{len(s)}5</td><td>Monthly</td><td>Income</td></tr>" for s in query["symbols"].split(","))
    return 200, ("<html><table><tr><th>Symbol</th><th>Name</th><th>Ex-Date</th><th>Record Date</th>"
                 "<th>Payment Date</th><th>Amount</th><th>Frequency</th><th>Distribution Type</th></tr>"
                 f"{cells}</table></html>").encode()


def test_cboe_skips_detail_pages_already_stored(site, env, conn):
    alerts = [{"symbols": "AB,XYZ", "declaration_dt": "2026-11-02", "firm_name": "AB & Co"}]
    site.route(*CBOE_NOTICES, lambda q: (200, json.dumps({"alerts": alerts, "year_list": [2026]}).encode()))
    site.route(*CBOE_DETAILS, cboe_detail)
    first = scrape("scrape_cboe_dividends.py", env, "--years", "2026")
    assert first.returncode == 0, first.stderr
    assert "2 inserted" in summary(first)
    key = "AB,XYZ|2026-11-02|AB & Co"
    assert rows(conn, "raw_dividends_cboe", "symbol, amount, detail_key") == [
        ("AB", Decimal("0.25"), key), ("XYZ", Decimal("0.35"), key)]

    alerts.append({"symbols": "Q", "declaration_dt": "2026-11-09", "firm_name": "Q Trust"})
    second = scrape("scrape_cboe_dividends.py", env, "--years", "2026")
    assert second.returncode == 0, second.stderr
    assert "1 inserted, 0 updated" in summary(second)
    details = [q["symbols"] for _, path, q in site.hits if path == CBOE_DETAILS[1]]
    assert details == ["AB,XYZ", "Q"]


def test_cboe_a_notice_skipped_last_year_is_fetched_again_from_its_record(site, env, conn):
    alerts = {2026: [{"symbols": s, "declaration_dt": "2026-12-0" + str(i), "firm_name": f"{s} Trust"}
                     for i, s in enumerate(["AA", "BB", "CC", "DD", "EE"], start=1)],
              2027: [{"symbols": "FF", "declaration_dt": "2027-01-04", "firm_name": "FF Trust"}]}
    broken = {"EE"}
    site.route(*CBOE_NOTICES, lambda q: (200, json.dumps({"alerts": alerts[int(q["year"])]}).encode()))
    site.route(*CBOE_DETAILS, lambda q: (503, b"busy") if q["symbols"] in broken else cboe_detail(q))
    first = scrape("scrape_cboe_dividends.py", env, "--years", "2026")
    assert first.returncode == 0, first.stderr
    assert "4 inserted" in warned(first) and "1 page skipped" in warned(first)
    assert [row[:2] for row in skipped_pages(conn)] == [("cboe", "EE|2026-12-05|EE Trust")]

    # A new year: the 2026 list is no longer fetched, the skipped notice still is.
    broken.clear()
    second = scrape("scrape_cboe_dividends.py", env, "--years", "2027")
    assert second.returncode == 0, second.stderr
    assert "2 inserted" in summary(second)
    assert {r[0] for r in rows(conn, "raw_dividends_cboe")} == {"AA", "BB", "CC", "DD", "EE", "FF"}
    assert skipped_pages(conn) == []


# -- YieldMax ---------------------------------------------------------------

def yieldmax_fund(query, ticker):
    return (b"<html><table><tr><th>DISTRIBUTION PER SHARE</th><th>DECLARED DATE</th><th>EX DATE</th>"
            b"<th>RECORD DATE</th><th>PAYABLE DATE</th><th>ROC</th></tr>"
            b"<tr><td>$0.4511</td><td>11/18/2026</td><td>11/19/2026</td><td>11/19/2026</td><td>11/20/2026</td>"
            b"<td>95.12%</td></tr></table></html>")


def test_yieldmax_list_then_funds_and_tickers_flag_skips_the_list(site, env, conn):
    host = "yieldmaxetfs.com"
    site.route(host, "/our-etfs/", b'<a href="https://yieldmaxetfs.com/our-etfs/ulty/">ULTY&reg;</a>'
                                   b'<a href="https://yieldmaxetfs.com/our-etfs/msty/">MSTY</a></html>')
    for t in ("ulty", "msty"):
        site.route(host, f"/our-etfs/{t}/", yieldmax_fund({}, t))
    proc = scrape("scrape_yieldmax.py", env)
    assert proc.returncode == 0, proc.stderr
    assert rows(conn, "raw_yieldmax_dividends", "symbol, amount, roc_pct") == [
        ("MSTY", Decimal("0.4511"), Decimal("95.12")), ("ULTY", Decimal("0.4511"), Decimal("95.12"))]
    site.hits.clear()
    again = scrape("scrape_yieldmax.py", env, "--tickers", "msty")
    assert again.returncode == 0 and "0 inserted, 0 updated" in summary(again)
    assert [path for _, path, _ in site.hits] == ["/our-etfs/msty/"]


def test_yieldmax_a_fund_page_mid_redesign_is_skipped_and_the_others_stored(site, env, conn):
    host = "yieldmaxetfs.com"
    funds = ["ulty", "msty", "tsly", "nvdy", "conY"]
    site.route(host, "/our-etfs/", "".join(
        f'<a href="https://yieldmaxetfs.com/our-etfs/{t.lower()}/">{t.upper()}</a>' for t in funds).encode()
        + b"</html>")
    for t in funds[:-1]:
        site.route(host, f"/our-etfs/{t}/", yieldmax_fund({}, t))
    # The redesigned page renamed its columns: a changed shape, every time.
    site.route(host, "/our-etfs/cony/", b"<html><table><tr><th>Payout</th><th>Ex</th></tr></table></html>")
    proc = scrape("scrape_yieldmax.py", env)
    # One page of five is exactly SCRAPE_MAX_FAILED_PAGE_RATIO (0.2), not more: not systemic.
    assert proc.returncode == 0, proc.stderr
    assert "4 inserted" in warned(proc) and "1 page skipped" in warned(proc)
    [line] = [ln for ln in proc.stderr.splitlines() if "⚠️ yieldmax: skipped" in ln]
    assert "https://yieldmaxetfs.com/our-etfs/cony/" in line and "no table has the column(s)" in line
    assert skipped_pages(conn) == [("yieldmax", "CONY", "https://yieldmaxetfs.com/our-etfs/cony/", 1)]

    # The fund list fails: nothing can be found, nothing is written (skipped pages included).
    site.route(host, "/our-etfs/", lambda q: (503, b"busy"))
    failed = scrape("scrape_yieldmax.py", env)
    assert failed.returncode == 1
    assert "giving up on yieldmaxetfs.com/our-etfs/" in failed.stderr and "nothing written" in failed.stderr
    assert skipped_pages(conn) == [("yieldmax", "CONY", "https://yieldmaxetfs.com/our-etfs/cony/", 1)]


# -- Snowball ---------------------------------------------------------------

SNOWBALL = ("snowball-analytics.com", "/extapi/api/public/dividend-calendar/paged")


def test_snowball_reads_every_page_and_keeps_declared_rows(site, env, conn):
    items = [{"ticker": f"T{chr(65 + i // 26)}{chr(65 + i % 26)}", "name": "X",
              "exDividendDate": "2026-11-30", "declareDate": None, "paymentDate": "2026-12-15",
              "perShare": 0.1, "divCurrency": "usd", "frequency": "monthly",
              "status": "estimated" if i % 10 == 0 else "declared"} for i in range(120)]

    def page(q):
        n = int(q["page"])
        doc = {"data": items[(n - 1) * 50: n * 50], "totalCount": 120, "pageSize": 50}
        return 200, json.dumps(doc).encode()

    site.route(*SNOWBALL, page)
    proc = scrape("scrape_snowball_dividends.py", env, "--category", "nyse")
    assert proc.returncode == 0, proc.stderr
    assert "108 records parsed, 108 inserted" in summary(proc)
    assert sorted(int(q["page"]) for _, _, q in site.hits) == [1, 2, 3]
    assert {q["type"] for _, _, q in site.hits} == {"nyse"}
    stored = rows(conn, "raw_dividends_snowball", "symbol, status, currency, category")
    assert len(stored) == 108 and set(stored[0][1:]) == {"declared", "USD", "nyse"}
