"""The simulator's HTTP server: every simulated site behind one local port.

Requests arrive with the host they were meant for in `X-Original-Host` (see
divpipe/net/redirect.py). Before routing, the server applies, in order: the
per-host rate limit (429 with Retry-After), scripted then random faults, and
the configured latency. `/__sim/...` paths are the simulator's own and never
fail: stats, truth, fault injection.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from divpipe.sim.faults import RANDOM_KINDS, FaultPlan, HostRateLimit
from divpipe.sim.pages import Pages
from divpipe.sim.routes import route
from divpipe.sim.universe import Universe

SLOW_SECONDS = 0.5  # the "slow" fault's extra delay: noticeable, well below read timeouts
NASDAQ_HANG_SECONDS = 30.0  # nasdaq.com hangs on clients without browser headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sim: SimServer

    def handle_error(self, request, client_address):
        # Resets and clients that hang up are part of the job, not errors.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "divpipe-sim/1"
    timeout = 30  # idle keep-alive connections are closed after this
    # Buffer the response and send headers and body in one segment: two small
    # writes would meet Nagle's algorithm and the client's delayed ACK, and
    # every keep-alive request would cost 40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):
        pass

    def setup(self):
        super().setup()
        self.server.sim._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass
        self.server.sim._track(self.connection, add=False)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle()

    def _handle(self):
        sim = self.server.sim
        parts = urlsplit(self.path)
        path = parts.path or "/"
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        host = (self.headers.get("X-Original-Host") or self.headers.get("Host") or "").split(":")[0].lower()
        if path.startswith("/__sim/"):
            self._send(*sim._internal(path, q))
            return
        sim._count(host, path)
        if sim.rate_limiter is not None and not sim.rate_limiter.allow(host):
            sim._fault("429")
            self._send(429, "text/plain", b"Too Many Requests", {"Retry-After": sim.retry_after})
            return
        kind = sim.faults.pick(host, path, parts.query)
        if sim.latency_ms:
            time.sleep(sim.latency_ms / 1000.0)
        if host == "api.nasdaq.com" and not _browser_like(self.headers):
            time.sleep(sim.nasdaq_hang_seconds)
            self._reset()
            return
        if kind:
            sim._fault(kind)
        if kind == "429":
            self._send(429, "text/plain", b"Too Many Requests", {"Retry-After": sim.retry_after})
            return
        if kind == "500":
            self._send(500, "text/html", b"<html><body>Internal Server Error</body></html>", {})
            return
        if kind == "reset":
            self._reset()
            return
        if kind == "slow":
            time.sleep(SLOW_SECONDS)
        status, ctype, body, headers = route(sim.universe, sim.pages, host, path, q, self.headers)
        if kind == "malformed":
            body = _garble(body)
        if kind == "truncated":
            self._send_truncated(status, ctype, body, headers)
            return
        self._send(status, ctype, body, headers)

    def _send_head(self, status: int, ctype: str, body: bytes, headers: dict[str, str]):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, ctype: str, body: bytes, headers: dict[str, str]):
        self._send_head(status, ctype, body, headers)
        self.wfile.write(body)

    def _send_truncated(self, status, ctype, body, headers):
        # Promise the whole body, send half, hang up.
        self._send_head(status, ctype, body, headers)
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _reset(self):
        # SO_LINGER 0 makes close() send a TCP RST: "connection reset by peer".
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _browser_like(headers) -> bool:
    return ("Mozilla" in (headers.get("User-Agent") or "")
            and bool(headers.get("Origin") or headers.get("Referer")))


def _garble(body: bytes) -> bytes:
    # Cut the body short and append junk: not JSON any more, not a full page.
    return body[: max(1, len(body) // 3)] + b"\x00<!-- upstream error -->{{"


class SimServer:
    """The simulated market on a local port. Use as a context manager or start()/stop()."""

    def __init__(self, universe: Universe, latency_ms: float = 0, rate_limit: float | None = None,
                 fault_rate: float = 0.0, seed: int = 0, *, fault_kinds: tuple[str, ...] = RANDOM_KINDS,
                 host: str = "127.0.0.1", port: int = 0, nasdaq_hang_seconds: float = NASDAQ_HANG_SECONDS,
                 retry_after: float = 1, polygon_limit: tuple[int, float] = (5, 60.0)):
        self.universe = universe
        self.pages = Pages(universe)
        # Polygon's own limit (requests, per seconds): the free tier's 5 a minute unless a test says.
        self.pages.polygon.per_window, self.pages.polygon.window_seconds = polygon_limit
        self.latency_ms = float(latency_ms)
        self.rate_limiter = HostRateLimit(rate_limit) if rate_limit else None
        self.faults = FaultPlan(fault_rate, seed, fault_kinds)
        self.nasdaq_hang_seconds = nasdaq_hang_seconds
        self.retry_after = f"{retry_after:g}"  # the Retry-After of every 429
        self._bind = (host, port)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: dict[str, Counter] = defaultdict(Counter)
        self._faults: Counter = Counter()
        self._conns: set[socket.socket] = set()
        self._arrivals: deque[tuple[float, str]] = deque(maxlen=100_000)
        # Requests per host per whole second of Unix time: what a site that
        # limits requests per second counts, and what the rate tests check.
        self._per_second: dict[str, Counter] = defaultdict(Counter)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> SimServer:
        httpd = _Server(self._bind, _Handler)
        httpd.sim = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sim-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake handler threads parked on idle keep-alive sockets
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- observation and control --------------------------------------------

    def stats(self) -> dict:
        """{"requests": {host: {path: n}}, "faults": {kind: n}, "total": n,
        "per_second": {host: {unix second: n}}}."""
        with self._lock:
            requests = {h: dict(c) for h, c in sorted(self._requests.items())}
            return {"requests": requests, "faults": dict(self._faults),
                    "total": sum(sum(c.values()) for c in self._requests.values()),
                    "per_second": {h: dict(sorted(c.items())) for h, c in sorted(self._per_second.items())}}

    def per_second(self, host: str) -> dict[int, int]:
        """Requests `host` received in each whole second of Unix time, seconds with none left out."""
        with self._lock:
            return dict(sorted(self._per_second.get(host, {}).items()))

    def requests_to(self, host: str, path_prefix: str = "") -> int:
        with self._lock:
            return sum(n for p, n in self._requests.get(host, {}).items() if p.startswith(path_prefix))

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._arrivals.clear()
            self._per_second.clear()

    def inject(self, *kinds: str, host: str | None = None, path_prefix: str | None = None) -> None:
        """Serve these faults, in order, to the next requests matching host/path."""
        self.faults.inject(kinds, host, path_prefix)

    def break_pages(self, kind: str = "500", *, host: str | None = None, path_prefix: str | None = None,
                    query: str | None = None) -> None:
        """Make the matching pages fail with `kind` on every request, for good."""
        self.faults.break_pages(kind, host, path_prefix, query)

    def correct(self, symbol: str, ex_date, kind: str, amount: float) -> None:
        """From now on the scraped sites state this amount for that distribution (Yahoo does not)."""
        self.pages.corrections[(symbol, ex_date, kind)] = amount

    def _count(self, host: str, path: str) -> None:
        now = time.monotonic()
        second = int(time.time())
        with self._lock:
            self._requests[host][path] += 1
            self._arrivals.append((now, host))
            self._per_second[host][second] += 1

    def arrivals(self, host: str | None = None) -> list[float]:
        """time.monotonic() at which recent requests (to `host`) arrived, oldest first."""
        with self._lock:
            return [t for t, h in self._arrivals if host is None or h == host]

    def _fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def _track(self, conn, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _internal(self, path: str, q: dict[str, str]) -> tuple[int, str, bytes, dict]:
        def js(payload, status=200):
            return status, "application/json", json.dumps(payload, default=str).encode(), {}

        if path == "/__sim/stats":
            return js(self.stats())
        if path == "/__sim/reset-stats":
            self.reset_stats()
            return js({"ok": True})
        if path == "/__sim/inject":
            try:
                self.inject(*filter(None, q.get("kinds", "").split(",")), host=q.get("host") or None,
                            path_prefix=q.get("path") or None)
            except ValueError as err:
                return js({"error": str(err)}, 400)
            return js({"ok": True})
        if path == "/__sim/break":
            try:
                self.break_pages(q.get("kind", "500"), host=q.get("host") or None,
                                 path_prefix=q.get("path") or None, query=q.get("query") or None)
            except ValueError as err:
                return js({"error": str(err)}, 400)
            return js({"ok": True})
        if path == "/__sim/truth":
            return js(truth(self.universe, q.get("symbol")))
        return js({"error": f"unknown simulator path {path}"}, 404)


def truth(u: Universe, symbol: str | None = None) -> dict:
    """The universe as JSON: a summary and every company, or one symbol in full."""
    if symbol is None:
        return {**u.summary, "companies": [
            {"symbol": c.symbol, "yahoo_symbol": c.yahoo_symbol, "name": c.name, "quote_type": c.quote_type,
             "exchange": c.exchange, "frequency": c.frequency, "delisted": c.delisted,
             "sources": sorted(c.sources), "snowball_categories": list(c.snowball_categories)}
            for c in u.companies]}
    if symbol not in u.symbols:
        return {"error": f"unknown symbol {symbol}"}
    return {"info": u.info(symbol),
            "dividends": [asdict(d) for d in u.dividends(symbol, include_estimates=True)],
            "splits": [asdict(s) for s in u.splits(symbol)],
            "holdings": [list(h) for h in u.holdings(symbol)]}
