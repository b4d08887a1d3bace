"""The 📊 DATA COMPLETENESS section of a run: is the database as full as it should be?

Figures, each over the tracked symbols (raw_stocks minus excluded ones):
- price coverage: share with a price for the last completed NYSE session;
- dividend coverage: share with a dividend ex-date in the last 365 days;
- stale symbols: share whose prices were not updated in 48 h;
- missing company: share without a company name.
Each has a warning and a critical threshold from the settings. Rows written
this run per table come from PostgreSQL's own counters (pg_stat_user_tables),
read before and after the run: every writer counts, whatever process it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from divpipe.config import Settings

# The drivers' own bookkeeping is not data, nor is the HTTP layer's shared
# rate-limit state (rate_limits changes with every request).
HISTORY_TABLES = ("pipeline_runs", "task_runs")
NOT_DATA_TABLES = (*HISTORY_TABLES, "rate_limits")
ICON = {"ok": "✅", "warning": "⚠️", "critical": "❌", "n/a": "➖"}
LEVEL_ORDER = {"n/a": 0, "ok": 1, "warning": 2, "critical": 3}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    count: int
    total: int
    warn: float
    crit: float
    higher_is_worse: bool  # stale and missing: a high share is bad

    @property
    def share(self) -> float | None:
        return self.count / self.total if self.total else None

    @property
    def level(self) -> str:
        share = self.share
        if share is None:
            return "n/a"
        if self.higher_is_worse:
            return "critical" if share > self.crit else "warning" if share > self.warn else "ok"
        return "critical" if share < self.crit else "warning" if share < self.warn else "ok"

    def line(self) -> str:
        share = self.share
        shown = "n/a" if share is None else f"{share:.1%}"
        bound = "above" if self.higher_is_worse else "below"
        return (
            f"  {ICON[self.level]} {self.label}: {self.count}/{self.total} ({shown}); "
            f"warning {bound} {self.warn:.0%}, critical {bound} {self.crit:.0%}"
        )

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "count": self.count,
            "total": self.total,
            "share": self.share,
            "warn": self.warn,
            "crit": self.crit,
            "level": self.level,
        }


def figures(counts: dict[str, int], settings: Settings) -> list[Figure]:
    """Pure: the figures from the counts `measure` returns."""
    tracked = counts["tracked"]
    s = settings
    return [
        Figure("price_coverage", "price coverage (last session)", counts["priced"], tracked,
               s.price_coverage_warn, s.price_coverage_crit, False),
        Figure("dividend_coverage", "dividend coverage (last 365 days)", counts["with_dividend"],
               tracked, s.dividend_coverage_warn, s.dividend_coverage_crit, False),
        Figure("stale_symbols", "symbols not updated in 48 h", counts["stale"], tracked,
               s.stale_symbols_warn, s.stale_symbols_crit, True),
        Figure("missing_company", "symbols with no company name", counts["no_company"], tracked,
               s.missing_company_warn, s.missing_company_crit, True),
    ]


def worst_level(levels: list[str]) -> str:
    return max(levels, key=LEVEL_ORDER.__getitem__, default="n/a")


_COUNTS_SQL = """
WITH tracked AS (
    SELECT s.symbol, s.company, s.prices_updated_at
    FROM raw_stocks s
    WHERE NOT EXISTS (
        SELECT 1 FROM raw_excluded_symbols e WHERE e.symbol = s.symbol AND e.excluded
    )
)
SELECT
    count(*),
    count(*) FILTER (WHERE EXISTS (
        SELECT 1 FROM raw_stock_prices p WHERE p.symbol = t.symbol AND p.date >= %(session)s)),
    count(*) FILTER (WHERE EXISTS (
        SELECT 1 FROM raw_dividends d
        WHERE d.symbol = t.symbol AND d.ex_date > %(session)s::date - 365)),
    count(*) FILTER (WHERE t.prices_updated_at IS NULL
                        OR t.prices_updated_at < now() - interval '48 hours'),
    count(*) FILTER (WHERE coalesce(btrim(t.company), '') = '')
FROM tracked t
"""


def measure(conn, last_session: date) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(_COUNTS_SQL, {"session": last_session})
        tracked, priced, with_dividend, stale, no_company = cur.fetchone()
    return {
        "tracked": tracked,
        "priced": priced,
        "with_dividend": with_dividend,
        "stale": stale,
        "no_company": no_company,
    }


def write_counters(conn) -> dict[str, dict[str, int]]:
    """PostgreSQL's cumulative insert/update/delete counts of the pipeline's tables."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() ORDER BY relname"
        )
        return {
            name: {"inserted": ins, "updated": upd, "deleted": dele}
            for name, ins, upd, dele in cur.fetchall()
            if name not in NOT_DATA_TABLES and not name.startswith("schema_")
        }


def rows_written(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Pure: per-table differences, tables with no writes left out."""
    written = {}
    for table, counts in after.items():
        old = before.get(table, {})
        delta = {k: max(0, v - old.get(k, 0)) for k, v in counts.items()}
        if any(delta.values()):
            written[table] = delta
    return written


def report_lines(found: list[Figure], written: dict[str, dict[str, int]] | None,
                 last_session: date) -> list[str]:
    lines = ["📊 DATA COMPLETENESS", f"  last completed NYSE session: {last_session.isoformat()}"]
    if found and found[0].total == 0:
        lines.append("  ⚠️ no symbols are tracked (raw_stocks is empty)")
    else:
        lines += [f.line() for f in found]
    if written is None:
        lines.append("  rows written this run: unknown (no counters from the start of the run)")
    elif not written:
        lines.append("  rows written this run: none")
    else:
        total = sum(sum(v.values()) for v in written.values())
        lines.append(f"  rows written this run: {total}")
        for table, delta in sorted(written.items()):
            lines.append(
                f"    {table:<24} {sum(delta.values()):>9}  "
                f"({delta['inserted']} inserted, {delta['updated']} updated, {delta['deleted']} deleted)"
            )
    return lines
