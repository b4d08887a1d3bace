"""The registry of outside sources: the ONE place that lists them and states their facts.

Every list of sources elsewhere is derived from `SPECS`: the settings
(`<NAME>_RATE_LIMIT`, `<NAME>_WORKERS`), the HTTP layer's hosts and headers,
the precedence of future dividends, the tables discovery reads, the exported
datasets, the simulator's routes and the tests. Adding a source is a parser
module, an entry here, a migration, a simulator page and its tests; no other
module edits a list (tests/test_source_registry.py checks that).

This module is pure data and imports nothing of the project, so that the
settings and the HTTP layer can read it without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_JSON = "application/json, text/plain, */*"


@dataclass(frozen=True)
class SimPage:
    """A page the simulator serves for a source: `path` (exact, or a prefix when `prefix`)
    answered by the function `handler` of divpipe/sim/routes.py."""

    path: str
    handler: str
    prefix: bool = False

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.prefix else path.rstrip("/") == self.path.rstrip("/")


@dataclass(frozen=True)
class SourceSpec:
    name: str
    # Host suffixes: a request to one of these (or a subdomain) belongs to the source.
    hosts: tuple[str, ...]
    # Default politeness: requests per second (shared by every process of a night) and workers.
    rate: float
    workers: int
    # Largest body accepted, about ten times the largest page the source serves: a hostile or
    # broken page costs that much memory at most, never HTTP_MAX_BYTES.
    max_bytes: int = 5_000_000
    # Headers sent with every request, on top of the User-Agent and Accept-Language every source gets.
    headers: dict[str, str] = field(default_factory=lambda: {"Accept": _HTML})
    # Every host of the source draws from one rate-limit bucket (limits per client, not per host).
    one_bucket: bool = False
    # Requests the source may receive at once above its steady rate; None: RATE_LIMIT_BURST.
    burst: int | None = None
    # Why the default rate is what it is (shown in the settings' help, docs/configuration.md).
    rate_note: str = ""
    # The dividend table the source's scraper writes; None for a source that is not scraped.
    table: str | None = None
    # Rank among the dividend sources in future dividends, 1 highest; None: not consolidated.
    precedence: int | None = None
    # Why the source has that rank (docs/sources.md and future_dividends' docstring say it).
    precedence_reason: str = ""
    # An extra SQL condition on the source's rows in future dividends (a constant, never input).
    future_filter: str = ""
    # Discovery adds the symbols this source's table lists.
    discovered: bool = False
    # The name of the exported dataset of the table; None: not exported.
    dataset: str | None = None
    # The nightly task (scripts/tasks.sh, phase 1), its script and its job module.
    task: str | None = None
    # Minutes the task may run before the driver stops it (TASK_TIMEOUT_<TASK>_MINUTES): about
    # three times its usual worst night (CBOE's first run of a year is ~15 min).
    timeout_minutes: int = 30
    script: str | None = None
    job: str | None = None
    sim_pages: tuple[SimPage, ...] = ()


SPECS: tuple[SourceSpec, ...] = (
    SourceSpec(
        "yahoo", ("yahoo.com",), rate=4.0, workers=8, max_bytes=20_000_000, headers={"Accept": _JSON},
        # fc, query1, query2, guce and consent share one budget: Yahoo limits per client IP.
        one_bucket=True,
        sim_pages=(SimPage("/", "yahoo", prefix=True),),
    ),
    SourceSpec(
        "nasdaq", ("api.nasdaq.com", "www.nasdaq.com"), rate=2.0, workers=4, max_bytes=2_000_000, timeout_minutes=20,
        # nasdaq.com hangs (does not refuse) a client without Origin and Referer.
        headers={"Accept": _JSON, "Origin": "https://www.nasdaq.com", "Referer": "https://www.nasdaq.com/"},
        table="raw_dividends_nasdaq", precedence=4,
        precedence_reason="NASDAQ's dividend calendar: every listed payer, amounts and all four dates",
        discovered=True, dataset="dividends_nasdaq",
        task="nasdaq", script="scripts/scrape_nasdaq_dividends.py", job="divpipe.jobs.scrape_nasdaq",
        sim_pages=(SimPage("/api/calendar/dividends", "nasdaq_calendar"),),
    ),
    SourceSpec(
        "nasdaqtrader", ("nasdaqtrader.com",), rate=1.0, workers=2, max_bytes=5_000_000,
        headers={"Accept": "text/plain,*/*;q=0.8"},
        sim_pages=(SimPage("/dynamic/SymDir/nasdaqlisted.txt", "symbol_directory"),
                   SimPage("/dynamic/SymDir/otherlisted.txt", "symbol_directory")),
    ),
    SourceSpec(
        "cboe", ("cboe.com",), rate=1.0, workers=2, max_bytes=5_000_000, timeout_minutes=45,
        headers={"Accept": _JSON, "Referer": "https://www.cboe.com/us/equities/notices/dividends/"},
        table="raw_dividends_cboe", precedence=2,
        precedence_reason="the exchange's own dividend notice",
        discovered=True, dataset="dividends_cboe",
        task="cboe", script="scripts/scrape_cboe_dividends.py", job="divpipe.jobs.scrape_cboe",
        sim_pages=(SimPage("/us/equities/notices/data/dividends/", "cboe_year"),
                   SimPage("/us/equities/notices/dividends/details/", "cboe_detail")),
    ),
    SourceSpec(
        "yieldmax", ("yieldmaxetfs.com",), rate=2.0, workers=4, max_bytes=8_000_000,
        headers={"Accept": _HTML, "Referer": "https://yieldmaxetfs.com/"},
        table="raw_yieldmax_dividends", precedence=1,
        precedence_reason="the issuer's own page for its funds",
        discovered=True, dataset="dividends_yieldmax",
        task="yieldmax", script="scripts/scrape_yieldmax.py", job="divpipe.jobs.scrape_yieldmax",
        sim_pages=(SimPage("/our-etfs/", "yieldmax", prefix=True),),
    ),
    SourceSpec(
        "nyse", ("nyse.com",), rate=1.0, workers=1, max_bytes=5_000_000, timeout_minutes=15,
        headers={"Accept": _HTML, "Referer": "https://www.nyse.com/"},
        table="raw_dividends_nyse", precedence=6,
        precedence_reason="the NYSE exceptions list: dates, never an amount",
        discovered=True, dataset="dividends_nyse",
        task="nyse", script="scripts/scrape_nyse_dividends.py", job="divpipe.jobs.scrape_nyse",
        sim_pages=(SimPage("/ex-date-dividends", "nyse"),),
    ),
    SourceSpec(
        "snowball", ("snowball-analytics.com",), rate=0.5, workers=2, max_bytes=2_000_000,
        headers={"Accept": _JSON, "Origin": "https://snowball-analytics.com",
                 "Referer": "https://snowball-analytics.com/calendars/dividend-calendar"},
        table="raw_dividends_snowball", precedence=5,
        precedence_reason="an aggregator (declared dividends only)",
        # The scraper keeps declared rows only; the filter guards against estimates anyway.
        future_filter="status IS NULL OR status = 'declared'",
        discovered=True, dataset="dividends_snowball",
        task="snowball", script="scripts/scrape_snowball_dividends.py", job="divpipe.jobs.scrape_snowball",
        sim_pages=(SimPage("/extapi/api/public/dividend-calendar/paged", "snowball"),),
    ),
    SourceSpec(
        # Polygon.io renamed itself Massive in 2025; api.polygon.io still answers for the same keys.
        "polygon", ("api.massive.com", "api.polygon.io"), rate=0.083333, workers=1, max_bytes=10_000_000,
        headers={"Accept": "application/json"},
        # Both names are one account's budget. A burst of 1: the free tier counts 5 per
        # minute, and a burst of 2 would allow 6 in one minute.
        one_bucket=True, burst=1,
        rate_note="the free tier's 5 requests per minute; a paid plan allows more",
        table="raw_dividends_polygon", precedence=3,
        precedence_reason="a vendor's reference feed: every US payer, typed distributions, all four dates, "
                          "corrections by id; below the issuer's and the exchange's own notices, above "
                          "NASDAQ's untyped calendar and the aggregators",
        discovered=True, dataset="dividends_polygon",
        task="polygon", script="scripts/scrape_polygon_dividends.py", job="divpipe.jobs.scrape_polygon",
        sim_pages=(SimPage("/stocks/v1/dividends", "polygon"), SimPage("/v3/reference/dividends", "polygon")),
    ),
)

BY_NAME: dict[str, SourceSpec] = {s.name: s for s in SPECS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def spec(name: str) -> SourceSpec:
    """The spec of source `name`; ValueError naming the known sources otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(NAMES)}") from None


def scraped() -> tuple[SourceSpec, ...]:
    """The sources with a dividend table, in registry order."""
    return tuple(s for s in SPECS if s.table)


def by_precedence() -> tuple[SourceSpec, ...]:
    """The dividend sources consolidated by future dividends, highest precedence first."""
    return tuple(sorted((s for s in SPECS if s.precedence is not None), key=lambda s: s.precedence or 0))


def for_host(host: str | None) -> SourceSpec | None:
    """The source a host belongs to (the host or a subdomain of one of its suffixes), or None."""
    if not host:
        return None
    host = host.lower()
    for s in SPECS:
        for suffix in s.hosts:
            if host == suffix or host.endswith("." + suffix):
                return s
    return None
