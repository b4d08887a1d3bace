"""scripts/backup_database.sh end to end against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from divpipe.jobs import backup, pgtools
from divpipe.jobs import backup_catalog as catalog

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "backup_database.sh"


def run_script(env, *args):
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=240)


def fill(conn, prices=100_000, dividends=5_000):
    """At least 100,000 rows: prices for 200 symbols x 500 days, dividends, stocks."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO raw_stocks (symbol, company, quote_type)"
            " SELECT 'S' || g, 'Company ' || g, 'EQUITY' FROM generate_series(1, 200) g"
        )
        cur.execute(
            "INSERT INTO raw_stock_prices (symbol, date, open, close, volume)"
            " SELECT 'S' || (g %% 200 + 1), DATE '2020-01-01' + g / 200, 10 + g %% 7, 10.5, g"
            " FROM generate_series(0, %s - 1) g",
            (prices,),
        )
        cur.execute(
            "INSERT INTO raw_dividends (symbol, ex_date, amount)"
            " SELECT 'S' || (g %% 200 + 1), DATE '2020-01-01' + g / 200, 0.25"
            " FROM generate_series(0, %s - 1) g",
            (dividends,),
        )
        cur.execute("INSERT INTO raw_holdings_history VALUES ('ETF1', '2026-11-20', '[{\"s\": 1}]', 1)")


def table_counts(conn):
    with conn, conn.cursor() as cur:
        return backup.count_rows(cur)


def backups_in(env):
    return catalog.list_backups(Path(env["BACKUP_DIR"]))


@pytest.fixture
def filled(conn):
    fill(conn)
    return conn


def test_dump_then_restore_test_is_exact_on_100k_rows(db_env, filled):
    proc = run_script(db_env, "--restore-test")
    assert proc.returncode == 0, proc.stderr

    [made] = backups_in(db_env)
    assert made.good
    assert stat.S_IMODE(made.dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.manifest_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.dump.parent.stat().st_mode) == 0o700
    assert made.dump.parent.name == made.taken_at.strftime("%Y%m%d")
    expected = table_counts(filled)
    assert expected["raw_stock_prices"] == 100_000
    assert sum(expected.values()) > 100_000
    assert made.manifest["tables"] == expected
    assert made.manifest["restore_test"] == "exact"
    # The archive really restores: pg_restore lists every table's data.
    listing = subprocess.run([made.manifest["pg_dump"]["path"].replace("pg_dump", "pg_restore"), "--list",
                              str(made.dump)], capture_output=True, text=True, check=True).stdout
    assert backup.archive_tables(listing) == set(expected)
    # Which pg_dump, and at least as new as the server.
    used = re.search(r"with (\S+/pg_dump) \(PostgreSQL (\d+)", proc.stderr)
    assert used, proc.stderr
    with filled.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int / 10000")
        assert int(used.group(2)) >= cur.fetchone()[0]
    filled.rollback()
    assert "✅ backup" in proc.stderr and "restore test exact" in proc.stderr
    # The scratch database is gone.
    scratch = re.search(r"into scratch database (divpipe_restore_test_\w+)", proc.stderr)
    assert scratch, proc.stderr
    with filled.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (scratch.group(1),))
        assert cur.fetchone()[0] == 0


def test_restore_test_detects_a_count_that_does_not_match(db_url, filled, tmp_path):
    """The restore test compares with the source's counts: a wrong expectation is reported."""
    with filled.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int / 10000")
        tools = pgtools.find_tools(cur.fetchone()[0])
    filled.rollback()
    dump = tmp_path / "x.dump"
    with pgtools.libpq_environment(db_url) as env:
        counts = backup.dump_snapshot(filled, tools, env, dump)
        assert backup.restore_test(db_url, tools, env, dump, counts) == []
        wrong = {**counts, "raw_dividends": counts["raw_dividends"] + 1}
        assert backup.restore_test(db_url, tools, env, dump, wrong) == [
            "restore test: raw_dividends has 5000 rows restored, 5001 in the database"
        ]


