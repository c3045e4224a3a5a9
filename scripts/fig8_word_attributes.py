"""Reproduce Fig. 8 of Guan et al. (ICML 2019): which attributes of "unhappiness" each layer uses.

For every model the sentence "domestic tension and unhappiness" is explained at every layer (σ per word,
``target="tokens"``: all positions of a layer concatenated, as in the paper's Sec. 5.2) and r_i,c = A_i − A_c
(Eq. 8–9, ``mi_explain.attributes``) is computed for the word "unhappiness" and each concept: one panel
per model, one line per concept, and the max/min ratio of r over the concepts that the paper quotes.

The paper's concepts came from the Microsoft Concept Graph, refined by hand; ours come from packaged
lexicons (``mi_explain.concepts``): negative / positive (VADER), noun / verb / adjective / adverb
(lemminflect's SPECIALIST table), "negative noun" (negative ∩ noun: nouns of negative emotions and
states, the closest to the paper's "negative emotion"), and "all words" (the vocabulary).  Or pass your
own with ``--concepts FILE.json`` ({name: [words]}).

Run (from the repository root; the Hugging Face Hub is not needed):

    # the SST-2 models saved by the GLUE runner (default: every runs/sst2/<family>/model that exists)
    .venv/bin/python scripts/fig8_word_attributes.py --out runs/fig8

    # any saved classifiers, or "minilm" for the packaged pretrained (not fine-tuned) MiniLM
    .venv/bin/python scripts/fig8_word_attributes.py --models BERT=runs/sst2/bert/model LSTM=runs/sst2/lstm/model
    .venv/bin/python scripts/fig8_word_attributes.py --models "MiniLM (pretrained)=minilm" \\
        --figure docs/img/fig8_minilm_pretrained.png

Writes to ``--out``: ``fig8.png``, ``attributes.csv`` (model, layer, concept, r, A_c, A_i, σ, …),
``summary.json`` (per model: max/min ratio, concept ranking, σ of the word, sizes, explain options) and
``explanations/<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

TEXT = "domestic tension and unhappiness"
WORD = "unhappiness"
FAMILIES = {"bert": "BERT", "transformer": "Transformer", "lstm": "LSTM", "cnn": "CNN"}


def fig8_concepts() -> dict[str, list[str]]:
    from mi_explain.concepts import fig8_concepts as concepts

    return concepts()


def minilm_path() -> str:
    from mi_explain.resources import packaged_model_path

    return packaged_model_path("minilm")


def load(spec: str):
    """(model, tokenizer) for "minilm" (the packaged pretrained MiniLM, AutoModel) or a folder with a saved
    classifier (AutoModelForSequenceClassification; tokenizer from the folder, else MiniLM's)."""
    from transformers import AutoModel, AutoTokenizer

    if spec == "minilm":
        path = minilm_path()
        return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    from mi_explain.models import load_classifier

    try:
        return load_classifier(spec, fallback_tokenizer="minilm")
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err


def default_models(root: Path) -> list[tuple[str, str]]:
    found = [(label, str(root / fam / "model")) for fam, label in FAMILIES.items()
             if (root / fam / "model" / "config.json").is_file()]
    if not found:
        raise SystemExit(f"no saved model under {root}/<family>/model: train them with scripts/glue_train.py, "
                         "or pass --models NAME=PATH ... (PATH 'minilm': the packaged pretrained MiniLM)")
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", metavar="NAME=PATH",
                   help="saved classifier folders (or 'minilm'); default: runs/sst2/<family>/model that exist")
    p.add_argument("--runs", default="runs/sst2", help="where the GLUE runner saved the SST-2 models")
    p.add_argument("--text", default=TEXT)
    p.add_argument("--word", default=WORD)
    p.add_argument("--concepts", default=None, help="JSON file {name: [words]} (default: the Fig. 8 set)")
    p.add_argument("--pieces", default="align", choices=["align", "mean"])
    p.add_argument("--vocab-sample", type=int, default=None, help="average 'all words' over this many words")
    p.add_argument("--tol", type=float, default=None, help="explain(): σ tolerance (default 0.05)")
    p.add_argument("--steps", type=int, default=None, help="explain(): step limit (default: the estimator's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logy", action="store_true", help="log-scale r axis")
    p.add_argument("--out", default="runs/fig8")
    p.add_argument("--figure", default=None, help="also copy the figure here (e.g. docs/img/...png)")
    args = p.parse_args(argv)
    models = []
    for item in args.models or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            p.error(f"--models takes NAME=PATH, got {item!r}")
        models.append((name, path))
    args.model_list = models
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import pandas as pd
    import torch

    from mi_explain import explain
    from mi_explain.attributes import word_attributes
    from mi_explain.plotting import save_figure, word_attributes_panels

    torch.manual_seed(args.seed)
    models = args.model_list or default_models(Path(args.runs))
    if args.concepts:
        concepts = json.loads(Path(args.concepts).read_text(encoding="utf-8"))
    else:
        concepts = fig8_concepts()
    out = Path(args.out)
    (out / "explanations").mkdir(parents=True, exist_ok=True)

    results, frames, summary = [], [], {"text": args.text, "word": args.word, "models": {}}
    for name, spec in models:
        t0 = time.perf_counter()
        model, tok = load(spec)
        e = explain(model, tok, args.text, target="tokens", seed=args.seed, tol=args.tol, steps=args.steps,
                    progress=False)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        e.save(out / "explanations" / f"{slug}.json")
        wa = word_attributes(e, model, tok, args.word, concepts, pieces=args.pieces,
                             vocab_sample=args.vocab_sample, seed=args.seed)
        seconds = time.perf_counter() - t0
        results.append((name, wa))
        df = wa.to_dataframe()
        df.insert(0, "model", name)
        frames.append(df)
        info = wa.to_dict()
        info.update(source=spec, seconds=round(seconds, 1), explain_converged=e.converged.tolist(),
                    explain_options=e.options, words=e.words, sigma_all_words=e.sigma.tolist())
        summary["models"][name] = info
        ratio = wa.max_min_ratio()
        print(f"[fig8] {name}: {wa.n_layers} layers, '{wa.word}' = {wa.pieces} piece(s), σ {wa.sigma.min():.3g}"
              f"…{wa.sigma.max():.3g}; max/min r = {ratio.min():.3f}; order (most used last): "
              f"{' > '.join(wa.ranking())}  ({seconds:.0f} s)")

    save_figure(word_attributes_panels(results, logy=args.logy, suptitle=f"“{args.word}” in “{args.text}”: "
                                       "$r_{i,c}$ per layer (Eq. 8–9)"), out / "fig8.png", dpi=150)
    pd.concat(frames, ignore_index=True).to_csv(out / "attributes.csv", index=False)
    summary["concepts"] = {c: len(w) for c, w in concepts.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
    if args.figure:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "fig8.png", args.figure)
    print(f"[fig8] wrote {out}/fig8.png, attributes.csv, summary.json" + (f" and {args.figure}" if args.figure else ""))
    return summary


if __name__ == "__main__":
    main()
