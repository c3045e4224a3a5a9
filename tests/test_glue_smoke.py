"""One shipped smoke config end to end on the shared GLUE files: train → evaluate → sweep → figures → reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mi_explain.glue.data import default_local_dir
from mi_explain.glue.sweep import main as sweep_main
from mi_explain.glue.train import main as train_main
from mi_explain.results import read_jsonl

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "qqp_cnn_smoke.yaml"


def _linked_images(report: Path) -> list[Path]:
    return [report.parent / m for m in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())]


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(tmp_path: Path) -> None:
    assert default_local_dir().is_dir(), f"the shared GLUE files are missing: {default_local_dir()}"
    args = ["--config", str(CONFIG), "--output_root", str(tmp_path), "--data_dir", str(default_local_dir())]
    scores = train_main(args)
    run = tmp_path / "qqp" / "cnn"
    assert scores == json.loads((run / "scores.json").read_text())
    assert set(scores["metrics"]) == {"accuracy", "f1"} and 0 <= scores["metrics"]["accuracy"] <= 1
    assert scores["n_train"] == 128 and scores["n_eval"] == 64 and "not GLUE's dev split" in scores["note"]
    assert (run / "model" / "config.json").is_file()

    summary = sweep_main(args)
    assert summary["texts"] == 4 and summary["lines"] == 8
    results = read_jsonl(run / "results.jsonl", with_meta=True)
    kinds = {m["kind"]: e for e, m in results}
    assert kinds["prediction"].layers == ["prediction state"] and kinds["layers"].layers == ["K1", "K3", "K5", "K7"]
    assert all(isinstance(e.text, tuple) for e, _ in results)  # question pairs
    for report in (run / "report.md", tmp_path / "qqp" / "report.md", tmp_path / "report.md"):
        assert report.is_file()
    images = _linked_images(run / "report.md") + _linked_images(tmp_path / "qqp" / "report.md")
    assert len(images) >= 6 and all(p.is_file() for p in images), images
    table = (tmp_path / "report.md").read_text()
    assert "| CNN | – | – | " in table and "0.8099" in table  # our QQP cell beside the paper's
