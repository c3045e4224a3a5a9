"""The faithfulness study: texts × methods for one classifier, resumable, with timings and a markdown report.

:func:`run_study` explains each text with each method, turns the map into a word ranking
(:func:`mi_explain.evaluation.word_importance`), scores it with :func:`mi_explain.evaluation.evaluate_text`
and appends one JSON line per (model, text, method) — ranking, seconds and metric rows — to a results file,
flushed at once: an interrupted study resumes where it stopped (finished pairs are skipped).
:func:`load_results` reads the files back as one tidy frame; :func:`write_report` writes the markdown
table (mean ± standard error over texts per model and method, seconds per text), the paired comparison
of the information measure with every baseline, and the curves figure.

What each method explains (the prediction of the classifier, class y = its predicted class):

* ``"information"`` (Guan et al. 2019): σ of the **state the classifier reads** — the input of the final
  linear layer (``information_state="classifier_input"``: BERT's pooled [CLS], the LSTM's/CNN's max-pooled
  vector), or the last layer's first token (``"cls"``).  Ranking: −log σ.  λ = ``rate`` (default 0.1,
  the package default; :func:`lambda_sensitivity` shows how much the ranking moves with λ) and σ_s
  estimated by the package default (random-token copies of each text).
* the baselines (``"gradient"``, ``"integrated_gradients"``, ``"lrp"``, ``"perturbation"``): the logit of
  the predicted class y (``explain(..., target="prediction")``), their standard use in ERASER/ferret, with
  the options of :data:`PREDICTION_OPTIONS`: integrated gradients and LRP rank words by their **signed**
  share of the logit (ferret's convention: the evidence for y first, the evidence against it last), the
  gradient (Li et al.'s |∂S/∂x|) and the perturbation mask (m ∈ [0, 1], two-sided preservation of the
  logit) by their unsigned scores; ``{"perturbation": {"signed": True}}`` plays Fong & Vedaldi's score game
  instead (keep the logit high), whose mask drops the words that argue against y.
* ``"random"``: a seeded uniformly random ranking (the chance reference; 0 s).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from . import evaluation as ev
from .adapters import max_model_length
from .sweep.engine import model_digest

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_METHODS", "PREDICTION_OPTIONS", "check_same_weights", "compare_paired", "explain_ranking",
           "explain_rankings",
           "lambda_sensitivity", "load_results", "method_settings", "model_note", "report_header", "run_study",
           "study_settings", "study_table", "write_report"]

DEFAULT_METHODS = ("information", "gradient", "integrated_gradients", "perturbation", "lrp", "random")
#: The baselines' options when they explain the prediction (the predicted class's logit: one unit).  A
#: scalar read-out: ``"sum"`` of one unit is the logit itself — the same magnitudes as the default
#: ``"vector"`` read-out, from one backward pass instead of one per projection (``explain`` itself now
#: collapses "vector" on a one-unit state to one projection, ``Batch.readout_for``; "sum" stays so that the
#: recorded rows' settings stay valid).  Integrated gradients and
#: LRP ``signed``: a word's share of the logit with its sign, ranked from the most positive down, as ferret
#: ranks signed explanations; by magnitude, a word that argues strongly *against* the prediction would be
#: removed first (measured on the CoLA LSTM: integrated gradients LOO τ −0.07 by magnitude, 0.63 signed;
#: docs/faithfulness_cola.md).  Pass ``{"signed": False}`` (``--unsigned``) for the magnitude ranking.
PREDICTION_OPTIONS: dict[str, dict[str, Any]] = {
    "gradient": {"reduction": "sum"},
    "integrated_gradients": {"reduction": "sum", "signed": True},
    "lrp": {"reduction": "sum", "signed": True},
}
_INFORMATION_STATES = ("classifier_input", "cls")


def _information_options(model: nn.Module, state: str) -> dict[str, Any]:
    if state == "cls":
        return {"layers": [-1], "target": "cls"}
    if state == "classifier_input":  # the head's input, already pooled [B, H]
        return {"layer_modules": {"prediction state": (ev.classifier_head(model), "input")}, "target": "cls"}
    raise ValueError(f"information_state must be one of {_INFORMATION_STATES}, got {state!r}")


def method_settings(method: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options ``method`` runs with in the study: :data:`PREDICTION_OPTIONS`, overridden by ``options``."""
    return {**PREDICTION_OPTIONS.get(method, {}), **dict(options or {})}


