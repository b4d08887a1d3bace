"""The Polygon/Massive dividends API: both endpoints, its keys, its per-minute limit, its cursors.

- `GET /stocks/v1/dividends` (limit up to 5000, `distribution_type`) and the
  legacy `GET /v3/reference/dividends` (limit up to 1000, `dividend_type`),
  filtered by `ex_dividend_date.gte/.lte` and `ticker.any_of` / `ticker`.
- Paging as the real API does it: `next_url` is the same path with only a
  `cursor` parameter (the filters are inside the cursor), never the key.
- The key: `Authorization: Bearer KEY` (or `apiKey=`). None or an unknown one
  answers 401, `NO_PLAN_KEY` a plan without dividends, 403.
- The free tier's limit: `per_window` requests per `window_seconds` per key,
  counted over a sliding window; above it, 429 with Retry-After.
- `expire_cursors()` makes every cursor issued so far answer 400, as an
  old `next_url` does.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import math
import threading
import time
from collections.abc import Mapping
from functools import cached_property

from divpipe.sim.universe import FREQ_PER_YEAR, Dividend, Universe

KEY = "sim-massive-key"
NO_PLAN_KEY = "sim-massive-basic"
PATHS = {"/stocks/v1/dividends": ("stocks", 100, 5000), "/v3/reference/dividends": ("legacy", 10, 1000)}
# The simulator's kind -> each endpoint's word for it.
STOCKS_TYPES = {"regular": "recurring", "supplemental": "supplemental", "capital_gain": "irregular"}
LEGACY_TYPES = {"regular": "CD", "supplemental": "SC", "capital_gain": "LT"}

Routed = tuple[int, str, bytes, dict[str, str]]


def _json(status: int, payload, headers: dict[str, str] | None = None) -> Routed:
    return status, "application/json", json.dumps(payload).encode(), headers or {}


class PolygonApi:
    def __init__(self, universe: Universe, amount=lambda d: d.amount, per_window: int = 5,
                 window_seconds: float = 60.0):
        self.u = universe
        self.amount = amount  # the pages' amount: corrections included
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.too_many = 0  # 429s answered
        # A server may send fewer rows than the limit asked for; tests make it so, to page often.
        self.page_cap: int | None = None
        self._lock = threading.Lock()
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._generation = 0

    def expire_cursors(self) -> None:
        with self._lock:
            self._generation += 1

    @cached_property
    def _all(self) -> list[Dividend]:
        return sorted(self.u.covered("polygon"), key=lambda d: (d.ex_date, d.symbol, d.kind, d.amount))

    @cached_property
    def _by_symbol(self) -> dict[str, list[Dividend]]:
        # A per-ticker request must not scan every distribution of the universe (the benchmark's loop).
        out: dict[str, list[Dividend]] = collections.defaultdict(list)
        for d in self._all:
            out[d.symbol].append(d)
        return out

    def answer(self, host: str, path: str, q: Mapping[str, str], headers: Mapping[str, str]) -> Routed:
        endpoint, default_limit, max_limit = PATHS[path.rstrip("/")]
        key = _key(headers, q)
        if key is None:
            return _json(401, {"status": "ERROR", "request_id": "sim", "error": "API Key was not provided"})
        if key not in (KEY, NO_PLAN_KEY):
            return _json(401, {"status": "ERROR", "request_id": "sim", "error": "Unknown API Key"})
        wait = self._admit(key)
        if wait:
            return _json(429, {"status": "ERROR", "request_id": "sim",
                               "error": "You've exceeded the maximum requests per minute, please wait or upgrade "
                                        "your subscription to continue."},
                         {"Retry-After": str(math.ceil(wait))})
        if key == NO_PLAN_KEY:
            return _json(403, {"status": "NOT_AUTHORIZED", "request_id": "sim",
                               "message": "You are not entitled to this data. Please upgrade your plan at "
                                          "https://massive.com/pricing"})
        if "cursor" in q:
            state = self._decode(q["cursor"])
            if state is None:
                return _json(400, {"status": "ERROR", "request_id": "sim", "error": "invalid cursor"})
        else:
            try:
                limit = int(q.get("limit", default_limit))
            except ValueError:
                return _json(400, {"status": "ERROR", "request_id": "sim", "error": "limit must be an integer"})
            tickers = q.get("ticker.any_of") or q.get("ticker") or ""
            state = {"gte": q.get("ex_dividend_date.gte", ""), "lte": q.get("ex_dividend_date.lte", ""),
                     "tickers": tickers, "limit": max(1, min(limit, max_limit)), "offset": 0}
        rows = self._select(state)
        offset, limit = state["offset"], min(state["limit"], self.page_cap or state["limit"])
        page = rows[offset:offset + limit]
        doc: dict = {"results": [self._row(endpoint, d, n) for d, n in page], "status": "OK",
                     "request_id": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32]}
        if offset + limit < len(rows):
            doc["next_url"] = f"https://{host}{path}?cursor={self._encode({**state, 'offset': offset + limit})}"
        return _json(200, doc)

    def _admit(self, key: str) -> float:
        """0 when the request is within the limit (and counted), else seconds until it would be."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent[key]
            while recent and recent[0] <= now - self.window_seconds:
                recent.popleft()
            if len(recent) >= self.per_window:
                self.too_many += 1
                return recent[0] + self.window_seconds - now
            recent.append(now)
            return 0.0

    def _select(self, state: dict) -> list[tuple[Dividend, int]]:
        tickers = {t for t in state["tickers"].split(",") if t}
        candidates = self._all
        if tickers:
            candidates = sorted((d for t in tickers for d in self._by_symbol.get(t, ())),
                                key=lambda d: (d.ex_date, d.symbol, d.kind, d.amount))
        out, seen = [], collections.Counter()
        for d in candidates:
            if state["gte"] and d.ex_date.isoformat() < state["gte"]:
                continue
            if state["lte"] and d.ex_date.isoformat() > state["lte"]:
                continue
            if tickers and d.symbol not in tickers:
                continue
            seen[(d.symbol, d.ex_date, d.kind)] += 1
            out.append((d, seen[(d.symbol, d.ex_date, d.kind)]))
        return out

    def _row(self, endpoint: str, d: Dividend, n: int) -> dict:
        ident = "E" + hashlib.sha256(f"{d.symbol}|{d.ex_date}|{d.kind}|{n}".encode()).hexdigest()
        amount = round(self.amount(d), 6)
        frequency = FREQ_PER_YEAR.get(d.frequency, 0) if d.kind == "regular" else 0
        common = {"cash_amount": amount, "currency": "USD", "declaration_date": d.declaration_date.isoformat(),
                  "ex_dividend_date": d.ex_date.isoformat(), "frequency": frequency, "id": ident,
                  "pay_date": d.pay_date.isoformat(), "record_date": d.record_date.isoformat(),
                  "ticker": d.symbol}
        if endpoint == "stocks":
            return {**common, "distribution_type": STOCKS_TYPES.get(d.kind, "unknown"),
                    "historical_adjustment_factor": 1.0, "split_adjusted_cash_amount": amount}
        return {**common, "dividend_type": LEGACY_TYPES.get(d.kind, "CD")}

    def _encode(self, state: dict) -> str:
        raw = json.dumps({**state, "g": self._generation}, sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, token: str) -> dict | None:
        try:
            state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except ValueError:
            return None
        if not isinstance(state, dict) or state.pop("g", None) != self._generation:
            return None
        return state


def _key(headers: Mapping[str, str], q: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization") or ""
    if auth.startswith("Bearer "):
        return auth[len("Bearer "):].strip() or None
    return q.get("apiKey") or None
