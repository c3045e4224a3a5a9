"""Fig. 8 of Guan et al. (ICML 2019) for any set of models: which attributes of a word each layer uses.

For every model the sentence (default "domestic tension and unhappiness") is explained at every layer (σ per
word, ``target="tokens"``: all positions of a layer concatenated, as in the paper's Sec. 5.2) and
r_i,c = A_i − A_c (Eq. 8–9, :func:`mi_explain.attributes.word_attributes`) is computed for the word (default
"unhappiness") and each concept: one panel per model, one line per concept, and the max/min ratio of r over
the concepts that the paper quotes.  Concepts: :func:`mi_explain.concepts.fig8_concepts` unless given.

:func:`run` writes to its ``out`` folder ``fig8.png``, ``attributes.csv`` (model, layer, concept, r, A_c,
A_i, σ, …), ``summary.json`` (per model: max/min ratio, concept ranking, σ of the word, sizes, explain
options) and ``explanations/<model>.json``.  ``scripts/fig8_word_attributes.py`` is its command line.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FAMILIES", "TEXT", "WORD", "default_models", "load_model", "model_specs", "run"]

TEXT = "domestic tension and unhappiness"
WORD = "unhappiness"
#: family folder under the GLUE runner's SST-2 runs → panel title
FAMILIES = {"bert": "BERT", "transformer": "Transformer", "lstm": "LSTM", "cnn": "CNN"}


def model_specs(items: Sequence[str]) -> list[tuple[str, str]]:
    """``["NAME=PATH", …]`` → [(name, path)]; raises ValueError naming an item without both parts."""
    models = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--models takes NAME=PATH, got {item!r}")
        models.append((name, path))
    return models


def default_models(root: str | Path) -> list[tuple[str, str]]:
    """[(title, folder)] of the ``<root>/<family>/model`` folders the GLUE runner saved, in :data:`FAMILIES`
    order; raises FileNotFoundError saying how to make them when there is none."""
    root = Path(root)
    found = [(label, str(root / fam / "model")) for fam, label in FAMILIES.items()
             if (root / fam / "model" / "config.json").is_file()]
    if not found:
        raise FileNotFoundError(f"no saved model under {root}/<family>/model: train them with scripts/glue_train.py, "
                                "or pass --models NAME=PATH ... (PATH 'minilm': the packaged pretrained MiniLM)")
    return found


def load_model(spec: str) -> tuple[Any, Any]:
    """(model, tokenizer) for "minilm" (the packaged pretrained MiniLM, AutoModel) or a folder with a saved
    classifier (:func:`mi_explain.models.load_classifier`; tokenizer from the folder, else MiniLM's)."""
    if spec == "minilm":
        from transformers import AutoModel, AutoTokenizer

        from .resources import packaged_model_path

        path = packaged_model_path("minilm")
        return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    from .models import load_classifier

    return load_classifier(spec, fallback_tokenizer="minilm")


def run(models: Sequence[tuple[str, str]], out: str | Path, *, text: str = TEXT, word: str = WORD,
        concepts: Mapping[str, Sequence[str]] | None = None, pieces: str = "align", vocab_sample: int | None = None,
        tol: float | None = None, steps: int | None = None, seed: int = 0, logy: bool = False,
        figure: str | Path | None = None) -> dict[str, Any]:
    """Explain ``text`` with each (name, spec) of ``models`` (spec: see :func:`load_model`), compute r_i,c of
    ``word`` for each concept, write the outputs to ``out`` (and the figure also to ``figure``) and return the
    summary written to ``summary.json``.  tol, steps: :func:`mi_explain.explain`'s (None: its defaults);
    pieces, vocab_sample: :func:`mi_explain.attributes.word_attributes`'s."""
    import pandas as pd
    import torch

    from .attributes import word_attributes
    from .concepts import fig8_concepts
    from .driver import explain
    from .plotting import save_figure, word_attributes_panels

    if not models:
        raise ValueError("models: give at least one (name, path)")
    torch.manual_seed(seed)
    concepts = dict(concepts) if concepts is not None else fig8_concepts()
    out = Path(out)
    (out / "explanations").mkdir(parents=True, exist_ok=True)
    results, frames, summary = [], [], {"text": text, "word": word, "models": {}}
    for name, spec in models:
        t0 = time.perf_counter()
        model, tok = load_model(spec)
        e = explain(model, tok, text, target="tokens", seed=seed, tol=tol, steps=steps, progress=False)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        e.save(out / "explanations" / f"{slug}.json")
        wa = word_attributes(e, model, tok, word, concepts, pieces=pieces, vocab_sample=vocab_sample, seed=seed)
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

    save_figure(word_attributes_panels(results, logy=logy, suptitle=f"“{word}” in “{text}”: "
                                       "$r_{i,c}$ per layer (Eq. 8–9)"), out / "fig8.png", dpi=150)
    pd.concat(frames, ignore_index=True).to_csv(out / "attributes.csv", index=False)
    summary["concepts"] = {c: len(w) for c, w in concepts.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
    if figure:
        Path(figure).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "fig8.png", figure)
    print(f"[fig8] wrote {out}/fig8.png, attributes.csv, summary.json" + (f" and {figure}" if figure else ""))
    return summary
