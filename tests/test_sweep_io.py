"""mi_explain.sweep.io: atomic writes replace a file whole and leave no temporary file behind."""

from __future__ import annotations

import json

import pytest

from mi_explain.sweep import io


def test_write_json_round_trip_and_replace(tmp_path):
    path = tmp_path / "sub" / "scores.json"
    io.write_json(path, {"accuracy": 0.5, "name": "σ"})
    assert io.read_json(path) == {"accuracy": 0.5, "name": "σ"}
    assert "σ" in path.read_text(encoding="utf-8")  # UTF-8, not escaped
    io.write_json(path, [1, 2])
    assert json.loads(path.read_text(encoding="utf-8")) == [1, 2]
    assert sorted(p.name for p in path.parent.iterdir()) == ["scores.json"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "scores.json"
    io.write_json(path, {"old": True})
    with pytest.raises(TypeError):
        io.write_json(path, {"bad": object()})  # not JSON: fails before anything is written
    assert io.read_json(path) == {"old": True}
