"""Compact summaries of the GLUE runs, small enough to commit (``docs/data/``), from which ``docs/results.md``
and its figures are recomputed without runs, models or retraining.

``export_summaries(root, data_dir, tag)`` reads a runs root (``<root>/<task>/<family>/{scores.json,
results.jsonl, sweep_config.json, sweep.json}``) and, when given, the output folders of the Fig. 8 and Fig. 9
studies, and writes what exists:

* ``glue_scores_<tag>.csv``: task, family, metric, value, n_train, n_eval, epochs, train_seconds, bf16 —
  one row per validation metric of every trained run (Table 2);
* ``glue_information_<tag>.csv``: task, family, layer, layer_index, n_texts, information, information_sem,
  converged — the layer sweep's mean information per layer (nats/dim) with its standard error over texts;
* ``glue_words_<tag>.csv``: task, family, word, count, sentences, stopword — the ``WORDS_PER_RUN`` words most
  often used for prediction (Fig. 5/6);
* ``glue_sweeps_<tag>.json``: per swept run, texts, seconds per text, options, the stopword share of all uses
  and the correlation of log σ between neighbouring words at the prediction state (sub-sequences);
* ``glue_maps_<tag>.json``: σ per layer and word (and at the prediction state) of the drawn rows, e.g. the
  paper's example sentence (Fig. 7);
* ``glue_fig8_<tag>.csv``: model, layer, layer_index, concept, r — r_{i,c} of the Fig. 8 study;
* ``glue_fig9_<tag>.csv``: model, step, layer, layer_index, information (and, from the callback's history,
  information_sem over the probe texts and the converged share; from result.json the run's size, accuracy
  and probe settings) — the Fig. 9 histories;
* ``glue_training_<tag>.json`` and the learning curves: :func:`mi_explain.glue.curves.write_all`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mi_explain.sweep.analysis import information_table, is_stopword, word_counts
from mi_explain.sweep.io import atomic_write_text, read_json, write_json
from mi_explain.sweep.report import load_run

from .report import FAMILY_ORDER
from .tasks import TASKS

__all__ = ["FILES", "WORDS_PER_RUN", "adjacent_correlation", "export_summaries", "summary_path"]

WORDS_PER_RUN = 30
FILES = {"scores": "glue_scores_{tag}.csv", "information": "glue_information_{tag}.csv",
         "words": "glue_words_{tag}.csv", "sweeps": "glue_sweeps_{tag}.json", "maps": "glue_maps_{tag}.json",
         "fig8": "glue_fig8_{tag}.csv", "fig9": "glue_fig9_{tag}.csv", "training": "glue_training_{tag}.json"}


def summary_path(data_dir: str | Path, kind: str, tag: str) -> Path:
    """``<data_dir>/<file of kind>`` (see :data:`FILES`)."""
    return Path(data_dir) / FILES[kind].format(tag=tag)


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(columns)).to_csv(index=False, float_format="%.6g")


def _runs(root: Path) -> list[tuple[str, str, Path]]:
    found = []
    for task in TASKS:
        extra = sorted(p.name for p in (root / task).iterdir() if p.is_dir()) if (root / task).is_dir() else []
        for family in [*FAMILY_ORDER, *[f for f in extra if f not in FAMILY_ORDER]]:
            if (root / task / family).is_dir():
                found.append((task, family, root / task / family))
    return found


def adjacent_correlation(explanations: Sequence[Any]) -> dict[str, float | int | None]:
    """Mean (and standard error over texts) of the Pearson correlation of log σ between neighbouring words of
    the first text, at a one-row (prediction-state) explanation: high when a model uses contiguous
    sub-sequences (paper Sec. 5.2 on the LSTM and CNN).  Texts of fewer than 3 such words are left out."""
    import numpy as np

    vals = []
    for e in explanations:
        cols = [j for j in range(e.n_words) if e.segments is None or e.segments[j] == 0]
        u = np.log(e.sigma[0, cols].double().numpy())
        if len(u) >= 3 and u[:-1].std() > 0 and u[1:].std() > 0:
            vals.append(float(np.corrcoef(u[:-1], u[1:])[0, 1]))
    if not vals:
        return {"mean": None, "sem": None, "n": 0}
    sem = float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else None
    return {"mean": float(np.mean(vals)), "sem": sem, "n": len(vals)}


def _scores(runs: list[tuple[str, str, Path]]) -> list[dict[str, Any]]:
    rows = []
    for task, family, run in runs:
        if not (run / "scores.json").is_file():
            continue
        s = read_json(run / "scores.json")
        for metric, value in s["metrics"].items():
            rows.append({"task": task, "family": family, "metric": metric, "value": value,
                         "headline": metric == s.get("headline", TASKS[task].headline), "n_train": s.get("n_train"),
                         "n_eval": s.get("n_eval"), "epochs": s.get("epochs"),
                         "train_seconds": s.get("train_seconds"), "bf16": s.get("bf16")})
    return rows


def _round(values: Any, digits: int = 5) -> Any:
    return [_round(v, digits) for v in values] if isinstance(values, list) else float(f"{values:.{digits}g}")


def _sweep_parts(task: str, family: str, run: Path) -> tuple[list, list, dict | None, list]:
    """(information rows, word rows, sweep summary, maps) of one swept run."""
    by_kind, config = load_run(run)
    info_rows, word_rows, maps = [], [], []
    if not by_kind:
        return info_rows, word_rows, None, maps
    layers = {m["idx"]: e for e, m in by_kind.get("layers", [])}
    preds = {m["idx"]: e for e, m in by_kind.get("prediction", [])}
    top_k = int(config.get("top_k", 3))
    if layers:
        for r in information_table(list(layers.values())).to_dict("records"):
            info_rows.append({"task": task, "family": family, "layer": r["layer"], "layer_index": r["layer_index"],
                              "n_texts": r["n_sentences"], "information": r["information"],
                              "information_sem": r["information_sem"], "converged": r["converged"]})
    share = None
    if preds:
        counts = word_counts(list(preds.values()), top_k)
        share = float(counts.loc[counts["stopword"], "count"].sum() / max(1, counts["count"].sum()))
        for r in counts.head(WORDS_PER_RUN).to_dict("records"):
            word_rows.append({"task": task, "family": family, **r})
    for i in config.get("drawn_idx", []):
        if i in layers:
            e = layers[i]
            item = {"task": task, "family": family, "idx": i, "text": e.text, "words": list(e.words),
                    "layers": list(e.layers), "sigma": _round(e.sigma.tolist()), "at_bound": e.at_bound.tolist(),
                    "stopword": [is_stopword(w) for w in e.words]}
            if i in preds:
                item["prediction_sigma"] = _round(preds[i].sigma[0].tolist())
            maps.append(item)
    timing = read_json(run / "sweep.json").get("seconds_per_text") if (run / "sweep.json").is_file() else None
    opts = config.get("sweep_options", {})
    summary = {"task": task, "family": family, "texts": len(config.get("plan_idx", [])),
               "texts_layers": len(layers), "texts_prediction": len(preds), "top_k": top_k,
               "prediction_state": config.get("prediction_state"), "seconds_per_text": timing,
               "options": {k: opts.get(k) for k in ("n_reference", "rate", "tol", "steps", "samples", "seed")},
               "stopword_share": share, "adjacent_correlation": adjacent_correlation(list(preds.values()))}
    return info_rows, word_rows, summary, maps


def _fig8(folder: Path) -> list[dict[str, Any]]:
    import pandas as pd

    path = folder / "attributes.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no attributes.csv of the Fig. 8 study (scripts/fig8_word_attributes.py)")
    frame = pd.read_csv(path)
    missing = {"model", "layer", "layer_index", "concept", "r"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return frame[["model", "layer", "layer_index", "concept", "r"]].to_dict("records")


def _fig9(folder: Path) -> list[dict[str, Any]]:
    from mi_explain.callbacks import HISTORY_FILE, load_history

    rows = []
    for sub in sorted(p for p in folder.iterdir() if (p / HISTORY_FILE).is_file()):
        frame = load_history(sub)
        cols = ["step", "layer", "layer_index", "information"] + [c for c in ("information_sem", "converged")
                                                                   if c in frame.columns]
        run: dict[str, Any] = {}
        if (sub / "result.json").is_file():  # written by mi_explain.training_information_study
            res = read_json(sub / "result.json")
            opts = res.get("probe_options") or {}
            run = {"train_steps": res.get("steps"), "n_train": res.get("n_train"),
                   "dev_accuracy": res.get("dev_accuracy"), "n_probe": res.get("n_probe"), "every": res.get("every"),
                   "probe_tol": opts.get("tol"), "probe_steps": opts.get("steps")}
        elif (sub / "scores.json").is_file():  # a GLUE training run with probe_texts > 0 (glue/train.py)
            res = read_json(sub / "scores.json")
            opts = (res.get("options") or {}).get("train") or {}
            run = {"train_steps": res.get("train_steps"), "n_train": res.get("n_train"),
                   "dev_accuracy": res.get("headline_value"), "n_probe": opts.get("probe_texts"),
                   "every": opts.get("probe_every"), "probe_tol": opts.get("probe_tol"),
                   "probe_steps": opts.get("probe_steps")}
        for r in frame[cols].to_dict("records"):
            rows.append({"model": sub.name, **r, **run})
    if not rows:
        raise FileNotFoundError(f"{folder}: no <model>/{HISTORY_FILE} of the Fig. 9 study")
    return rows


def export_summaries(root: str | Path | None, data_dir: str | Path, tag: str = "cpu", *,
                     fig8: str | Path | None = None, fig9: str | Path | None = None,
                     img_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the summaries of what exists (see the module docstring); returns {kind: path written}.  Parts
    with nothing to summarise are not written (an older file of that part is left as it is)."""
    data_dir = Path(data_dir)
    written: dict[str, Path] = {}
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such runs root")
        runs = _runs(root)
        scores = _scores(runs)
        if scores:
            written["scores"] = atomic_write_text(summary_path(data_dir, "scores", tag), _csv(scores, list(scores[0])))
        info, words, sweeps, maps = [], [], [], []
        for task, family, run in runs:
            i, w, s, m = _sweep_parts(task, family, run)
            info += i
            words += w
            maps += m
            if s is not None:
                sweeps.append(s)
        if info:
            written["information"] = atomic_write_text(summary_path(data_dir, "information", tag),
                                                       _csv(info, list(info[0])))
        if words:
            written["words"] = atomic_write_text(summary_path(data_dir, "words", tag), _csv(words, list(words[0])))
        if sweeps:
            written["sweeps"] = write_json(summary_path(data_dir, "sweeps", tag), sweeps)
        if maps:
            written["maps"] = write_json(summary_path(data_dir, "maps", tag), maps)
        from .curves import collect, write_all

        if collect(root):
            write_all(root, data_dir, img_dir or data_dir, tag)
            written["training"] = summary_path(data_dir, "training", tag)
    if fig8 is not None:
        rows = _fig8(Path(fig8))
        written["fig8"] = atomic_write_text(summary_path(data_dir, "fig8", tag), _csv(rows, list(rows[0])))
    if fig9 is not None:
        rows = _fig9(Path(fig9))
        written["fig9"] = atomic_write_text(summary_path(data_dir, "fig9", tag), _csv(rows, list(rows[0])))
    return written
