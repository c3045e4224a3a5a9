"""Tables, figures and ``report.md`` files from finished runs, at three levels:

* run ``<root>/<task>/<family>/``: ``information_per_layer.csv``, ``prediction_words.csv``, ``figures/`` and
  ``report.md`` of one model;
* task ``<root>/<task>/``: the models side by side (scores, words used for prediction, layer maps of the
  same texts, information per layer of all models on one plot) in ``report.md``;
* root ``<root>/report.md``: the Table 2 analog next to the paper's numbers.

``python -m mi_explain.glue.report <root>`` rebuilds all of them from what is on disk.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mi_explain.results import Explanation
from mi_explain.sweep import figures
from mi_explain.sweep.analysis import information_table, word_counts
from mi_explain.sweep.io import atomic_write_text, read_json
from mi_explain.sweep.report import load_run, write_sweep_report

from .tasks import TASKS, get_task

__all__ = ["PAPER_TABLE2", "main", "write_reports", "write_root_report", "write_run_report", "write_task_report"]

FAMILY_ORDER = ("bert", "transformer", "lstm", "cnn")
FAMILY_TITLES = {"bert": "BERT", "transformer": "Transformer", "lstm": "LSTM", "cnn": "CNN"}
#: Guan et al. (2019), Table 2: SST-2 accuracy, CoLA MCC, QQP accuracy
PAPER_TABLE2 = {"bert": (0.9323, 0.6110, 0.9129), "transformer": (0.8245, 0.1560, 0.7637),
                "lstm": (0.8486, 0.1296, 0.8658), "cnn": (0.8200, 0.0985, 0.8099)}
HEADLINE = {"sst2": "Acc", "cola": "MCC", "qqp": "Acc"}


def _load(run: Path) -> tuple[dict[str, list[tuple[Explanation, dict]]], dict, dict]:
    """(explanations by kind, scores, sweep config) of one run; empty where a file is missing."""
    by_kind, config = load_run(run)
    scores = read_json(run / "scores.json") if (run / "scores.json").is_file() else {}
    return by_kind, scores, config


def _score_line(scores: dict) -> str:
    if not scores:
        return "no scores.json (the model was not trained by scripts/glue_train.py here)"
    vals = ", ".join(f"{k} **{v:.4f}**" for k, v in scores["metrics"].items())
    line = (f"{vals} on {scores['n_eval']} validation texts; trained on {scores['n_train']} texts for "
            f"{scores['epochs']:g} epoch(s) in {scores['train_seconds']:.0f} s ({scores['device']}).")
    return line + (f"\n\n> {scores['note']}" if scores.get("note") else "")


def write_run_report(run: str | Path, top_k: int | None = None) -> Path | None:
    """Tables, figures and ``report.md`` of one run directory (:func:`mi_explain.sweep.report.write_sweep_report`
    with the run's scores); None when it has no results yet."""
    run = Path(run)
    scores = read_json(run / "scores.json") if (run / "scores.json").is_file() else {}
    title = f"{get_task(run.parent.name).title} × {FAMILY_TITLES.get(run.name, run.name)}"
    return write_sweep_report(run, title, [_score_line(scores)], top_k)


def _runs(task_dir: Path) -> dict[str, Path]:
    found = {p.name: p for p in task_dir.iterdir() if p.is_dir() and (p / "results.jsonl").is_file()} \
        if task_dir.is_dir() else {}
    return {f: found[f] for f in [*FAMILY_ORDER, *sorted(set(found) - set(FAMILY_ORDER))] if f in found}


def write_task_report(task_dir: str | Path) -> Path | None:
    """The models of one task side by side; None when no model has results."""
    task_dir = Path(task_dir)
    runs = _runs(task_dir)
    if not runs:
        return None
    task = get_task(task_dir.name)
    loaded = {f: _load(p) for f, p in runs.items()}
    names = {f: FAMILY_TITLES.get(f, f) for f in runs}
    lines = [f"# {task.title}: {', '.join(names.values())}", "", "| model | " + " | ".join(task.metrics) +
             " | validation texts | paper (Table 2) |", "|---|" + "---|" * (len(task.metrics) + 2)]
    note = ""
    for f, (_, scores, _) in loaded.items():
        paper = PAPER_TABLE2.get(f, (None,) * 3)[list(TASKS).index(task.name)]
        vals = [f"{scores['metrics'][m]:.4f}" if scores else "–" for m in task.metrics]
        lines.append(f"| [{names[f]}]({f}/report.md) | " + " | ".join(vals) +
                     f" | {scores.get('n_eval', '–')} | {'–' if paper is None else f'{paper:.4f}'} |")
        note = note or scores.get("note", "")
    lines += ["", f"> {note}" if note else "", ""]
    counts = {names[f]: word_counts([e for e, _ in kinds.get("prediction", [])], cfg.get("top_k", 3))
              for f, (kinds, _, cfg) in loaded.items() if kinds.get("prediction")}
    if counts:
        figures.word_bars(counts, task_dir / "prediction_words.png", title=f"{task.title}: words used for prediction")
        lines += ["## Words used for prediction (Fig. 6)", "", "![words](prediction_words.png)", ""]
    maps = {f: {m["idx"]: e for e, m in kinds.get("layers", [])} for f, (kinds, _, _) in loaded.items()}
    preds = {f: {m["idx"]: e for e, m in kinds.get("prediction", [])} for f, (kinds, _, _) in loaded.items()}
    drawn = [i for i in next(iter(loaded.values()))[2].get("drawn_idx", [])
             if all(i in maps[f] and i in preds[f] for f in runs)]
    for i in drawn:
        figures.prediction_words({names[f]: preds[f][i] for f in runs}, task_dir / f"words_{i}.png",
                                 title=f"{task.title}, validation row {i}: words used for prediction",
                                 first_segment_only=task.is_pair)
        figures.layer_maps({names[f]: maps[f][i] for f in runs}, task_dir / f"layers_{i}.png",
                           title=f"{task.title}, validation row {i}: σ per layer")
        lines += [f"## Validation row {i}", "", f"![words used, row {i}](words_{i}.png)", "",
                  f"![layers, row {i}](layers_{i}.png)", ""]
    tables = {names[f]: information_table(list(maps[f].values())) for f in runs if maps[f]}
    if tables:
        figures.information_lines(tables, task_dir / "information_per_layer.png",
                                  title=f"{task.title}: mean information per layer")
        lines += ["## Information per layer", "", "![information per layer](information_per_layer.png)", ""]
    return atomic_write_text(task_dir / "report.md", "\n".join(lines))


def table2(root: str | Path) -> str:
    """Markdown: our scores (SST-2 Acc, CoLA MCC, QQP Acc/F1) per model next to the paper's Table 2."""
    root = Path(root)
    lines = ["| model | SST-2 (Acc) | CoLA (MCC) | QQP (Acc / F1)¹ | paper SST-2 | paper CoLA | paper QQP |",
             "|---|---|---|---|---|---|---|"]
    for f in FAMILY_ORDER:
        cells = []
        for t in TASKS:
            path = root / t / f / "scores.json"
            if not path.is_file():
                cells.append("–")
                continue
            s = read_json(path)["metrics"]
            cells.append(f"{s['accuracy']:.4f} / {s['f1']:.4f}" if t == "qqp" else f"{s[TASKS[t].headline]:.4f}")
        lines.append(f"| {FAMILY_TITLES[f]} | " + " | ".join(cells) + " | " +
                     " | ".join(f"{v:.4f}" for v in PAPER_TABLE2[f]) + " |")
    return "\n".join(lines)


def write_root_report(root: str | Path) -> Path:
    """``<root>/report.md``: Table 2 analog and links to the task reports."""
    root = Path(root)
    tasks = [t for t in TASKS if (root / t / "report.md").is_file()]
    lines = ["# GLUE runs", "", table2(root), "",
             "¹ QQP on the local files: a seeded 90/10 split of the Quora release, not GLUE's dev split "
             "(shared/data/glue/SOURCES.md next to the checkout); the paper's column is GLUE dev accuracy.", ""]
    lines += [f"- [{TASKS[t].title}]({t}/report.md)" for t in tasks]
    return atomic_write_text(root / "report.md", "\n".join(lines) + "\n")


def write_reports(run: str | Path, top_k: int | None = None) -> None:
    """Run, task and root reports after a sweep of ``<root>/<task>/<family>``."""
    run = Path(run)
    write_run_report(run, top_k)
    write_task_report(run.parent)
    write_root_report(run.parent.parent)


def main(argv: Sequence[str] | None = None) -> None:
    """Rebuild every report under a runs root, export its compact summaries, or write docs/results.md from them.

    python -m mi_explain.glue.report ROOT                                   reports under ROOT (e.g. runs/cpu)
    python -m mi_explain.glue.report --export ROOT --data docs/data [--fig8 DIR] [--fig9 DIR] [--tag cpu]
    python -m mi_explain.glue.report --from-data docs/data --out docs/results.md --img docs/img [--tag cpu]
    """
    parser = argparse.ArgumentParser(prog="python -m mi_explain.glue.report", description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", default=None, help="runs root whose reports to rebuild")
    parser.add_argument("--export", default=None, metavar="ROOT", help="runs root to summarise into --data")
    parser.add_argument("--fig8", default=None, metavar="DIR", help="output folder of scripts/fig8_word_attributes.py")
    parser.add_argument("--fig9", default=None, metavar="DIR",
                        help="output folder of scripts/fig9_training_information.py, or a GLUE task folder "
                             "(e.g. runs/cpu/sst2) whose runs trained with probe_texts > 0")
    parser.add_argument("--data", default="docs/data", help="folder of the summaries (default: docs/data)")
    parser.add_argument("--from-data", default=None, metavar="DIR", help="write --out from the summaries in DIR")
    parser.add_argument("--out", default="docs/results.md", help="the page written by --from-data")
    parser.add_argument("--img", default="docs/img", help="folder of the page's figures (default: docs/img)")
    parser.add_argument("--tag", default="cpu", help="suffix of the summary files (default: cpu)")
    args = parser.parse_args(argv)
    if not (args.root or args.export or args.fig8 or args.fig9 or args.from_data):
        parser.error("give a runs ROOT, --export ROOT (and/or --fig8/--fig9 DIR), or --from-data DIR")
    if args.root:
        root = Path(args.root)
        for t in TASKS:
            for run in _runs(root / t).values():
                write_run_report(run)
            write_task_report(root / t)
        print(write_root_report(root))
    if args.export or args.fig8 or args.fig9:
        from .summaries import export_summaries

        written = export_summaries(args.export, args.data, args.tag, fig8=args.fig8, fig9=args.fig9,
                                   img_dir=args.img)
        for kind, path in written.items():
            print(f"wrote {kind}: {path}")
        print("nothing found for: " + (", ".join(k for k in ("scores", "information", "words", "sweeps", "maps",
                                                               "training", "fig8", "fig9") if k not in written)
                                        or "–"))
    if args.from_data:
        from .results_page import write_results_page

        print(f"wrote {write_results_page(args.from_data, args.out, args.img, args.tag)}")


if __name__ == "__main__":
    main()
