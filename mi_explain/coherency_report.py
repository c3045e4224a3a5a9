"""The coherency study's report: the figures (one column per method) and the markdown tables written between
the GENERATED markers of a document (the rest of the document is kept).

:func:`tables` turns the scores of :func:`mi_explain.coherency_study.run` into the markdown block;
:func:`write_doc` puts it into the document; :func:`figures` draws the maps with
:func:`mi_explain.plotting.method_grid`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "TITLES", "figures", "mean_sd", "tables", "write_doc"]

TITLES = {"information": "Ours (σ)", "gradient": "Gradient", "integrated_gradients": "Integrated gradients",
          "perturbation": "Perturbation", "lrp": "LRP"}
BEGIN, END = "<!-- BEGIN GENERATED (scripts/coherency_study.py) -->", "<!-- END GENERATED -->"


def mean_sd(values: Sequence[float]) -> str:
    """"m ± sd" over the non-NaN values (sample sd; 0 for one value; "n/a" for none)."""
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return "n/a"
    m = sum(v) / len(v)
    sd = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f}"


def figures(rows: dict[str, tuple[dict, Any]], methods: Sequence[str], img_dir: str | Path) -> list[Path]:
    """``coherency.png`` (one row per part) and ``coherency_<part>.png`` in ``img_dir``; the combined one first."""
    from .plotting import method_grid, save_figure

    img = Path(img_dir)
    paths = [save_figure(method_grid({name: rows[name]}, methods, TITLES), img / f"coherency_{name}.png", dpi=110)
             for name in rows]
    return [save_figure(method_grid(rows, methods, TITLES), img / "coherency.png", dpi=100), *paths]


def _scale_lines(scale: dict, methods: set[str]) -> list[str]:
    lines = ["**Scale and a dropped word** (layer h; copy 100·h; h computed without word 2). Ratio: map of "
             "the copy / map of h, per word (σ for ours, saliency otherwise); share: the dropped word's "
             "importance / the row's largest.", "",
             "| method | ratio copy/original (mean [min, max]) | dropped word: share (ours: σ at bound) |",
             "|---|---|---|"]
    for m, r in scale.items():
        if m not in methods:
            continue
        extra = f" (at bound: {r['dropped_at_bound']})" if m == "information" else ""
        lines.append(f"| {m} | {r['ratio_mean']:.3g} [{r['ratio_min']:.3g}, {r['ratio_max']:.3g}] | "
                     f"{r['dropped_share']:.3g}{extra} |")
    return lines


def _timestamp_lines(t: dict, methods: set[str]) -> list[str]:
    lines = [f"**Timestamps** (Fig. 2): reversal of length-{t['length']} a/b/c/d sequences, 2-layer LSTM "
             f"encoder–decoder with attention (hidden {t['hidden']}); test accuracy (greedy decoding, fresh "
             f"sequences) **{100 * t['token_accuracy']:.2f}%** per word, {100 * t['sequence_accuracy']:.2f}% "
             f"per sequence (paper: 81.21%).  Reverse-pattern scores over {t['examples']} test sequences "
             f"(mean ± sd; chance: mass = top-1 = {1 / t['length']:.3f}, AUC = 0.5):", "",
             "| method | mass | top-1 | AUC |", "|---|---|---|---|"]
    for m, s in t["scores"].items():
        if m in methods:
            lines.append(f"| {m} | {mean_sd(s['mass'])} | {mean_sd(s['top1'])} | {mean_sd(s['auc'])} |")
    return lines


def _layer_lines(lay: dict, methods: set[str]) -> list[str]:
    acc = f"{100 * lay['accuracy']:.2f}%" if lay["accuracy"] is not None else "n/a"
    lines = [f"**Layers** (Fig. 3): 4-layer BiLSTM on SST-2, validation accuracy {acc}; {lay['sentences']} "
             "validation sentences, each layer's states taken as a whole.  Monotonicity: Spearman ρ between "
             "depth and the layer's mean importance (−1 = decreasing); spread: log10 of the largest / smallest "
             "layer's geometric-mean map value (0 = all layers on one scale).", "",
             "| method | monotonicity ρ | spread (decades) | mean importance per layer 0…3 |",
             "|---|---|---|---|"]
    for m, s in lay["scores"].items():
        if m in methods:
            prof = ", ".join(f"{v:.3g}" for v in s["profile"])
            lines.append(f"| {m} | {mean_sd(s['monotonicity'])} | {mean_sd(s['spread'])} | {prof} |")
    return lines


def _model_lines(mo: dict, methods: set[str]) -> list[str]:
    accs = ", ".join(f"α={a:g}: {100 * x:.2f}%" for a, x in zip(mo["alphas"], mo["accuracy"]))
    lines = [f"**Models** (Fig. 4): 3-layer Transformers on SST-2 with L2 weight α ({accs}); last layer, "
             f"{mo['sentences']} validation sentences.  ρ: Spearman between α and the mean importance "
             "(ours: information, nats/dim, against the spread of the training vocabulary's embeddings; "
             "baselines: saliency); −1 = decreases as α grows.  Embedding spread (training vocabulary / all "
             "rows): " + ", ".join(f"{p['vocabulary']:.3g} / {p['all_rows']:.3g}"
                                   for p in mo.get("embedding_spread", [])) + ".", "",
             "| method | ρ(α, importance) | mean importance per α |", "|---|---|---|"]
    for m, s in mo["scores"].items():
        if m in methods:
            vals = ", ".join(f"{v:.3g}" for v in s["values"])
            rho = "n/a" if math.isnan(s["rho"]) else f"{s['rho']:.2f}"
            lines.append(f"| {m} | {rho} | {vals} |")
    return lines


def tables(res: dict[str, Any], methods: Sequence[str], figs: Sequence[Path], doc: str | Path,
           threads: int | None = None) -> str:
    """The generated markdown block (BEGIN … END) for the scores ``res`` of the parts present: the commands
    that made them, the combined figure (linked relative to ``doc``) and one table per part, rows of
    ``methods`` only.  threads: the torch threads reported (default: the current number)."""
    import torch

    doc_dir = Path(doc).parent
    runs: dict[str, list[str]] = {}
    for part, cmd in res.get("commands", {}).items():
        runs.setdefault(cmd, []).append(part)
    made = "; ".join(f"{', '.join(parts)}: `{cmd}`" for cmd, parts in runs.items())
    threads = torch.get_num_threads() if threads is None else threads
    lines = [BEGIN, "", f"Made by {made} (report {time.strftime('%Y-%m-%d %H:%M')}, {threads} "
             f"thread(s), methods: {', '.join(methods)}).", ""]
    for p in figs[:1]:
        lines += [f"![coherency]({os.path.relpath(p, doc_dir)})", ""]
    chosen = set(methods)
    for part, make in (("scale", _scale_lines), ("timestamps", _timestamp_lines), ("layers", _layer_lines),
                       ("models", _model_lines)):
        if part in res:
            lines += [*make(res[part], chosen), ""]
    lines.append(END)
    return "\n".join(lines)


def write_doc(path: str | Path, block: str) -> None:
    """Replace the BEGIN … END block of the document at ``path`` with ``block`` (append it when the document
    has none; create ``# Coherency study`` with it when there is no document)."""
    path = Path(path)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Coherency study\n\n" + block + "\n", encoding="utf-8")
