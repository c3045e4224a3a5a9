"""``sweep_dataset``: the sweep of any ``transformers`` model over any table of texts (a ``datasets.Dataset``,
a DataFrame, or a CSV / TSV / JSONL file with a text column, or two for pairs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .engine import SweepOptions, default_states, run_sweep, sample_plan
from .inputs import TextTable, text_table

__all__ = ["load_model", "sweep_dataset"]


def load_model(name: str) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode, fast tokenizer) from a folder, a Hub id or a packaged alias (``minilm``): a
    ``*ForSequenceClassification`` checkpoint loads with its head (so its prediction can be explained), any
    other with ``AutoModel``."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    import mi_explain.models  # noqa: F401  (registers the Transformer, LSTM and CNN families with the Auto classes)
    from mi_explain.resources import resolve_model

    path = resolve_model(str(name))
    config = AutoConfig.from_pretrained(path)
    head = any(a.endswith("ForSequenceClassification") for a in getattr(config, "architectures", None) or [])
    model = (AutoModelForSequenceClassification if head else AutoModel).from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "right"
    return model, tok


def _reference(reference: Any, table: TextTable, kw: Mapping[str, Any], n: int, seed: int) -> list:
    """n seeded texts of ``reference`` (a table like ``data``), or of the explained table itself."""
    ref = table if reference is None else text_table(reference, **kw)
    if len(ref) < 2:
        raise ValueError(f"σ_s needs at least 2 reference texts; {ref.source} has {len(ref)}")
    gen = torch.Generator().manual_seed(int(seed))
    return [ref.texts[p] for p in torch.randperm(len(ref), generator=gen)[:int(n)].tolist()]


def sweep_dataset(model: str | os.PathLike | torch.nn.Module, data: Any, out: str | os.PathLike, *,
                  tokenizer: Any = None, text_column: str = "text", pair_column: str | None = None,
                  label_column: str | None = None, id_column: str | None = None, reference: Any = None,
                  head: str = "auto", states: Mapping[str, dict[str, Any]] | None = None,
                  options: SweepOptions | None = None, **option_values: Any) -> dict[str, Any]:
    """Explain the texts of ``data`` with ``model`` at every layer and at the state its classifier reads,
    resumably (rerun to continue; finished texts are skipped) and sharded by ``accelerate launch``.

    model: a loaded model (then ``tokenizer`` is required), or a folder / Hub id / ``"minilm"``.
    data: a ``datasets.Dataset``, a pandas DataFrame, or a path to a .csv, .tsv or .jsonl file; its
    ``text_column`` (and ``pair_column`` for pairs) holds the texts, ``label_column`` (optional) is recorded
    in each line's meta, ``id_column`` (optional, integers) names rows instead of their positions.
    reference: texts whose states give σ_s (a table like ``data``; default: ``data`` itself), a seeded
    sample of ``n_reference``; σ_s is estimated once per kind of state and saved in ``out/regularization.json``.
    head / states: what to explain (see :func:`mi_explain.sweep.engine.default_states`).
    options / ``**option_values``: :class:`SweepOptions` (e.g. ``n_texts=100, batch_size=8, tol=0.05``).
    Writes ``out/results.jsonl`` (one explanation a line; ``read_jsonl(path, with_meta=True)``),
    ``sweep_config.json``, ``regularization.json``, ``sweep.json`` (seconds per text) and ``report.md``;
    returns the summary (``{}`` on processes other than the main one).
    """
    if options is not None and option_values:
        raise ValueError("give either options=SweepOptions(...) or option keywords, not both")
    options = options or SweepOptions(**option_values)
    kw = {"text_column": text_column, "pair_column": pair_column}
    table = text_table(data, label_column=label_column, id_column=id_column, **kw)
    if isinstance(model, (str, os.PathLike)):
        if tokenizer is not None:
            raise ValueError("tokenizer goes with a loaded model; a model path brings its own tokenizer")
        name = str(model)
        model, tokenizer = load_model(name)
    elif tokenizer is None:
        raise ValueError("a loaded model needs its tokenizer: sweep_dataset(model, data, out, tokenizer=tok)")
    else:
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
    plan, drawn = sample_plan(table.ids, options.n_texts, options.sample_seed, options.first, options.n_drawn)
    row = table.by_id()
    items = [(i, table.texts[row[i]], {"label": table.labels[row[i]]} if table.labels else {}) for i in plan]
    refs = _reference(reference, table, kw, options.n_reference, options.reference_seed)
    source = table.source if isinstance(data, (str, os.PathLike)) else type(data).__name__
    return run_sweep(model, tokenizer, items, Path(out), states=states or default_states(model, head),
                     reference_texts=refs, options=options,
                     identity={"model": Path(name).name or name, "data": Path(source).name,
                               "data_sha256": table.digest(), "columns": list(table.columns)},
                     drawn=drawn, title=f"sweep {Path(source).name} × {Path(name).name or name}")
