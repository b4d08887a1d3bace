"""Reading response bodies defensively: JSON documents and HTML tables.

Anything that is not the expected kind of document (an empty body, an HTML
error page where JSON was expected, a truncated download, a page without the
table) becomes a `SourceFormatError` naming the source, the URL and what was
missing. Nothing in here raises anything else, whatever the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from lxml import etree

from divpipe.errors import SourceFormatError

# Characters no HTML or JSON document of ours contains; HTML parsers differ on
# them, so they are removed before parsing.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def decode(body: bytes) -> str:
    return _CONTROL.sub("", body.decode("utf-8", errors="replace"))


def load_json(body: bytes, source: str, url: str) -> Any:
    """The parsed JSON document, or SourceFormatError saying why there is none."""
    if not body or not body.strip():
        raise SourceFormatError(source, url, "empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceFormatError(source, url, "body is not UTF-8 text") from None
    if text.lstrip().startswith("<"):
        raise SourceFormatError(source, url, "expected JSON, got an HTML page (an error or block page?)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceFormatError(
            source, url, f"invalid JSON (truncated body?): {err.msg} at character {err.pos}"
        ) from None
    except RecursionError:
        raise SourceFormatError(source, url, "invalid JSON: nested too deeply") from None


def require(mapping: Any, key: str, source: str, url: str, where: str) -> Any:
    """mapping[key], or SourceFormatError when mapping is not an object or lacks the key."""
    if not isinstance(mapping, dict):
        raise SourceFormatError(source, url, f"{where} is not a JSON object")
    if key not in mapping:
        raise SourceFormatError(source, url, f"{where} has no key {key!r}")
    return mapping[key]


def _check_html(body: bytes, source: str, url: str) -> None:
    """SourceFormatError when the page is empty or cut short.

    HTML parsers happily read half a page, and half a table would be stored
    as if it were the whole one: a page without its closing </html> is refused.
    """
    if not body or not body.strip():
        raise SourceFormatError(source, url, "empty body")
    if b"</html>" not in body[-4096:].lower():
        raise SourceFormatError(source, url, "HTML page without its closing </html> (truncated body?)")


def _stream_html(body: bytes, source: str, url: str, target):
    """Feed the page to `target` through libxml2's HTML parser: events, no tree.

    One pass, in time and memory linear in the page whatever its nesting (a
    tree walked with find_parent was quadratic in nested tables), and nothing
    kept but what the target collects.
    """
    _check_html(body, source, url)
    parser = etree.HTMLParser(target=target, recover=True, no_network=True, huge_tree=False)
    try:
        parser.feed(decode(body))
        return parser.close()
    except _TooManyTables:
        raise SourceFormatError(source, url, f"more than {MAX_TABLES} tables: not a page this parser reads"
                                ) from None
    except Exception as err:  # noqa: BLE001 - a parser crash on garbage is a format error too
        raise SourceFormatError(source, url, f"unparsable HTML ({type(err).__name__})") from None


# No page we read has more than a handful of tables; a page with thousands
# (hostile, or nested markup gone wrong) is refused before it costs memory.
MAX_TABLES = 1000


class _TooManyTables(Exception):
    pass


class _Tables:
    """Parser target: every <table> as rows of cell texts, nested tables apart."""

    _SKIP = frozenset({"script", "style"})

    def __init__(self):
        self.tables: list[list[list[str]]] = []
        # One frame per open <table>: its rows, the row and the cell being read.
        self._frames: list[dict] = []
        self._skipping = 0

    def start(self, tag, attrib):
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "table":
            if len(self.tables) >= MAX_TABLES:
                raise _TooManyTables
            rows: list[list[str]] = []
            self.tables.append(rows)
            self._frames.append({"rows": rows, "row": None, "cell": None})
        elif self._frames:
            frame = self._frames[-1]
            if tag == "tr":
                frame["row"], frame["cell"] = [], None
            elif tag in ("td", "th") and frame["row"] is not None:
                frame["cell"] = []

    def end(self, tag):
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "table":
            if self._frames:
                self._frames.pop()
        elif self._frames:
            frame = self._frames[-1]
            if tag in ("td", "th") and frame["cell"] is not None:
                # Strings joined by a space, then whitespace collapsed: "a<b>b</b>" reads "a b".
                frame["row"].append(" ".join(" ".join(frame["cell"]).split()))
                frame["cell"] = None
            elif tag == "tr" and frame["row"] is not None:
                if frame["row"]:
                    frame["rows"].append(frame["row"])
                frame["row"] = frame["cell"] = None

    def data(self, text):
        # Text belongs to the innermost open table's cell; a nested table's text is its own.
        if self._frames and not self._skipping and self._frames[-1]["cell"] is not None:
            self._frames[-1]["cell"].append(text)

    def comment(self, text):
        pass

    def close(self):
        return self.tables


class _Links:
    """Parser target: the href of every <a>, in page order."""

    def __init__(self):
        self.hrefs: list[str] = []

    def start(self, tag, attrib):
        if tag == "a" and attrib.get("href"):
            self.hrefs.append(attrib["href"])

    def end(self, tag):
        pass

    def data(self, text):
        pass

    def comment(self, text):
        pass

    def close(self):
        return self.hrefs


def html_tables(body: bytes, source: str, url: str) -> list[list[list[str]]]:
    """Every <table> of an HTML page as rows of cell texts (header row included)."""
    return _stream_html(body, source, url, _Tables())


def html_links(body: bytes, source: str, url: str) -> list[str]:
    """The href of every link of an HTML page, in page order."""
    return _stream_html(body, source, url, _Links())


def _label(header: str) -> str:
    return " ".join(header.replace(":", " ").split()).lower()


def table_with_columns(
    body: bytes,
    columns: Sequence[str],
    source: str,
    url: str,
    *,
    no_table: str = "the page has no <table>",
) -> list[dict[str, str]]:
    """Data rows of the first table whose header row holds all `columns` (any case).

    Each row maps the column name as given in `columns` to its cell text; rows
    shorter than the header get "" for the missing cells. Extra columns are ignored.
    """
    tables = [t for t in html_tables(body, source, url) if t]
    if not tables:
        raise SourceFormatError(source, url, no_table)
    wanted = {_label(c): c for c in columns}
    best_missing: list[str] | None = None
    for rows in tables:
        positions = {_label(h): i for i, h in reversed(list(enumerate(rows[0])))}
        missing = [name for label, name in wanted.items() if label not in positions]
        if not missing:
            index = {name: positions[label] for label, name in wanted.items()}
            return [
                {name: (cells[i] if i < len(cells) else "") for name, i in index.items()}
                for cells in rows[1:]
            ]
        if best_missing is None or len(missing) < len(best_missing):
            best_missing = missing
    assert best_missing is not None
    missing_text = ", ".join(repr(m) for m in best_missing)
    raise SourceFormatError(source, url, f"no table has the column(s) {missing_text}")
