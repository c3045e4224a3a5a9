"""The console command on the packaged real model, end to end."""

from __future__ import annotations

import json

import pytest

from mi_explain import Explanation
from mi_explain.cli import main, resolve_model_path


def test_cli_explains_and_writes_files(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["explain", "--model", "minilm", "--text", "a rare bird has charm", "--layers", "0,5",
                 "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "rare" in printed and "information per layer" in printed
    for name in ["explanation.json", "sigma.csv", "sigma.png", "explanation.html"]:
        assert (out / name).stat().st_size > 0, name
    e = Explanation.load(out / "explanation.json")
    assert e.layers == ["layer 0", "layer 5"] and e.words == ["a", "rare", "bird", "has", "charm"]
    assert json.loads((out / "explanation.json").read_text())["options"]["model"] == "minilm"


def test_cli_rejects_bad_layers(tmp_path):
    with pytest.raises(IndexError, match="6 layers"):
        main(["explain", "--model", "minilm", "--text", "a bird", "--layers", "9", "--out", str(tmp_path)])


def test_hub_ids_and_paths_pass_through():
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"
    assert resolve_model_path("/some/folder") == "/some/folder"
