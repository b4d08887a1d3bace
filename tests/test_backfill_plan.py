"""The backfill's gap plan on hand-made histories: the one SQL query on a real database, then the pure planner."""

from __future__ import annotations

import datetime as dt

import pytest

from divpipe.jobs.backfill_plan import (
    Range,
    Run,
    SymbolGaps,
    load_gaps,
    plan_symbol,
    sessions_between,
)

D = dt.date
# December 2024 and early January 2025: Christmas (25 Dec) and New Year's Day are holidays,
# and 9 January 2025 closed the exchange for President Carter's funeral.
SESSIONS = sessions_between(D(2024, 12, 16), D(2025, 1, 14))


def test_sessions_follow_the_xnys_calendar():
    assert D(2024, 12, 25) not in SESSIONS and D(2025, 1, 1) not in SESSIONS and D(2025, 1, 9) not in SESSIONS
    assert D(2024, 12, 21) not in SESSIONS  # a Saturday
    assert SESSIONS[0] == D(2024, 12, 16) and SESSIONS[-1] == D(2025, 1, 14)
    assert len(SESSIONS) == 19


def store(conn, history: dict[str, list[dt.date]], first_trade: dict[str, dt.date] | None = None,
          delisted: tuple[str, ...] = ()) -> None:
    with conn.cursor() as cur:
        for symbol, days in history.items():
            cur.execute("INSERT INTO raw_stocks (symbol, first_trade_date) VALUES (%s, %s)",
                        (symbol, (first_trade or {}).get(symbol)))
            cur.executemany("INSERT INTO raw_stock_prices (symbol, date, close) VALUES (%s, %s, 1)",
                            [(symbol, d) for d in days])
        for symbol in delisted:
            cur.execute("INSERT INTO raw_excluded_symbols (symbol, consecutive_failures, excluded, reason)"
                        " VALUES (%s, 5, true, 'no data')", (symbol,))
    conn.commit()


def without(*days: dt.date) -> list[dt.date]:
    return [d for d in SESSIONS if d not in days]


def plans(conn, history, merge=0, whole=False, **kw) -> dict[str, tuple[Range, ...]]:
    store(conn, history, **kw)
    gaps = load_gaps(conn, list(history), SESSIONS)
    assert [g.symbol for g in gaps] == sorted(history)
    return {g.symbol: plan_symbol(g, SESSIONS, merge, whole).ranges for g in gaps}


def test_holes_in_the_middle_at_the_start_and_at_the_end(conn):
    got = plans(conn, {
        "FULL": list(SESSIONS),
        # Holidays are not gaps: a history with every session has none, whatever the calendar days missing.
        "MID": without(D(2024, 12, 20), D(2024, 12, 23), D(2024, 12, 24), D(2025, 1, 6)),
        "HEAD": SESSIONS[3:],
        "TAIL": SESSIONS[:-2],
        "NONE": [],
    })
    assert got["FULL"] == ()
    # 20 Dec (Fri) and 23-24 Dec run together over the weekend: one range of 3 sessions.
    assert got["MID"] == (Range(D(2024, 12, 20), D(2024, 12, 24), 3), Range(D(2025, 1, 6), D(2025, 1, 6), 1))
    assert got["HEAD"] == (Range(SESSIONS[0], SESSIONS[2], 3),)
    assert got["TAIL"] == (Range(SESSIONS[-2], SESSIONS[-1], 2),)
    assert got["NONE"] == (Range(SESSIONS[0], SESSIONS[-1], len(SESSIONS)),)


def test_a_hole_over_a_holiday_is_one_range(conn):
    # 24 Dec and 26 Dec missing, the 25th is Christmas: one run, two sessions.
    got = plans(conn, {"XMAS": without(D(2024, 12, 24), D(2024, 12, 26))})
    assert got["XMAS"] == (Range(D(2024, 12, 24), D(2024, 12, 26), 2),)


