"""Issue 11 defect 6: a symbol that only waited on Yahoo's rate limit is never reported failed.

Yahoo refuses one symbol's chart with 429 all run long. The fan-out retries
it in place, then again after the other symbols, and finally leaves it for
the next run: the run succeeds, the symbol is not among the failures and
gets no step towards exclusion.
"""

from __future__ import annotations

import pytest

from divpipe.fanout import CoolDown
from divpipe.jobs import yahoo_fetch

from .test_update_e2e import SIM_TODAY, excluded_rows, run_update, track

pytestmark = pytest.mark.slow


def test_a_symbol_refused_all_run_is_left_for_the_next_run_not_failed(make_sim, db_url, conn, capsys,
                                                                      monkeypatch):
    sim = make_sim(n_symbols=12, seed=5, today=SIM_TODAY)
    track(conn, sim.universe.symbols)
    refused = sim.universe.listed()[0].symbol
    calls = []
    fetch_chart = yahoo_fetch.fetch_chart

    def refusing(symbol, start):
        calls.append(symbol)
        if symbol == refused:
            from yfinance.exceptions import YFRateLimitError

            raise YFRateLimitError()
        return fetch_chart(symbol, start)

    monkeypatch.setattr(yahoo_fetch, "fetch_chart", refusing)
    # The real pauses (1 s, doubling) would make this test minutes long; the
    # rule under test is what happens after them.
    monkeypatch.setattr(yahoo_fetch, "YahooCoolDown", lambda base, maximum: CoolDown(base=0.0))

    code, err = run_update(capsys, "--history-years", "1")
    assert code == 0, err
    # 1 + 6 retries in each of 3 rounds (the order of rounds is test_fanout's business).
    assert calls.count(refused) == 21
    assert f"⚠️ {refused}: still rate limited after 21 tries; left for the next run" in err
    assert "1 symbol(s) only waited on Yahoo's rate limit all run" in err
    assert f"⚠️   {refused}:" not in err  # not in the failure list
    assert refused not in excluded_rows(conn)
