"""A hung task is stopped at its timeout with its whole process group; the usual critical rule follows."""

from __future__ import annotations

import pytest

from tests.plugins.fake_pipeline import V2, V3, FakePipeline
from tests.test_drivers import alive, task_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def fake(db_env, tmp_path) -> FakePipeline:
    return FakePipeline(db_env, tmp_path)


def _hang(tmp, name: str) -> str:
    # The task and its child both ignore TERM: only the KILL after the grace period ends them.
    return f'trap "" TERM; (sleep 300) & echo $! > "{tmp}/{name}.child"; wait'


@pytest.mark.parametrize("driver", [V3, V2])
def test_a_hung_non_critical_task_times_out_and_the_others_finish(fake, conn, driver):
    fake.define(cboe=_hang(fake.tmp, "cboe"))
    result = fake.run(driver, "--force", TASK_TIMEOUT_CBOE_MINUTES="0.03", DIVPIPE_STOP_GRACE_SECONDS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"yieldmax", "main_update", "companies", "backup"} <= fake.ran()
    summary = fake.summary(result)
    statuses = {t["name"]: t["status"] for t in summary["tasks"]}
    assert statuses["cboe"] == "timeout" and statuses["main_update"] == "success"
    assert summary["status"] == "warning"
    assert any(r.startswith("cboe timed out (non-critical): stopped after its timeout of") for r in summary["reasons"])
    assert task_rows(conn, summary["run_id"])["cboe"][2] == "timeout"
    log = fake.main_log("v2" if driver == V2 else "v3")
    assert "⏱️ cboe is past its timeout" in log and "─── [cboe] timeout" in log
    assert not alive(int((fake.tmp / "cboe.child").read_text()))


def test_a_hung_critical_task_times_out_fails_the_run_and_skips_phase_2(fake, conn):
    fake.define(main_update=_hang(fake.tmp, "main_update"))
    result = fake.run(V3, "--force", TASK_TIMEOUT_MAIN_UPDATE_MINUTES="0.03", DIVPIPE_STOP_GRACE_SECONDS="1")
    assert result.returncode == 1
    summary = fake.summary(result)
    assert any(r.startswith("main_update timed out: stopped after its timeout of") for r in summary["reasons"])
    assert not {"companies", "backup"} & fake.ran()
    assert "critical task main_update timed out" in fake.main_log()
    assert not alive(int((fake.tmp / "main_update.child").read_text()))


def test_a_bad_timeout_setting_is_bad_configuration(fake):
    result = fake.run(V3, "--force", TASK_TIMEOUT_CBOE_MINUTES="soon")
    assert result.returncode == 2
    assert "TASK_TIMEOUT_CBOE_MINUTES" in result.stdout + result.stderr
    assert fake.ran() == set()
