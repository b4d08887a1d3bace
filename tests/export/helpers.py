"""Shared by the export tests: run the command in-process, read the manifest, compare with the database."""

from __future__ import annotations

import json
from pathlib import Path

from divpipe.config import reset_settings
from divpipe.export import cli


def export(capsys, *args: str) -> tuple[int, str, str]:
    """`python -m divpipe export ARGS` in this process: (exit code, stdout, stderr)."""
    reset_settings()
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def manifest(root: Path) -> dict:
    return json.loads((root / "_manifest.json").read_text())


def files_on_disk(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "_manifest.json"}
