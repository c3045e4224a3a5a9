"""Training summaries and learning curves of GLUE runs, small enough to commit (``docs/data/``).

For every ``<root>/<task>/<family>/`` that holds a ``curve.jsonl`` (finished or not):

* a summary row: status (finished / interrupted), the validation score, the target of issue 10 and the
  paper's Table 2 value, training examples and epochs, steps done and planned, wall time, measured seconds
  per step and, for an unfinished run, the wall time still needed at that speed;
* the learning curve: per evaluation, step, epoch, cumulative wall seconds, train loss, held-out (a slice of
  the TRAIN split) loss and headline metric, validation loss and headline metric.

``python -m mi_explain.glue.curves <root> --data docs/data --img docs/img --tag cpu`` writes
``glue_training_<tag>.json`` (summaries with curves), ``glue_training_<tag>.md`` (the summary table),
``glue_curves_<tag>.csv`` (the curves, one row per evaluation) and ``glue_curves_<tag>.png``.
Nothing here needs the models: the curves are recomputed from these files alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..sweep.io import atomic_write_text, read_json, write_json
from .report import FAMILY_ORDER, FAMILY_TITLES, PAPER_TABLE2
from .tasks import TASKS, get_task
from .train import CURVE_FILE, last_checkpoint, read_curve

__all__ = ["CURVE_COLUMNS", "TARGETS", "collect", "curve_points", "main", "plot_curves", "run_summary", "target_of",
           "training_table"]

_TASK_COLUMN = {"sst2": 0, "cola": 1, "qqp": 2}
CURVE_COLUMNS = ("task", "family", "step", "epoch", "wall_s", "train_loss", "heldout_loss", "heldout_metric",
                 "validation_loss", "validation_metric")


def target_of(task: str, family: str) -> float:
    """Issue 10's quality target on the validation data (headline metric).

    BERT row (the packaged MiniLM): SST-2 acc 0.88, CoLA MCC 0.35, QQP acc 0.85.  From scratch: within 3 points
    of the paper's Table 2 on SST-2 and QQP accuracy, CoLA MCC 0.10.
    """
    task = get_task(task).name
    if family == "bert":
        return {"sst2": 0.88, "cola": 0.35, "qqp": 0.85}[task]
    if task == "cola":
        return 0.10
    return round(PAPER_TABLE2[family][_TASK_COLUMN[task]] - 0.03, 4)


#: every (task, family) target, for tables
TARGETS = {(t, f): target_of(t, f) for t in TASKS for f in FAMILY_ORDER}


def curve_points(curve: list[dict[str, Any]], headline: str) -> list[dict[str, Any]]:
    """One point per evaluation during training; ``train_loss`` is the mean of the losses logged since the last."""
    points, losses = [], []
    for row in curve:
        if row["kind"] == "train" and "loss" in row:
            losses.append(float(row["loss"]))
        if row["kind"] != "eval":
            continue
        loss = float(np.mean(losses)) if losses else (points[-1]["train_loss"] if points else None)
        losses = []
        points.append({
            "step": row["step"], "epoch": row["epoch"], "wall_s": row["wall_s"], "train_loss": loss,
            "heldout_loss": row.get("eval_heldout_loss"), "heldout_metric": row.get(f"eval_heldout_{headline}"),
            "validation_loss": row.get("eval_validation_loss"),
            "validation_metric": row.get(f"eval_validation_{headline}"),
        })
    return points


def _seconds_per_step(curve: list[dict[str, Any]]) -> float | None:
    """Median wall seconds per optimiser step between consecutive train-loss logs (evaluations excluded)."""
    train = [(r["step"], r["wall_s"]) for r in curve if r["kind"] == "train"]
    rates = [(w1 - w0) / (s1 - s0) for (s0, w0), (s1, w1) in zip(train, train[1:]) if s1 > s0 and w1 >= w0]
    return float(np.median(rates)) if rates else None


def _planned(run: Path, scores: dict | None) -> tuple[int | None, float | None]:
    """(planned steps, planned epochs): a sitting's ``begin`` row, else the newest checkpoint, else scores.json."""
    begins = [r for r in read_curve(run / CURVE_FILE) if r["kind"] == "begin"]
    if begins:
        return int(begins[-1]["max_steps"]), begins[-1]["num_train_epochs"]
    ckpt = last_checkpoint(run / "trainer")
    if ckpt and (Path(ckpt) / "trainer_state.json").is_file():
        state = read_json(Path(ckpt) / "trainer_state.json")
        return int(state.get("max_steps") or 0) or None, state.get("num_train_epochs")
    if scores:
        return scores.get("train_steps"), scores.get("epochs")
    return None, None