def explain_rankings(method: str, model: nn.Module, tokenizer: Any, texts: Sequence[str | tuple[str, str]],
                     target: int | None = None, *, information_state: str = "classifier_input", rate: float = 0.1,
                     seed: int = 0, options: dict[str, Any] | None = None,
                     seeds: Sequence[int] | None = None) -> list[torch.Tensor]:
    """One word ranking [W] (float64, larger = more important) per text, all texts explained together in the
    method's batched passes.  ``target``: the class the baselines explain (None: each text's predicted class,
    ``explain(..., target="prediction")``; an int: that class's logit for every text).  ``options``: extra
    options of the method, over :data:`PREDICTION_OPTIONS`; ``seeds``: per-text seeds of ``"random"``."""
    from . import explain

    texts = list(texts)
    options = method_settings(method, options)
    if method == "random":
        seeds = list(seeds) if seeds is not None else [seed + i for i in range(len(texts))]
        return [ev.random_importance(p.n_words, s) for p, s in zip(ev.prepare_texts(tokenizer, texts), seeds)]
    if method == "information":
        state = _information_options(model, information_state)
        out = explain(model, tokenizer, texts, method="information", rate=rate, seed=seed, progress=False,
                      batch_size=len(texts), **state, **options)
    else:
        if target is None:
            where: dict[str, Any] = {"target": "prediction"}
        else:
            where = {"target": "logits"}
            if method != "perturbation" and options.get("reduction", "sum") == "sum":  # one class of the logits
                options["reduction"] = ev.class_logit(target)
        out = explain(model, tokenizer, texts, method=method, seed=seed, progress=False, batch_size=len(texts),
                      **where, **options)
    return [ev.word_importance(e, -1) for e in out]


def explain_ranking(method: str, model: nn.Module, tokenizer: Any, text: str | tuple[str, str],
                    target: int | None = None, **kwargs: Any) -> torch.Tensor:
    """:func:`explain_rankings` for one text → [W]."""
    return explain_rankings(method, model, tokenizer, [text], target, **kwargs)[0]


def model_note(folder: str | os.PathLike, name: str) -> str:
    """One line on a model saved by ``scripts/glue_train.py`` from the ``scores.json`` next to it (training
    texts, epochs, validation score); just the name if there is none."""
    for cand in (Path(folder) / "scores.json", Path(folder).parent / "scores.json"):
        if cand.is_file():
            sc = json.loads(cand.read_text())
            return (f"{name}: {sc.get('family', '?')}, {sc.get('parameters', '?')} parameters, trained on "
                    f"{sc.get('n_train', '?')} texts for {sc.get('epochs', '?')} epoch(s); validation "
                    f"{sc.get('headline', 'score')} {float(sc.get('headline_value', float('nan'))):.3f} on "
                    f"{sc.get('n_eval', '?')} texts")
    return name


def _options_text(options: dict[str, Any] | None) -> str:
    """", tol = 0.05, steps = 100" for the report (empty without options)."""
    return "".join(f", {k} = {v:g}" if isinstance(v, float) else f", {k} = {v}" for k, v in (options or {}).items())