def test_listed_mid_window_has_no_gap_before_its_first_trade_date(conn):
    listed = D(2025, 1, 2)
    after = [d for d in SESSIONS if d >= listed]
    got = plans(conn, {"IPO": after, "IPOHOLE": [d for d in after if d != D(2025, 1, 8)], "NEW": []},
                first_trade={"IPO": listed, "IPOHOLE": listed, "NEW": listed})
    assert got["IPO"] == ()
    assert got["IPOHOLE"] == (Range(D(2025, 1, 8), D(2025, 1, 8), 1),)
    # Nothing stored yet, first trade date known: only from it.
    assert got["NEW"] == (Range(listed, SESSIONS[-1], len(after)),)


def test_unknown_first_trade_date_asks_for_the_start_once(conn):
    # Without a first trade date the start of the window is a gap: the request learns the date.
    got = plans(conn, {"OLD": SESSIONS[5:]})
    assert got["OLD"] == (Range(SESSIONS[0], SESSIONS[4], 5),)


def test_delisted_symbol_has_no_gap_after_its_last_bar(conn):
    got = plans(conn, {"GONE": SESSIONS[:8], "GONEHOLE": without(SESSIONS[2])[:8], "EMPTY": []},
                delisted=("GONE", "GONEHOLE", "EMPTY"))
    assert got["GONE"] == ()
    assert got["GONEHOLE"] == (Range(SESSIONS[2], SESSIONS[2], 1),)
    assert got["EMPTY"] == ()


def test_merge_rule_joins_gaps_separated_by_few_stored_sessions(conn):
    # Gaps at indices 1, 4 and 12: 2 stored sessions between the first two, 7 between the next.
    history = {"HOLES": [d for i, d in enumerate(SESSIONS) if i not in (1, 4, 12)]}
    store(conn, history)
    (gaps,) = load_gaps(conn, ["HOLES"], SESSIONS)
    assert gaps.missing == [Run(1, 1), Run(4, 4), Run(12, 12)]
    s = SESSIONS
    assert plan_symbol(gaps, s, 0).ranges == (Range(s[1], s[1], 1), Range(s[4], s[4], 1), Range(s[12], s[12], 1))
    assert plan_symbol(gaps, s, 2).ranges == (Range(s[1], s[4], 2), Range(s[12], s[12], 1))
    assert plan_symbol(gaps, s, 7).ranges == (Range(s[1], s[12], 3),)


def test_no_gaps_flag_refetches_the_whole_window_within_the_source_bounds(conn):
    got = plans(conn, {"FULL": list(SESSIONS), "IPO": SESSIONS[4:]}, whole=True,
                first_trade={"IPO": SESSIONS[4]})
    assert got["FULL"] == (Range(SESSIONS[0], SESSIONS[-1], len(SESSIONS)),)
    assert got["IPO"] == (Range(SESSIONS[4], SESSIONS[-1], len(SESSIONS) - 4),)


def test_one_query_for_all_symbols(conn, monkeypatch):
    store(conn, {f"S{i}": SESSIONS[i:] for i in range(5)})
    executed = []
    real = type(conn.cursor())

    class Counting(real):
        def execute(self, query, params=None):
            executed.append(query)
            return super().execute(query, params)

    monkeypatch.setattr(conn, "cursor_factory", Counting)
    gaps = load_gaps(conn, [f"S{i}" for i in range(5)] + ["UNTRACKED"], SESSIONS)
    assert len(executed) == 1
    assert {g.symbol: len(g.missing) for g in gaps} == {"S0": 0, "S1": 1, "S2": 1, "S3": 1, "S4": 1,
                                                        "UNTRACKED": 1}


@pytest.mark.parametrize("merge", [0, 1, 100])
def test_pure_planner_never_asks_for_a_stored_only_range(merge):
    # Hand-made runs, no database: every range starts and ends on a missing session.
    gaps = SymbolGaps("X", [Run(0, 0), Run(3, 5), Run(18, 18)])
    ranges = plan_symbol(gaps, SESSIONS, merge).ranges
    missing_days = {SESSIONS[i] for i in (0, 3, 4, 5, 18)}
    assert all(r.start in missing_days and r.end in missing_days for r in ranges)
    assert sum(r.sessions for r in ranges) == 5
    assert len(ranges) == {0: 3, 1: 3, 100: 1}[merge]