def test_a_large_drop_fails_and_the_failed_backup_is_not_the_next_baseline(db_env, filled):
    assert run_script(db_env).returncode == 0
    with filled, filled.cursor() as cur:
        cur.execute("DELETE FROM raw_stock_prices WHERE symbol IN ('S1', 'S2', 'S3')")  # 1.5 %
    for _ in range(2):
        proc = run_script(db_env)
        assert proc.returncode == 1
        assert re.search(r"❌ raw_stock_prices dropped from 100000 to 98500 rows \(-1\.5%\)", proc.stderr)
    good, failed, failed_again = backups_in(db_env)
    assert good.good and not failed.good and not failed_again.good
    assert failed.manifest["status"] == "failed"
    assert failed.dump.exists()  # kept for inspection


def test_retention_keeps_the_newest_good_backup_even_when_old(db_env, filled):
    root = Path(db_env["BACKUP_DIR"])
    now = dt.datetime.now(dt.UTC)

    def fake(days_ago, status, prices):
        dump = catalog.dump_path(root, now - dt.timedelta(days=days_ago))
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_bytes(b"PGDMP")
        catalog.write_manifest(catalog.manifest_path(dump),
                               {"status": status, "tables": {"raw_stock_prices": prices}})
        return dump

    oldest_good = fake(40, "good", 90_000)
    newest_good = fake(30, "good", 200_000)  # this run's 100,000 rows are a large drop from it
    old_failed = fake(20, "failed", 50_000)
    proc = run_script(db_env, "--keep-days", "14")
    assert proc.returncode == 1
    assert "❌ raw_stock_prices dropped from 200000 to 100000 rows" in proc.stderr
    left = [b.dump for b in backups_in(db_env)]
    assert newest_good in left
    assert oldest_good not in left and old_failed not in left
    assert len(left) == 2  # the newest good one and tonight's failed one


def test_password_is_never_on_a_command_line_or_in_the_log(db_url, filled, tmp_path, monkeypatch, capsys,
                                                            keep_logging):
    """pg_dump and pg_restore get the password from a 0600 file; argv and logs never carry it."""
    secret = "Sup3r-Secret-Pw"
    parts = urlsplit(db_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    url_with_password = urlunsplit(parts._replace(netloc=f"{parts.username}:{secret}@{host}"))
    monkeypatch.setenv("DATABASE_URL", url_with_password)  # trust auth ignores it; the tools still get it
    from divpipe.config import reset_settings

    reset_settings()
    real = max((t for t in map(pgtools.probe, pgtools.candidate_bin_dirs()) if t), key=lambda t: t.major)
    spy_dir, record = tmp_path / "bin", tmp_path / "calls.log"
    spy_dir.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        spy = spy_dir / tool
        spy.write_text(
            "#!/bin/sh\n"
            f'printf "argv: %s\\n" "$*" >> "{record}"\n'
            f'if [ -n "$PGPASSFILE" ]; then stat -c "mode: %a" "$PGPASSFILE" >> "{record}";'
            f' cat "$PGPASSFILE" >> "{record}"; fi\n'
            f'env | grep -c "{secret}" | sed "s/^/env hits: /" >> "{record}"\n'
            f'exec "{real.bin_dir}/{tool}" "$@"\n'
        )
        spy.chmod(0o755)
    monkeypatch.setattr(pgtools, "candidate_bin_dirs", lambda: [spy_dir])

    assert backup.main(["--restore-test"]) == 0
    calls = record.read_text().splitlines()
    argv_lines = [line for line in calls if line.startswith("argv: ")]
    assert any("--format=custom" in line for line in argv_lines)
    assert any("--dbname=divpipe_restore_test_" in line for line in argv_lines)
    assert not any(secret in line for line in argv_lines)
    assert f"*:*:*:*:{secret}" in calls and "mode: 600" in calls
    assert "env hits: 0" in calls and not any(line.startswith("env hits: 1") for line in calls)
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    [made] = catalog.list_backups(Path(os.environ["BACKUP_DIR"]))
    assert secret not in made.manifest_path.read_text()
    assert made.manifest["restore_test"] == "exact"


def test_embedded_database_without_database_url(tmp_path, embedded_data_dir):
    """No DATABASE_URL: the embedded server is dumped with a pg_dump at least as new as it."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DIVPIPE_DATA_DIR=str(embedded_data_dir), BACKUP_DIR=str(tmp_path / "backups"))
    migrate = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "divpipe", "db", "migrate"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    proc = run_script(env)
    assert proc.returncode == 0, proc.stderr
    used = re.search(r"\(PostgreSQL (\d+)\.\S*\) with (\S+) \(PostgreSQL (\d+)", proc.stderr)
    assert used and int(used.group(3)) >= int(used.group(1)), proc.stderr
    [made] = catalog.list_backups(tmp_path / "backups")
    assert made.good and made.manifest["tables"]  # the migrated schema's tables, all empty


@pytest.mark.parametrize("args", [["--keep-days", "abc"], ["--keep-days", "0"], ["--nope"], ["--keep-days"]])
def test_bad_usage_exits_2_and_writes_nothing(db_env, args):
    proc = run_script(db_env, *args)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("❌ backup_database.sh: ") and line.endswith("(see --help)")
    assert not Path(db_env["BACKUP_DIR"]).exists()


def test_unreachable_database_fails_cleanly(db_env, tmp_path):
    env = {**db_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"}
    proc = run_script(env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("❌ cannot connect to")
    assert not list(Path(env["BACKUP_DIR"]).glob("*/*"))
    psycopg2.connect(db_env["DATABASE_URL"]).close()  # the real database is untouched and reachable


def fake_tools(tmp_path, real: pgtools.PgTools, pg_dump_body: str) -> Path:
    """A bin directory whose pg_dump is `pg_dump_body` (sh) and whose pg_restore is the real one."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "pg_dump").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) {real.version}"; exit 0; fi\n'
        + pg_dump_body
    )
    (bin_dir / "pg_restore").symlink_to(real.pg_restore)
    (bin_dir / "pg_dump").chmod(0o755)
    return bin_dir


