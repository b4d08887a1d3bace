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

from bs4 import BeautifulSoup

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


def html_soup(body: bytes, source: str, url: str) -> BeautifulSoup:
    """The parsed page; SourceFormatError when it is empty or cut short.

    HTML parsers happily read half a page, and half a table would be stored
    as if it were the whole one: a page without its closing </html> is refused.
    """
    if not body or not body.strip():
        raise SourceFormatError(source, url, "empty body")
    if b"</html>" not in body[-4096:].lower():
        raise SourceFormatError(source, url, "HTML page without its closing </html> (truncated body?)")
    try:
        return BeautifulSoup(decode(body), "lxml")
    except Exception as err:  # noqa: BLE001 - a parser crash on garbage is a format error too
        raise SourceFormatError(source, url, f"unparsable HTML ({type(err).__name__})") from None


def html_tables(body: bytes, source: str, url: str) -> list[list[list[str]]]:
    """Every <table> of an HTML page as rows of cell texts (header row included)."""
    soup = html_soup(body, source, url)
    tables = []
    for table in soup.find_all("table"):
        rows = []
        for tr in table.find_all("tr"):
            # Rows of a nested table belong to that table, not this one.
            if tr.find_parent("table") is not table:
                continue
            cells = [" ".join(cell.get_text(" ").split())
                     for cell in tr.find_all(["th", "td"]) if cell.find_parent("tr") is tr]
            if cells:
                rows.append(cells)
        tables.append(rows)
    return tables


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
