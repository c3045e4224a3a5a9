"""Training summaries and learning curves from curve.jsonl files (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mi_explain.glue.curves import collect, main, run_summary, target_of


def _curve(run: Path, rows: list[dict]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 9, "ki', encoding="utf-8")


ROWS = [
    {"step": 0, "kind": "begin", "wall_s": 0.0, "max_steps": 100, "num_train_epochs": 2, "train_batch_size": 32},
    {"step": 10, "epoch": 0.2, "kind": "train", "wall_s": 10.0, "loss": 0.7},
    {"step": 20, "epoch": 0.4, "kind": "train", "wall_s": 30.0, "loss": 0.6},
    {"step": 20, "epoch": 0.4, "kind": "eval", "wall_s": 35.0, "eval_heldout_loss": 0.65, "eval_heldout_accuracy": 0.6},
    {"step": 20, "epoch": 0.4, "kind": "eval", "wall_s": 40.0, "eval_validation_loss": 0.66,
     "eval_validation_accuracy": 0.62},
    {"step": 30, "epoch": 0.6, "kind": "train", "wall_s": 60.0, "loss": 0.5},
]


def test_targets_follow_the_issue() -> None:
    assert target_of("sst2", "bert") == 0.88 and target_of("cola", "bert") == 0.35 and target_of("qqp", "bert") == 0.85
    assert target_of("sst2", "transformer") == pytest.approx(0.7945)
    assert target_of("qqp", "lstm") == pytest.approx(0.8358)
    assert target_of("cola", "cnn") == 0.10


def test_interrupted_run_summary_has_speed_and_time_left(tmp_path: Path) -> None:
    _curve(tmp_path / "sst2" / "cnn", ROWS)
    s = run_summary(tmp_path / "sst2" / "cnn")
    assert s["status"] == "interrupted" and s["validation"] is None and s["reached_target"] is None
    assert s["steps_done"] == 30 and s["steps_planned"] == 100
    assert s["s_per_step"] == pytest.approx(2.5)  # median of 20 s / 10 steps and 30 s / 10 steps (eval excluded)
    assert s["remaining_s"] == round(2.5 * 70)
    assert s["curve"] == [{"step": 20, "epoch": 0.4, "wall_s": 40.0, "train_loss": pytest.approx(0.65),  # mean 0.7, 0.6
                           "heldout_loss": 0.65, "heldout_metric": 0.6, "validation_loss": 0.66,
                           "validation_metric": 0.62}]


def test_finished_run_and_written_files(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "qqp" / "bert"
    _curve(run, ROWS)
    (run / "scores.json").write_text(json.dumps({
        "headline_value": 0.86, "metrics": {"accuracy": 0.86, "f1": 0.8}, "n_train": 100, "n_heldout": 10,
        "n_eval": 50, "stopped_early": False,
        "options": {"model": {"family": "bert", "output_root": "/some/abs/path"}}}),
        encoding="utf-8")
    [s] = collect(tmp_path / "runs")
    assert s["status"] == "finished" and s["reached_target"] is True and s["remaining_s"] == 0
    assert "not GLUE's dev split" in s["note"]
    assert s["options"] == {"model": {"family": "bert"}}  # no machine paths in what is committed
    main([str(tmp_path / "runs"), "--data", str(tmp_path / "data"), "--tag", "t"])
    csv_lines = (tmp_path / "data" / "glue_curves_t.csv").read_text().splitlines()
    assert csv_lines[0].startswith("task,family,step") and csv_lines[1].startswith("qqp,bert,20,0.4,40,0.65,0.65,0.6")
    assert json.loads((tmp_path / "data" / "glue_training_t.json").read_text())[0]["validation"] == 0.86
    assert (tmp_path / "data" / "glue_curves_t.png").stat().st_size > 1000
    table = (tmp_path / "data" / "glue_training_t.md").read_text()
    assert "| QQP¹ | BERT | 0.8600 | 0.85 | 0.9129 | yes | 100 |" in table and "not GLUE's dev split" in table