def run_summary(run: str | Path) -> dict[str, Any]:
    """The summary of one run folder ``<root>/<task>/<family>`` (see the module docstring)."""
    run = Path(run)
    task, family = get_task(run.parent.name), run.name
    scores = read_json(run / "scores.json") if (run / "scores.json").is_file() else None
    curve = read_curve(run / CURVE_FILE)
    points = curve_points(curve, task.headline)
    steps_done = max((r["step"] for r in curve), default=0)
    planned_steps, planned_epochs = _planned(run, scores)
    sps = _seconds_per_step(curve)
    last = points[-1] if points else {}
    value = scores["headline_value"] if scores else None
    best = max((p["validation_metric"] for p in points if p["validation_metric"] is not None), default=None)
    out = {
        "task": task.name, "family": family, "status": "finished" if scores else "interrupted",
        "metric": task.headline, "validation": value, "target": target_of(task.name, family),
        "paper": PAPER_TABLE2.get(family, (None,) * 3)[_TASK_COLUMN[task.name]],
        "reached_target": None if value is None else bool(value >= target_of(task.name, family)),
        "last_validation_during_training": last.get("validation_metric"), "best_validation_during_training": best,
        "last_heldout": last.get("heldout_metric"),
        "n_train": scores["n_train"] if scores else None, "n_heldout": scores.get("n_heldout") if scores else None,
        "n_eval": scores["n_eval"] if scores else None,
        "steps_done": steps_done, "steps_planned": planned_steps, "epochs_planned": planned_epochs,
        "epochs_done": max((r.get("epoch", 0.0) for r in curve), default=0.0),
        "stopped_early": scores.get("stopped_early") if scores else None,
        "wall_s": max((r["wall_s"] for r in curve), default=None),
        "s_per_step": None if sps is None else round(sps, 3),
        "remaining_s": (round(sps * (planned_steps - steps_done))
                        if sps is not None and planned_steps and not scores else 0 if scores else None),
        "note": task.name == "qqp" and "local QQP split (seeded 90/10 of the Quora release), not GLUE's dev split"
                or "",
        "curve": points,
    }
    if scores:
        out["metrics"] = scores["metrics"]
        out["bf16"] = scores.get("bf16")
        out["options"] = _portable(scores.get("options", {}))
    return out


def _portable(options: dict[str, Any]) -> dict[str, Any]:
    """The run's options without the machine's paths (output root, data folder): safe to commit."""
    return {group: {k: v for k, v in values.items() if k not in ("output_root", "data_dir", "output_dir")}
            if isinstance(values, dict) else values for group, values in options.items()}


def collect(root: str | Path) -> list[dict[str, Any]]:
    """Summaries of every run under ``root`` that has a curve, in task × family order."""
    root = Path(root)
    found = []
    for task in TASKS:
        for family in FAMILY_ORDER:
            run = root / task / family
            if (run / CURVE_FILE).is_file():
                found.append(run_summary(run))
    return found