def report_header(task: str, models: Sequence[str], n_texts: int, *, smoke: bool, removal: str = "delete",
                  rate: float = 0.1, information_state: str = "classifier_input",
                  model_notes: Sequence[str] = (), information_options: dict[str, Any] | None = None,
                  signed: bool = True, signed_perturbation: bool = False) -> str:
    """The report's title and setup paragraph; ``smoke`` says plainly that the models are smoke-size;
    ``signed``: whether integrated gradients and LRP ranked by signed share (:data:`PREDICTION_OPTIONS`);
    ``signed_perturbation``: whether the perturbation mask played the score game."""
    lines = ["# Faithfulness of word rankings: ERASER comprehensiveness/sufficiency, deletion/insertion, LOO", ""]
    if smoke:
        lines += ["> **Smoke run on smoke-size models — not the real study.**  The models are the smoke "
                  "configurations (configs/*_smoke.yaml) trained briefly on a small subset of the training set "
                  "(see below), far from the trained GLUE models; their predictions, and any ranking of the "
                  "methods read from this page, say little about the methods on real classifiers.  The real "
                  "study needs the trained GLUE models (issue 10): rerun scripts/faithfulness_study.py on them.",
                  ""]
    state = ("input of the classifier (pooled state)" if information_state == "classifier_input"
             else "last layer's [CLS]")
    lines += [f"Task: {task}; models: {', '.join(models)}; {n_texts} validation texts per model (seeded subset). "
              f"Removal: {removal} (special tokens never removed; word pieces removed as whole words).  Target: "
              "the class each model predicts on the full text.  Information measure: σ of the "
              f"{state}, λ = {rate:g}{_options_text(information_options)}, ranking by −log σ; the baselines "
              "explain the predicted "
              "class's logit (target \"prediction\"); "
              + ("integrated gradients and LRP rank words by their signed share of the logit (ferret's "
                 "convention: evidence for the prediction first, against it last), the gradient by |∂S/∂x| and "
                 "the perturbation mask by m; " if signed else
                 "every baseline ranks words by magnitude (integrated gradients and LRP: |share of the logit|); ")
              + ("the perturbation mask plays the score game (keep the logit high: words against the class are "
                 "dropped); " if signed_perturbation else
                 "the perturbation mask preserves the logit's value (two-sided: words against the class are kept "
                 "too); ")
              + "random: a seeded random ranking (chance).  "
              "Definitions: mi_explain/evaluation.py (DeYoung et al. 2020; Attanasio et al. 2023).", ""]
    if model_notes:
        lines += ["Models:", "", *[f"- {n}" for n in model_notes], ""]
    return "\n".join(lines)


