"""One small file written whole or not at all."""

from __future__ import annotations

import pytest

from divpipe.atomic import write_text_atomically


def test_the_new_text_replaces_the_old_and_a_failed_write_leaves_the_old_alone(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old\n")
    write_text_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(TypeError):
        write_text_atomically(target, b"not text")  # fails inside the write
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