def plot_curves(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Headline metric (validation solid, held-out dashed, reported score a star) and train loss against epochs,
    one column per task (drawn by :func:`mi_explain.plotting.training_curves`)."""
    from ..plotting import save_figure, training_curves

    colors = dict(zip(FAMILY_ORDER, ("#2b7bba", "#d62728", "#2ca02c", "#9467bd")))
    panels = []
    for task in (t for t in TASKS if any(s["task"] == t for s in summaries)):
        runs = []
        for s in (s for s in summaries if s["task"] == task and s["curve"]):
            pts = s["curve"]
            val = [p["validation_metric"] for p in pts]
            runs.append({"name": FAMILY_TITLES[s["family"]], "color": colors[s["family"]],
                         "epochs": [p["epoch"] for p in pts],
                         "validation": val if any(v is not None for v in val) else None,
                         "heldout": [p["heldout_metric"] for p in pts], "score": s["validation"],
                         "target": s["target"], "train_loss": [p["train_loss"] for p in pts]})
        panels.append({"title": get_task(task).title + (" (local split, not GLUE dev)" if task == "qqp" else ""),
                       "ylabel": TASKS[task].headline.replace("matthews_correlation", "MCC"), "runs": runs})
    fig = training_curves(panels, title="GLUE training on the 2-core CPU: validation (solid), held-out slice of the "
                                        "training set (dashed), reported score of the selected checkpoint (star), "
                                        "target (dotted)")
    return save_figure(fig, path)


_BF16 = {True: "yes", False: "no"}


def training_table(summaries: Sequence[dict[str, Any]]) -> str:
    """A markdown table: one row per run with score, target, paper, data, epochs, steps, wall time, s/step."""
    def f(v: Any, nd: int = 4) -> str:
        return "–" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)

    lines = ["| task | model | validation | target | paper | reached | train examples | epochs done / planned "
             "| steps done / planned | wall time | s/step | bf16 |", "|" + "---|" * 12]
    for s in summaries:
        reached = {True: "yes", False: "**no**", None: "running"}[s["reached_target"]]
        task = get_task(s["task"]).title + ("¹" if s["task"] == "qqp" else "")
        if s["validation"] is not None:
            val = f(s["validation"])
        elif s["last_validation_during_training"] is not None:
            val = f"({f(s['last_validation_during_training'])} so far)"
        else:
            val = f"(held-out {f(s['last_heldout'])} so far)"
        lines.append(
            f"| {task} | {FAMILY_TITLES[s['family']]} | {val} | {s['target']} | {f(s['paper'])} | {reached} "
            f"| {s['n_train'] or '–'} | {s['epochs_done']:.2f} / {s['epochs_planned'] or '–'} "
            f"| {s['steps_done']} / {s['steps_planned'] or '–'} | {(s['wall_s'] or 0) / 60:.0f} min "
            f"| {f(s['s_per_step'], 2)} | {_BF16.get(s.get('bf16'), '–')} |")
    if any(s["task"] == "qqp" for s in summaries):
        lines.append("\n¹ QQP: the local split (a seeded 90/10 split of the Quora release), not GLUE's dev split; "
                     "not comparable with the paper's column.")
    return "\n".join(lines) + "\n"


def write_all(root: str | Path, data_dir: str | Path, img_dir: str | Path, tag: str) -> list[Path]:
    """Write the JSON summaries, the curve CSV and the figure; returns their paths."""
    summaries = collect(root)
    if not summaries:
        raise FileNotFoundError(f"{root}: no <task>/<family>/{CURVE_FILE} found")
    data_dir, img_dir = Path(data_dir), Path(img_dir)
    paths = [write_json(data_dir / f"glue_training_{tag}.json", summaries)]
    rows = [",".join(CURVE_COLUMNS)]
    for s in summaries:
        for p in s["curve"]:
            values = [s["task"], s["family"], *(p[c] for c in CURVE_COLUMNS[2:])]
            rows.append(",".join("" if v is None else f"{v:.5g}" if isinstance(v, float) else str(v) for v in values))
    paths.append(atomic_write_text(data_dir / f"glue_curves_{tag}.csv", "\n".join(rows) + "\n"))
    paths.append(atomic_write_text(data_dir / f"glue_training_{tag}.md", training_table(summaries)))
    paths.append(plot_curves(summaries, img_dir / f"glue_curves_{tag}.png"))
    return paths


def _row(s: dict[str, Any]) -> str:
    def f(v: Any, nd: int = 4) -> str:
        return "–" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)

    eta = "" if not s["remaining_s"] else f", ≈{s['remaining_s'] / 60:.0f} min left"
    return (f"{s['task']:5s} {s['family']:12s} {s['status']:11s} val {f(s['validation'])} "
            f"(during training {f(s['last_validation_during_training'])}) target {s['target']} "
            f"step {s['steps_done']}/{s['steps_planned']} {f(s['wall_s'], 0)} s, {f(s['s_per_step'], 2)} s/step{eta}")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """CLI: print a progress line per run; with ``--data``, write the committed summaries too."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="output root of the trainings (holds <task>/<family>/curve.jsonl)")
    parser.add_argument("--data", default=None, help="folder for glue_training_<tag>.json and glue_curves_<tag>.csv")
    parser.add_argument("--img", default=None, help="folder for glue_curves_<tag>.png (default: --data)")
    parser.add_argument("--tag", default="cpu", help="suffix of the written files")
    args = parser.parse_args(argv)
    summaries = collect(args.root)
    for s in summaries:
        print(_row(s))
    if args.data:
        for p in write_all(args.root, args.data, args.img or args.data, args.tag):
            print(f"wrote {p}")
    return summaries


if __name__ == "__main__":
    main()

