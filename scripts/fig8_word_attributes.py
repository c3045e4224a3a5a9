"""Reproduce Fig. 8 of Guan et al. (ICML 2019): which attributes of "unhappiness" each layer uses.
Logic: mi_explain.attributes_study (and mi_explain.attributes for Eq. 8–9).

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
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

from mi_explain import attributes_study as study  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", metavar="NAME=PATH",
                   help="saved classifier folders (or 'minilm'); default: runs/sst2/<family>/model that exist")
    p.add_argument("--runs", default="runs/sst2", help="where the GLUE runner saved the SST-2 models")
    p.add_argument("--text", default=study.TEXT)
    p.add_argument("--word", default=study.WORD)
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
    try:
        args.model_list = study.model_specs(args.models or [])
    except ValueError as err:
        p.error(str(err))
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        models = args.model_list or study.default_models(Path(args.runs))
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err
    concepts = json.loads(Path(args.concepts).read_text(encoding="utf-8")) if args.concepts else None
    try:
        return study.run(models, args.out, text=args.text, word=args.word, concepts=concepts, pieces=args.pieces,
                         vocab_sample=args.vocab_sample, tol=args.tol, steps=args.steps, seed=args.seed,
                         logy=args.logy, figure=args.figure)
    except FileNotFoundError as err:  # a --models folder that is not a saved model
        raise SystemExit(str(err)) from err


if __name__ == "__main__":
    main()
