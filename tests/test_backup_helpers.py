"""Backup helpers without a database: tool choice, credentials, manifests, checks, retention."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from divpipe.errors import ConfigError, DivpipeError
from divpipe.jobs import backup, pgtools
from divpipe.jobs import backup_catalog as catalog

NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", (15, "15.20")),
        ("pg_dump (PostgreSQL) 16.2\n", (16, "16.2")),
        ("pg_dump (PostgreSQL) 9.6.24\n", (9, "9.6")),
        ("something else", None),
    ],
)
def test_parse_version(text, expected):
    assert pgtools.parse_version(text) == expected


def tools(major, where="/usr/bin"):
    return pgtools.PgTools(Path(where), major, f"{major}.1")


def test_choose_tools_takes_the_oldest_new_enough_client():
    system, bundled = tools(15), tools(16, "/venv/pgserver/bin")
    assert pgtools.choose_tools([system, bundled], 15) is system
    assert pgtools.choose_tools([bundled, system], 15) is system
    assert pgtools.choose_tools([system, bundled], 16) is bundled
    assert pgtools.choose_tools([system, bundled], 14) is system
    first, second = tools(16, "/a"), tools(16, "/b")
    assert pgtools.choose_tools([first, second], 16) is first


def test_choose_tools_refuses_clients_older_than_the_server():
    with pytest.raises(DivpipeError, match=r"PostgreSQL 17.*15\.1.*16\.1"):
        pgtools.choose_tools([tools(15), tools(16)], 17)
    with pytest.raises(DivpipeError, match="found: none"):
        pgtools.choose_tools([], 15)


def test_password_goes_to_a_private_passfile_never_to_the_environment_values():
    url = "postgresql://backup:p%3Ass%5Cw0rd@db.example:6543/prod?sslmode=require&application_name=x"
    base = {"PATH": "/bin", "PGPASSWORD": "stale", "PGHOST": "elsewhere", "DATABASE_URL": url}
    with pgtools.libpq_environment(url, base) as env:
        passfile = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(passfile.parent.stat().st_mode) == 0o700
        assert passfile.read_text() == "*:*:*:*:p\\:ss\\\\w0rd\n"
        assert env == {
            "PATH": "/bin",
            "PGHOST": "db.example",
            "PGPORT": "6543",
            "PGDATABASE": "prod",
            "PGUSER": "backup",
            "PGSSLMODE": "require",
            "PGAPPNAME": "x",
            "PGPASSFILE": str(passfile),
        }
    assert not passfile.exists() and not passfile.parent.exists()


def test_no_password_means_no_passfile():
    with pgtools.libpq_environment("postgresql://postgres:@/divpipe?host=/tmp/sock", {}) as env:
        assert env == {"PGUSER": "postgres", "PGDATABASE": "divpipe", "PGHOST": "/tmp/sock"}


def test_bad_urls_are_config_errors_that_do_not_echo_the_password():
    with pytest.raises(ConfigError) as err:
        pgtools.libpq_params("postgresql://u:topsecret@h/db?keepalives=1")
    assert "keepalives" in str(err.value) and "topsecret" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        pgtools.libpq_params("host=h password=topsecret port")
    assert "topsecret" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        pgtools.libpq_params("postgresql://u:topsecret@h/db?nonsense=1")
    assert "topsecret" not in str(err.value)


def test_archive_tables_reads_pg_restore_listing():
    listing = (
        ";\n; Archive created at 2026-11-23 03:00:00 UTC\n"
        "215; 1259 16390 TABLE public raw_stocks postgres\n"
        "3380; 0 16390 TABLE DATA public raw_stocks postgres\n"
        "3381; 0 16400 TABLE DATA audit events postgres\n"
        ";3382; 0 16410 TABLE DATA public commented_out postgres\n"
    )
    assert backup.archive_tables(listing) == {"raw_stocks", "audit.events"}


def test_find_drops_guards_prices_and_dividends_beyond_one_percent():
    before = {"raw_stock_prices": 100_000, "raw_dividends": 5_000, "raw_future_dividends": 900}
    exactly_one_percent = {"raw_stock_prices": 99_000, "raw_dividends": 4_950, "raw_future_dividends": 1}
    assert catalog.find_drops(before, exactly_one_percent) == []
    drops = catalog.find_drops(before, {"raw_stock_prices": 98_999, "raw_future_dividends": 1})
    assert [(d.table, d.before, d.after) for d in drops] == [
        ("raw_stock_prices", 100_000, 98_999),
        ("raw_dividends", 5_000, 0),  # the table vanished
    ]
    assert drops[0].message("divpipe_x.dump") == (
        "raw_stock_prices dropped from 100000 to 98999 rows (-1.0%) since the previous good backup"
        " divpipe_x.dump"
    )
    assert catalog.find_drops({"raw_stock_prices": 0}, {"raw_stock_prices": 0}) == []
    assert catalog.find_drops({}, {"raw_stock_prices": 5}) == []


def make_backup(root: Path, days_ago: float, status: str | None) -> catalog.Backup:
    taken = NOW - dt.timedelta(days=days_ago)
    dump = catalog.dump_path(root, taken)
    dump.parent.mkdir(parents=True, exist_ok=True)
    dump.write_bytes(b"PGDMP")
    manifest = None
    if status is not None:
        manifest = {"status": status, "tables": {}}
        catalog.write_manifest(catalog.manifest_path(dump), manifest)
    return catalog.Backup(dump, taken.replace(microsecond=0), manifest)


def test_expired_never_includes_the_newest_good_backup(tmp_path):
    very_old_good = make_backup(tmp_path, 40, "good")
    old_good = make_backup(tmp_path, 30, "good")
    old_failed = make_backup(tmp_path, 20, "failed")
    unfinished = make_backup(tmp_path, 16, None)  # no manifest: never counted as good
    recent_failed = make_backup(tmp_path, 1, "failed")
    backups = catalog.list_backups(tmp_path)
    assert [b.dump for b in backups] == [
        b.dump for b in (very_old_good, old_good, old_failed, unfinished, recent_failed)
    ]
    assert catalog.newest_good(backups).dump == old_good.dump
    gone = catalog.expired(backups, NOW, 14)
    assert [b.dump for b in gone] == [very_old_good.dump, old_failed.dump, unfinished.dump]

    recent_good = make_backup(tmp_path, 2, "good")
    gone = catalog.expired(catalog.list_backups(tmp_path), NOW, 14)
    assert old_good.dump in [b.dump for b in gone]
    assert recent_good.dump not in [b.dump for b in gone]
    assert catalog.expired(catalog.list_backups(tmp_path), NOW, 100) == []


def test_apply_retention_deletes_files_and_empty_day_directories(tmp_path):
    old = make_backup(tmp_path, 30, "good")
    kept = make_backup(tmp_path, 20, "good")
    (tmp_path / "README.txt").write_text("not a backup")
    assert backup.apply_retention(tmp_path, NOW, 14) == 1
    assert not old.dump.exists() and not old.manifest_path.exists() and not old.dump.parent.exists()
    assert kept.dump.exists() and kept.manifest_path.exists()
    assert (tmp_path / "README.txt").exists()


def test_stale_partials_are_removed_but_a_running_dump_is_not(tmp_path):
    day = tmp_path / "20261122"
    day.mkdir()
    stale = day / "divpipe_20261122_030000.dump.partial"
    live = day / "divpipe_20261123_025959.dump.partial"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    two_days = (NOW - dt.timedelta(days=2)).timestamp()
    os.utime(stale, (two_days, two_days))
    os.utime(live, (NOW.timestamp(), NOW.timestamp()))
    backup.apply_retention(tmp_path, NOW, 14)
    assert not stale.exists() and live.exists()


def test_unreadable_manifest_is_not_good(tmp_path):
    entry = make_backup(tmp_path, 1, "good")
    entry.manifest_path.write_text('{"status": "go')  # torn write
    assert catalog.list_backups(tmp_path)[0].good is False


def test_manifest_is_private(tmp_path):
    path = tmp_path / "m.manifest.json"
    catalog.write_manifest(path, {"status": "good"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert catalog.read_manifest(path) == {"status": "good"}
    assert list(tmp_path.iterdir()) == [path]


def test_dump_names_round_trip():
    taken = dt.datetime(2026, 11, 23, 3, 4, 5, tzinfo=dt.UTC)
    path = catalog.dump_path(Path("/b"), taken)
    assert path == Path("/b/20261123/divpipe_20261123_030405.dump")
    assert catalog.parse_taken_at(path.name) == taken
    assert catalog.manifest_path(path) == Path("/b/20261123/divpipe_20261123_030405.manifest.json")
    assert catalog.parse_taken_at("divpipe_20261123_030405.dump.partial") is None


def test_compare_restored_names_every_difference():
    expected = {"a": 1, "b": 2, "c": 3}
    assert backup.compare_restored(expected, dict(expected)) == []
    assert backup.compare_restored(expected, {"a": 1, "b": 5, "d": 0}) == [
        "restore test: b has 5 rows restored, 2 in the database",
        "restore test: c has no table rows restored, 3 in the database",
        "restore test: d has 0 rows restored, no table in the database",
    ]