def _records(path: str | os.PathLike):
    """The JSON records of a results file, one per line; a line cut by an interruption is skipped (and redone)."""
    path = Path(path)
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def study_settings(methods: Sequence[str], *, removal: str = "delete", information_state: str = "classifier_input",
                   rate: float = 0.1, seed: int = 0,
                   method_options: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Per method, everything its rows depend on besides the model and the text: the removal, the seed, the
    method's options, and for the information method λ and the state.  Stored in every record; a record
    counts as done, and enters a report, only under the same settings — so rerunning with another
    ``--information_steps`` recomputes those rows instead of silently reusing the old ones."""
    out = {}
    for m in methods:
        s: dict[str, Any] = {"removal": removal, "seed": int(seed),
                             **method_settings(m, (method_options or {}).get(m))}
        if m == "information":
            s.update(rate=float(rate), information_state=information_state)
        out[m] = json.loads(json.dumps(s, sort_keys=True, default=str))
    return out


def _matches(rec: dict[str, Any], settings: dict[str, dict[str, Any]] | None) -> bool:
    return settings is None or rec.get("settings") == settings.get(str(rec["method"]))


def _done(path: Path, settings: dict[str, dict[str, Any]] | None = None) -> set[tuple[str, str, str]]:
    return {(str(rec["model"]), str(rec["text_id"]), str(rec["method"])) for rec in _records(path)
            if _matches(rec, settings)}


def check_same_weights(paths: Sequence[str | os.PathLike], model_name: str, digest: str) -> None:
    """Refuse to mix models: raise ValueError if a record of ``model_name`` in ``paths`` was computed on
    weights other than ``digest`` (:func:`~mi_explain.sweep.engine.model_digest`).  Records written before
    the study stored digests carry none and are taken as they are (a warning says how many)."""
    legacy = 0
    for path in paths:
        for rec in _records(path):
            if str(rec.get("model")) != model_name:
                continue
            if "weights" not in rec:
                legacy += 1
            elif rec["weights"] != digest:
                raise ValueError(
                    f"{path} holds rows of model {model_name!r} computed on other weights (sha256 "
                    f"{rec['weights'][:12]}… ≠ {digest[:12]}… of the model given): the model was retrained or "
                    "replaced.  Move those rows to another file, or give this model another name")
    if legacy:
        logger.warning("%d rows of model %r carry no weights digest (written before the study stored one); "
                       "they are taken as this model's", legacy, model_name)


def run_study(model: nn.Module, tokenizer: Any, texts: Sequence[str | tuple[str, str]], results: str | os.PathLike,
              *, model_name: str, text_ids: Sequence[Any] | None = None,
              methods: Sequence[str] = DEFAULT_METHODS, removal: str = "delete", batch_size: int = 64,
              information_state: str = "classifier_input", rate: float = 0.1, seed: int = 0,
              method_options: dict[str, dict[str, Any]] | None = None, explain_batch: int = 8,
              done_in: Sequence[str | os.PathLike] = (), progress: bool | None = None) -> int:
    """Explain and score every (text, method) not yet in ``results`` (a JSONL file, appended to).

    Texts are explained ``explain_batch`` at a time, in each method's batched passes.  Each line: {model,
    text_id, text, method, target, seconds (explaining only: the group's time / its size), explained_together,
    words, importance, settings (:func:`study_settings`), weights (sha256 of the model's parameters), rows}.
    A (model, text, method) counts as done only if a line with the same settings exists, here or in
    ``done_in`` (more results files); rows of the same model name made on other weights raise ValueError
    (:func:`check_same_weights`).
    Returns the number of (text, method) pairs computed now.
    """
    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = list(texts)
    ids = [str(i) for i in (text_ids if text_ids is not None else range(len(texts)))]
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} text_ids for {len(texts)} texts")
    unknown = [m for m in methods if m not in DEFAULT_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; available: {list(DEFAULT_METHODS)}")
    settings = study_settings(methods, removal=removal, information_state=information_state, rate=rate, seed=seed,
                              method_options=method_options)
    digest = model_digest(model)
    check_same_weights([path, *done_in], model_name, digest)
    done = _done(path, settings).union(*[_done(Path(p), settings) for p in done_in])
    if path.exists() and path.stat().st_size:  # a line cut by an interruption: end it, it is redone below
        with path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
    method_options = method_options or {}
    scorer = ev.VariantScorer(model, ev.pad_token_id(tokenizer), batch_size=batch_size, progress=False)
    max_length = max_model_length(model, tokenizer)
    pending = [(i, tid, text) for i, (tid, text) in enumerate(zip(ids, texts))
               if any((model_name, tid, m) not in done for m in methods)]
    computed = 0
    step = max(1, int(explain_batch))
    bar = tqdm(range(0, len(pending), step), desc=f"faithfulness {model_name}", unit="batch",
               disable=None if progress is None else not progress)
    for start in bar:
        chunk = pending[start:start + step]
        prepared = ev.prepare_texts(tokenizer, [t for _, _, t in chunk], truncation=True, max_length=max_length)
        full = scorer.probabilities([(p.input_ids, p.extra) for p in prepared])
        targets = [int(v) for v in full.argmax(-1)]
        caches: list[dict] = [{} for _ in chunk]
        for method in methods:
            group = [j for j, (_, tid, _) in enumerate(chunk) if (model_name, tid, method) not in done]
            if not group:
                continue
            t0 = time.perf_counter()
            imps = explain_rankings(method, model, tokenizer, [chunk[j][2] for j in group], None,
                                    information_state=information_state, rate=rate, seed=seed,
                                    options=method_options.get(method),
                                    seeds=[seed * 1_000_003 + chunk[j][0] for j in group])
            seconds = (time.perf_counter() - t0) / len(group)
            for j, imp in zip(group, imps):
                idx, tid, text = chunk[j]
                y = targets[j]
                rows = ev.evaluate_text(scorer, prepared[j], {method: imp}, tokenizer=tokenizer, target=y,
                                        removal=removal, text_id=tid, cache=caches[j])
                rec = {"model": model_name, "text_id": tid, "text": text, "method": method, "target": y,
                       "seconds": seconds, "explained_together": len(group), "words": prepared[j].words,
                       "importance": imp.tolist(), "removal": removal, "settings": settings[method], "weights": digest,
                       "rows": [{k: r[k] for k in ("metric", "step", "value")} for r in rows]}
                with path.open("a") as f:
                    f.write(json.dumps(rec, allow_nan=True) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                computed += 1
    return computed


def load_results(*paths: str | os.PathLike, settings: dict[str, dict[str, Any]] | None = None):
    """All records of the JSONL files → a tidy frame (model, text_id, method, metric, step, value); the
    explanation time is the metric ``"seconds"``.  ``settings`` (:func:`study_settings`): keep only the
    records made under these settings (None: all).  Of several records of one (model, text, method) the
    last one read counts."""
    import pandas as pd

    latest: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for p in paths:
        for rec in _records(p):
            if _matches(rec, settings):
                latest[(rec["model"], rec["text_id"], rec["method"])] = rec
    rows = []
    for rec in latest.values():
        base = {"model": rec["model"], "text_id": rec["text_id"], "method": rec["method"]}
        rows.append({**base, "metric": "seconds", "step": float("nan"), "value": rec["seconds"]})
        for r in rec["rows"]:
            step = r["step"] if r["step"] is not None else float("nan")
            rows.append({**base, "metric": r["metric"], "step": step, "value": r["value"]})
    if not rows:
        which = "" if settings is None else " made under the requested settings"
        raise ValueError(f"no results{which} in {[str(p) for p in paths]}")
    return pd.DataFrame(rows)


_TABLE = [("aopc_comprehensiveness", "AOPC comp. ↑"), ("aopc_sufficiency", "AOPC suff. ↓"),
          ("deletion_auc", "deletion AUC ↓"), ("insertion_auc", "insertion AUC ↑"),
          ("loo_kendall", "LOO τ ↑"), ("loo_spearman", "LOO ρ ↑"), ("seconds", "s / text")]


_EXAMPLE_COMMAND = ("python scripts/faithfulness_study.py --task sst2 --models runs/<root>/sst2/bert/model "
                    "runs/<root>/sst2/lstm/model --names bert lstm --n_texts 100 "
                    "--results runs/faithfulness/sst2.jsonl --report docs/faithfulness.md "
                    "--figure docs/img/faithfulness_sst2.png")

USAGE = """## Reproduce / use

```
{command}
```

The results file is appended to one (model, text, method) at a time, and the λ check's texts to
`<results>_lambda.jsonl` next to it; rerunning the command resumes both.  Each row records the sha256 of
the model's weights: a retrained model under the same name is refused, never mixed in.  In Python:
`mi_explain.evaluation.evaluate(model, tokenizer, texts, {method: rankings})` → tidy frame,
`summarize(frame)` → mean ± s.e., `mi_explain.plotting.faithfulness_curves(frame)` → the figure.
`--report_only` rewrites the page from the results file as it is, without explaining anything.
"""


def _fmt(mean: float, se: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{mean:.{digits}f}"


def study_table(frame) -> str:  # noqa: ANN001
    """Markdown table: one row per (model, method), mean ± s.e. over texts of each metric, n texts."""
    s = ev.summarize(frame[frame["metric"] != "seconds"], by=("model", "method"))
    t = frame[frame["metric"] == "seconds"].groupby(["model", "method"])["value"]
    secs = {k: (float(v.mean()), float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("nan"))
            for k, v in t}
    scal = s[s["step"].isna()].set_index(["model", "method", "metric"])
    head = "| model | method | n | " + " | ".join(lab for _, lab in _TABLE) + " |"
    lines = [head, "|" + "---|" * (3 + len(_TABLE))]
    for (model, method), _ in scal.groupby(level=[0, 1], sort=True):
        cells = []
        n = int(scal.loc[(model, method, "aopc_comprehensiveness"), "n"])
        for metric, _lab in _TABLE:
            if metric == "seconds":
                m, e = secs.get((model, method), (float("nan"), float("nan")))
                cells.append(_fmt(m, e, 2))
            elif (model, method, metric) in scal.index:
                r = scal.loc[(model, method, metric)]
                cells.append(_fmt(float(r["mean"]), float(r["se"])))
            else:
                cells.append("n/a")
        lines.append(f"| {model} | {method} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_paired(frame, reference: str = "information", z: float = 2.0):  # noqa: ANN001
    """Per model, metric and baseline: the mean over texts of (reference − baseline), its standard error and
    a verdict — "wins" / "loses" when the difference lies more than ``z`` standard errors on the better /
    worse side (direction from :data:`mi_explain.evaluation.SCALAR_METRICS`), else "ties"."""
    import pandas as pd

    df = frame[frame["step"].isna() & frame["metric"].isin([m for m, d in ev.SCALAR_METRICS.items() if d])]
    wide = df.pivot_table(index=["model", "metric", "text_id"], columns="method", values="value")
    out = []
    if reference not in wide.columns:
        return pd.DataFrame(columns=["model", "metric", "baseline", "diff", "se", "n", "verdict"])
    for base in [c for c in wide.columns if c != reference]:
        d = (wide[reference] - wide[base]).dropna()
        for (model, metric), g in d.groupby(level=[0, 1]):
            n = len(g)
            mean = float(g.mean())
            se = float(g.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
            better = ev.SCALAR_METRICS[metric] * mean
            if n > 1 and math.isfinite(se) and abs(mean) > z * se:
                verdict = "wins" if better > 0 else "loses"
            else:
                verdict = "ties"
            out.append({"model": model, "metric": metric, "baseline": base, "diff": mean, "se": se, "n": n,
                        "verdict": verdict})
    return pd.DataFrame(out)


def lambda_sensitivity(model: nn.Module, tokenizer: Any, texts: Sequence[str | tuple[str, str]],
                       rates: Sequence[float] = (0.01, 0.1, 1.0), reference: float = 0.1, *,
                       information_state: str = "classifier_input", seed: int = 0,
                       options: dict[str, Any] | None = None, cache: str | os.PathLike | None = None,
                       model_name: str = "", cached_only: bool = False):
    """How much the information ranking moves with λ: per text and rate, Kendall τ_b and Spearman ρ between
    the ranking at that rate and at ``reference``.  ``options``: more options of the information method
    (e.g. ``tol``, ``steps``).  ``cache``: a JSONL file that each finished text is appended to (with
    ``model_name`` and the settings); a rerun with the same settings reads those texts from it instead of
    explaining them again; ``cached_only``: read the cache and skip the texts it lacks (no explaining; the model
    may be None).  Columns: text_id, rate, kendall, spearman."""
    import pandas as pd

    key = json.dumps({"model": model_name, "reference": float(reference), "state": information_state,
                      "seed": seed, "options": options or {}}, sort_keys=True, default=str)
    done: dict[str, list[dict[str, Any]]] = {}
    digest = model_digest(model) if model is not None and cache is not None else None  # only the cache needs it
    if cache is not None and Path(cache).exists():
        for line in Path(cache).read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: that text is redone
                continue
            if rec.get("key") == key:
                if digest is not None and rec.get("weights", digest) != digest:
                    raise ValueError(f"{cache} holds λ-check rows of model {model_name!r} computed on other weights "
                                     "(the model was retrained or replaced): move them away or use another name")
                done[rec["text"]] = rec["rows"]
    rows = []
    for i, text in enumerate(texts):
        tkey = json.dumps(text)
        if tkey in done and {r["rate"] for r in done[tkey]} >= {float(r) for r in rates}:
            rows += [{**r, "text_id": i} for r in done[tkey] if r["rate"] in {float(x) for x in rates}]
            continue
        if cached_only:
            continue
        ref = explain_ranking("information", model, tokenizer, text, 0, information_state=information_state,
                              rate=reference, seed=seed, options=options)
        mine = []
        for r in rates:
            v = ref if r == reference else explain_ranking("information", model, tokenizer, text, 0,
                                                           information_state=information_state, rate=r,
                                                           seed=seed, options=options)
            mine.append({"rate": float(r), "kendall": ev.kendall_tau(v, ref), "spearman": ev.spearman_rho(v, ref)})
        rows += [{**r, "text_id": i} for r in mine]
        if cache is not None:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            with open(cache, "a") as fh:
                fh.write(json.dumps({"key": key, "text": tkey, "rows": mine, "weights": digest}) + "\n")
    return pd.DataFrame(rows, columns=["text_id", "rate", "kendall", "spearman"])


def _file_slug(name: object) -> str:
    """A model name as a file-name part that Markdown links take as it is: "MiniLM (BERT row)" → "minilm_bert_row"."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_") or "model"


def write_report(frame, path: str | os.PathLike, *, header: str, figure: str | os.PathLike | None = None,  # noqa: ANN001
                 notes: Sequence[str] = (), lambda_frame=None, command: str | None = None) -> Path:  # noqa: ANN001
    """Write the markdown report: ``header`` (free text), the table, the paired comparison of the
    information measure with each baseline as plain sentences, the λ sensitivity and the figure.  The last
    section is ``notes`` or else how to reproduce the page: ``command`` (the command that made it; default:
    an example command)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [header.rstrip(), "", "## Results (mean ± standard error over texts)", "", study_table(frame), ""]
    parts += ["Arrows: ↑ higher is more faithful, ↓ lower is.  `s / text`: seconds to explain one text "
              "(wall clock on this machine; texts explained in batches of up to 8, the "
              "batch's time shared equally; the scoring passes of the metrics are not included).", ""]
    cmp = compare_paired(frame)
    if len(cmp):
        parts += ["## Where the information measure wins, loses or ties",
                  "", "Paired over texts: difference information − baseline, mean ± s.e.; *wins*/*loses*: more "
                  "than 2 s.e. on the better/worse side, else *ties*.", ""]
        for (model, base), g in cmp.groupby(["model", "baseline"], sort=True):
            verdicts = ", ".join(f"{r.metric} {r.verdict} ({r.diff:+.3g} ± {r.se:.2g})" for r in g.itertuples())
            parts.append(f"- **{model}**, vs {base}: {verdicts}.")
        counts = cmp["verdict"].value_counts()
        parts += ["", f"In all: {int(counts.get('wins', 0))} wins, {int(counts.get('loses', 0))} losses, "
                  f"{int(counts.get('ties', 0))} ties (model × baseline × metric).", ""]
    if lambda_frame is not None and len(lambda_frame):
        lf = lambda_frame if "model" in lambda_frame.columns else lambda_frame.assign(model="")
        parts += ["## Does λ change the information ranking?", "",
                  "Rank agreement of the information ranking at λ with the one at the default λ = 0.1 (mean ± "
                  "s.e. over texts; 1 = the same order; *undefined*: texts whose ranking at that λ is constant "
                  "— every word with the same σ — so that no correlation exists):", "",
                  "| model | λ | Kendall τ | Spearman ρ | n | undefined |", "|---|---|---|---|---|---|"]
        for (model, rate), g in lf.groupby(["model", "rate"], sort=True):
            k, s_ = g["kendall"].dropna(), g["spearman"].dropna()
            se_k = float(k.std(ddof=1)) / math.sqrt(len(k)) if len(k) > 1 else float("nan")
            se_s = float(s_.std(ddof=1)) / math.sqrt(len(s_)) if len(s_) > 1 else float("nan")
            parts.append(f"| {model} | {rate:g} | {_fmt(float(k.mean()), se_k)} | {_fmt(float(s_.mean()), se_s)} "
                         f"| {len(k)} | {len(g) - len(k)} |")
        parts.append("")
    if figure is not None:
        import matplotlib.pyplot as plt

        from .plotting import faithfulness_curves

        parts += ["## Curves", "", "Bands: ± one standard error over texts; each text's deletion/insertion curve "
                  "interpolated at steps of 10 % of its words (texts differ in length).", ""]
        figure = Path(figure)
        figure.parent.mkdir(parents=True, exist_ok=True)
        models = sorted(frame["model"].unique())
        for model in models:
            out = figure if len(models) == 1 else figure.with_name(f"{figure.stem}_{_file_slug(model)}{figure.suffix}")
            part = frame[(frame["model"] == model) & frame["metric"].isin(ev.CURVE_METRICS)]
            fig = faithfulness_curves(part, title=str(model))
            fig.savefig(out, dpi=110)
            plt.close(fig)
            parts += [f"![faithfulness curves of {model}]({os.path.relpath(out, path.parent)})", ""]
    parts += list(notes) or [USAGE.replace("{command}", command or _EXAMPLE_COMMAND)]
    path.write_text("\n".join(parts).rstrip() + "\n")
    return path