def newest_tools() -> pgtools.PgTools:
    return max((t for t in map(pgtools.probe, pgtools.candidate_bin_dirs()) if t), key=lambda t: t.major)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # pg_dump dies half way: a partial file, exit 1.
        ('for a; do case "$a" in --file=*) printf PGDMP-half > "${a#--file=}";; esac; done\n'
         'echo "pg_dump: error: connection lost" >&2; exit 1\n',
         "❌ pg_dump exited 1: pg_dump: error: connection lost"),
        # pg_dump claims success but wrote garbage: pg_restore --list refuses it.
        ('for a; do case "$a" in --file=*) printf garbage > "${a#--file=}";; esac; done\nexit 0\n',
         "❌ pg_restore --list exited 1"),
    ],
)
def test_a_bad_dump_is_never_published(db_url, filled, tmp_path, monkeypatch, capsys, keep_logging, body,
                                       message):
    bin_dir = fake_tools(tmp_path, newest_tools(), body)
    monkeypatch.setattr(pgtools, "candidate_bin_dirs", lambda: [bin_dir])
    old_good = catalog.dump_path(Path(os.environ["BACKUP_DIR"]), dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    old_good.parent.mkdir(parents=True)
    old_good.write_bytes(b"PGDMP")
    catalog.write_manifest(catalog.manifest_path(old_good), {"status": "good", "tables": {}})

    caller_umask = os.umask(0o027)
    try:
        assert backup.main(["--keep-days", "1"]) == 1
        assert os.umask(caller_umask) == 0o027  # the caller's umask is back
    finally:
        os.umask(caller_umask)

    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(message)
    left = sorted(p.name for p in Path(os.environ["BACKUP_DIR"]).rglob("*") if p.is_file())
    assert left == [old_good.name, catalog.manifest_path(old_good).name]  # nothing new, nothing deleted


def test_unwritable_backup_dir_is_one_line(db_env, filled, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    proc = run_script({**db_env, "BACKUP_DIR": str(blocker / "backups")})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("❌ backup failed:") and "Traceback" not in proc.stderr
