"""The registry of sources is the one list of them: everything else derives from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from divpipe import config
from divpipe.export import datasets
from divpipe.jobs import discover
from divpipe.jobs import future_dividends as fd
from divpipe.net import hosts
from divpipe.net.headers import headers_for
from divpipe.sim import routes
from divpipe.sources import registry

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "divpipe"
REGISTRY = PACKAGE / "sources" / "registry.py"
NAMES = set(registry.NAMES)
TABLES = {spec.table for spec in registry.SPECS if spec.table}


# Literals that name two sources but are not lists of sources.
NOT_LISTS = {
    # Snowball's calendar categories, two of which are called after exchanges.
    ("divpipe/sources/snowball.py", frozenset({"nyse", "nasdaq"})),
    ("divpipe/sim/universe.py", frozenset({"nyse", "nasdaq"})),
    # The simulator's rule that a payer no calendar source covers gets a Snowball category
    # (per-source behaviour of the simulated world, not a list a new source joins).
    ("divpipe/sim/universe.py", frozenset({"nasdaq", "cboe", "yieldmax"})),
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != REGISTRY:
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _strings(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_module_but_the_registry_keeps_a_list_of_sources():
    # A literal tuple, list, set or dict naming two sources or more is a second list that
    # a new source would have to be added to. Per-source code (`if source == "nasdaq"`) is
    # not a list: it is that source's behaviour.
    offenders = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [k for k in node.keys if k is not None]
            else:
                continue
            named = {n.value for n in items if isinstance(n, ast.Constant) and n.value in NAMES}
            if len(named) >= 2 and (path.relative_to(ROOT).as_posix(), frozenset(named)) not in NOT_LISTS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(named)}")
    assert offenders == []


def test_no_module_but_the_registry_names_a_source_table():
    offenders = [f"{path.relative_to(ROOT)}: {sorted(set(_strings(tree)) & TABLES)}"
                 for path, tree in _modules() if set(_strings(tree)) & TABLES]
    assert offenders == []


def test_the_detector_sees_a_list_and_a_table_name():
    # The two checks above would pass vacuously if they could not see what they look for.
    tree = ast.parse('A = ("nasdaq", "cboe")\nB = "raw_dividends_nyse"\n')
    lists = [n for n in ast.walk(tree) if isinstance(n, ast.Tuple)
             and len({e.value for e in n.elts if isinstance(e, ast.Constant)} & NAMES) >= 2]
    assert lists and set(_strings(tree)) & TABLES


def test_each_source_has_its_settings_hosts_and_headers():
    settings = config.load_settings({}, dotenv=False)
    for spec in registry.SPECS:
        up = spec.name.upper()
        assert config.field(f"{up}_RATE_LIMIT").default == spec.rate
        assert config.field(f"{up}_WORKERS").default == spec.workers
        assert settings.rate_limit(spec.name) == spec.rate
        assert settings.workers(spec.name) == spec.workers
        for host in spec.hosts:
            assert hosts.source_for_host(host) == spec.name
            assert hosts.source_for_host("www." + host) == spec.name
        for key, value in spec.headers.items():
            assert headers_for(spec.name)[key] == value
    assert config.SOURCES == registry.NAMES


def test_hosts_of_one_bucket_sources_share_it():
    for spec in registry.SPECS:
        keys = {hosts.limiter_key("query1." + h) for h in spec.hosts} | {hosts.limiter_key(h) for h in spec.hosts}
        if spec.one_bucket:
            assert keys == {spec.name}
        else:
            assert spec.name not in keys


def test_future_dividends_follow_the_registry_precedence():
    ranked = registry.by_precedence()
    assert [name for name, _ in fd.SOURCES] == [spec.name for spec in ranked]
    assert [spec.precedence for spec in ranked] == list(range(1, len(ranked) + 1))  # no gap, no tie
    assert all(spec.table and spec.precedence_reason for spec in ranked)
    sql = fd._candidates_sql()
    for rank, spec in enumerate(ranked, start=1):
        assert f"SELECT {rank} AS rank, '{spec.name}'::text AS source" in sql
        assert f"FROM {spec.table} " in sql
        if spec.future_filter:
            assert spec.future_filter in sql


def test_discovery_and_export_read_the_tables_the_registry_says():
    assert set(discover.SCRAPED_TABLES) == {s.table for s in registry.SPECS if s.discovered}
    exported = {d.table: d.name for d in datasets.DATASETS}
    for spec in registry.scraped():
        if spec.dataset:
            assert exported[spec.table] == spec.dataset
        else:
            assert spec.table not in exported


def test_each_source_module_takes_its_table_from_the_registry():
    import importlib

    for spec in registry.scraped():
        module = importlib.import_module(f"divpipe.sources.{spec.name}")
        assert (module.SOURCE, module.TABLE) == (spec.name, spec.table)


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda s: s.name)
def test_each_simulator_page_has_its_handler_and_each_job_its_script(spec):
    for page in spec.sim_pages:
        assert callable(routes.handler(page.handler))
    if spec.task:
        assert spec.script and (ROOT / spec.script).is_file()
        assert spec.job and (ROOT / (spec.job.replace(".", "/") + ".py")).is_file()
        assert spec.job.rsplit(".", 1)[1] in (ROOT / spec.script).read_text()


def test_an_unknown_source_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown source 'nope'; expected one of yahoo, nasdaq"):
        registry.spec("nope")


def test_the_documented_precedence_is_the_registry_one():
    import re

    text = (ROOT / "docs" / "jobs.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| (\d+) \| `(\w+)` \|", text, flags=re.M)
    assert [(int(rank), table) for rank, table in documented] == [
        (spec.precedence, spec.table) for spec in registry.by_precedence()]
