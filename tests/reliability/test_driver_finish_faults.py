"""The run's last line says what really went wrong when the database is down."""

from __future__ import annotations

import json
import time

from divpipe.config import reset_settings
from divpipe.driver_finish import FinishRequest, finish


def test_database_down_is_the_reason_not_a_completeness_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://pipeline:hunter2secret@127.0.0.1:1/divpipe")
    reset_settings()
    state = tmp_path / "state"
    state.mkdir()
    request = FinishRequest(run_id="r1", driver="v3", state_dir=state, started_at=time.time() - 5,
                            main_log=str(tmp_path / "main.log"), summary_path=tmp_path / "summary.json")
    assert finish(request) == 1
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("❌ run r1 FAILED (exit 1): data completeness not measured: cannot connect to "
                           "postgresql://pipeline:***@127.0.0.1:1/divpipe"), last
    assert "critical threshold" not in out and "hunter2secret" not in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "hunter2secret" not in json.dumps(summary)
