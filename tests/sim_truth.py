"""What a scraped source must store for the simulator's dividends, keyed as the tables are.

The key is (symbol, ex_date, distribution_type, seq): the type is what the
source says of the distribution's kind (NASDAQ, YieldMax and NYSE say nothing:
"unknown"; Snowball names only the extras), seq numbers the distributions of
one symbol, ex-date and type by amount, as `divpipe.sources.distributions` does.
NYSE lists no amount, so two distributions of one ex-date are one row there.
"""

from __future__ import annotations

from collections import defaultdict

# The simulator's kind -> the type each source's rows carry.
TYPES = {
    "cboe": {"regular": "regular", "supplemental": "supplemental", "capital_gain": "capital_gain"},
    "snowball": {"regular": "unknown", "supplemental": "supplemental", "capital_gain": "capital_gain"},
    # Polygon's distribution_type (recurring, supplemental, irregular = special) ...
    "polygon": {"regular": "regular", "supplemental": "supplemental", "capital_gain": "special"},
    # ... and its legacy dividend_type (CD, SC = special, LT = capital gain).
    "polygon_legacy": {"regular": "regular", "supplemental": "special", "capital_gain": "capital_gain"},
}


def keyed(source: str, divs) -> dict:
    """{(symbol, ex_date, distribution_type, seq): sim Dividend}."""
    groups = defaultdict(list)
    for d in divs:
        groups[(d.symbol, d.ex_date, TYPES.get(source, {}).get(d.kind, "unknown"))].append(d)
    out = {}
    for (symbol, ex_date, kind), group in groups.items():
        if source == "nyse":
            group = group[:1]
        for seq, d in enumerate(sorted(group, key=lambda d: d.amount), start=1):
            out[(symbol, ex_date, kind, seq)] = d
    return out
