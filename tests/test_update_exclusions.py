"""divpipe.jobs.exclusions: consecutive failures, exclusion at the threshold, reset on success."""

from __future__ import annotations

from divpipe.jobs import exclusions


def counts(conn) -> dict[str, tuple[int, bool, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT symbol, consecutive_failures, excluded, reason FROM raw_excluded_symbols")
        return {s: (n, x, r) for s, n, x, r in cur.fetchall()}


def test_excluded_only_at_the_threshold_never_after_one_failure(conn):
    for run in range(1, 3):
        result = exclusions.record_failures(conn, [("DEAD", f"no data, run {run}")], threshold=3)
        conn.commit()
        assert [(c.symbol, c.consecutive_failures, c.excluded) for c in result] == [("DEAD", run, False)]
    assert exclusions.excluded_symbols(conn) == set()

    result = exclusions.record_failures(conn, [("DEAD", "no data, run 3")], threshold=3)
    conn.commit()
    assert result[0].excluded and result[0].consecutive_failures == 3
    assert exclusions.excluded_symbols(conn) == {"DEAD"}
    assert counts(conn)["DEAD"] == (3, True, "no data, run 3")


def test_a_success_resets_the_count(conn):
    exclusions.record_failures(conn, [("FLAKY", "timeout"), ("DEAD", "404")], threshold=5)
    exclusions.record_failures(conn, [("FLAKY", "timeout"), ("DEAD", "404")], threshold=5)
    conn.commit()
    assert exclusions.record_successes(conn, ["FLAKY", "AAPL"]) == 1
    conn.commit()
    assert counts(conn) == {"DEAD": (2, False, "404")}

    result = exclusions.record_failures(conn, [("FLAKY", "timeout")], threshold=5)
    assert result[0].consecutive_failures == 1


def test_threshold_of_one_excludes_at_once_and_success_lifts_it(conn):
    exclusions.record_failures(conn, [("GONE", "404")], threshold=1)
    conn.commit()
    assert exclusions.excluded_symbols(conn) == {"GONE"}
    exclusions.record_successes(conn, ["GONE"])
    conn.commit()
    assert exclusions.excluded_symbols(conn) == set()


def test_long_reasons_are_cut(conn):
    exclusions.record_failures(conn, [("X", "y" * 1000)], threshold=5)
    assert len(counts(conn)["X"][2]) == exclusions.MAX_REASON_CHARS
