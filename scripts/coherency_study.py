"""Coherency study: the information measure beside gradient, integrated gradients, perturbation and LRP
across timestamps, layers and models (Guan et al. 2019, Sec. 4 and supplement Sec. 4), with scores.
Logic: mi_explain.coherency_study (the parts) and mi_explain.coherency_report (figures, tables).

Parts (each can be skipped):

* scale    — ground truth: a layer, its copy ×100, and a copy that drops one word (function-level phi).
* timestamps (Fig. 2) — trains the 2-layer LSTM encoder–decoder with attention on reversing a/b/c/d
  sequences, explains the last hidden layer at every decoder step, scores the reverse pattern.
* layers (Fig. 3) — a 4-layer BiLSTM on SST-2 (trained here at CPU size, or ``--lstm PATH``); scores how
  monotonically each method's map changes with depth and how far its scale moves between layers.
* models (Fig. 4) — 3-layer Transformers on SST-2 trained with L2 weights α (``--alphas``; or
  ``--transformers PATH … --alphas …``); scores whether each method's last-layer map follows α.

Writes ``<out>/scores.json``, the figures ``<img-dir>/coherency.png`` (rows: timestamps / layers / models,
one column per method), ``coherency_{timestamps,layers,models}.png``, and the tables between the
GENERATED markers of ``--doc`` (the rest of the document is kept).

Small run (minutes on 2 CPU cores):
    .venv/bin/python scripts/coherency_study.py --preset small
Fuller run (closer to the paper's sizes; hours on CPU):
    .venv/bin/python scripts/coherency_study.py --preset full
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

from mi_explain import coherency_report as report  # noqa: E402
from mi_explain import coherency_study as study  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(study.PRESETS), default="small")
    ap.add_argument("--parts", nargs="+", default=list(study.PARTS), choices=[*study.PARTS, "report"],
                    help="parts to (re)compute; 'report' alone redraws the figures and tables from <out>")
    ap.add_argument("--methods", nargs="+", default=study.METHODS, choices=study.METHODS)
    ap.add_argument("--out", default="runs/coherency")
    ap.add_argument("--doc", default="docs/coherency.md")
    ap.add_argument("--img-dir", default="docs/img")
    ap.add_argument("--data", default=None, help="SST-2 folder (default: sst2/ of mi_explain.resources.glue_data_dir)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for small models "
                    "on a shared CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--projections", type=int, default=64, help="random read-outs of the 'vector' reduction "
                    "(16 in the library; 64 here: the scores below compare small differences)")
    ap.add_argument("--reverse-model", help="a saved reversal model state_dict (skips training)")
    ap.add_argument("--lstm", help="a saved SST-2 LSTM classifier (skips training)")
    ap.add_argument("--transformers", nargs="+", help="saved SST-2 Transformer classifiers, one per --alphas value")
    ap.add_argument("--lr", type=float, default=2e-3)
    for key, value in study.PRESETS["small"].items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            ap.add_argument(flag, type=float, nargs="+", default=None)
        else:
            ap.add_argument(flag, type=type(value), default=None)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("preset", "parts", "doc", "img_dir", "threads")}
    try:
        settings = study.CoherencySettings.preset(args.preset, **options)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    torch.set_num_threads(args.threads)
    parts = [p for p in args.parts if p != "report"]
    command = " ".join(["scripts/coherency_study.py", *sys.argv[1:]])
    res, rows = study.run(settings, parts, command=command, record={"argv": sys.argv, "preset": args.preset})
    figs = report.figures(rows, settings.methods, args.img_dir) if rows else []
    report.write_doc(args.doc, report.tables(res, settings.methods, figs, args.doc))
    study.log(f"wrote {args.out}/scores.json, {', '.join(map(str, figs))} and {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
