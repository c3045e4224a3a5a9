"""Faithfulness of word rankings: ERASER comprehensiveness/sufficiency, deletion/insertion curves and the
rank correlation with leave-one-out occlusion, for any sequence classifier and any explanation method.

A *ranking* is one importance score per word of a text (larger = more important; see
:func:`word_importance` for how every method's map becomes one, the sign conventions being handled there
and only there).  Each metric removes words in that order and reads the classifier's probability p(y|·) of
the *target class* y (default: the class the model predicts on the full text, as in ERASER and ferret):

* **comprehensiveness** (DeYoung et al., ACL 2020, "ERASER: A benchmark to evaluate rationalized NLP
  models", Sec. 4.2): p(y|x) − p(y|x∖r_b), r_b the top k_b words.  Higher = the ranking found the words the
  prediction needs.
* **sufficiency** (ibid.): p(y|x) − p(y|r_b), the top k_b words kept alone.  Lower = the top words suffice.
* bins b ∈ {1, 5, 10, 20, 50} % of the words (:data:`BINS`), and their **AOPC** ("area over the
  perturbation curve", Samek et al. 2017 as used by ERASER): the mean over the bins, as in ERASER's
  released scorer (``rationale_benchmark/metrics.py``, ``_instances_aopc``: average of p(y|x) − p_k over the
  thresholds) and in ferret (Attanasio et al., EACL 2023 demo, "ferret: a framework for benchmarking
  explainers on transformers": ``aopc_compr`` / ``aopc_suff`` are the mean of p(y|x) − p_k over the
  thresholds).  Bin sizes: ``convention="eraser"`` (default) k_b = ⌈b·n⌉ words (so every bin removes ≥ 1
  word and all five bins enter the mean, as the ERASER scorer requires); ``convention="ferret"``
  k_b = ⌊b·n⌋ (ferret's ``_get_id_tokens_percentage``: int(b·n)), bins with k_b = 0 or with the same
  words as the previous bin are skipped, as ferret does.  (ferret's own default, ``based_on="k"``, uses
  every k = 1 … n instead of bins; that mean is the area of our deletion curve without its k = 0 point.)
* **deletion / insertion curves** (Petsiuk et al., BMVC 2018, "RISE", applied to words): p(y|·) after
  removing the top k words (deletion) or keeping only them (insertion), k = 0 … n; the x axis is the
  fraction k/n and the **area** is the trapezoidal AUC over [0, 1] (a normalised AUC: a probability times a
  fraction, in [0, 1]).  Deletion: lower = better; insertion: higher = better.
* **leave-one-out correlation** (ferret's ``taucorr_loo``): Kendall τ_b (ferret's metric) and Spearman ρ
  between the ranking and the occlusion importance p(y|x) − p(y|x∖w_i) of each word alone.

Removal (``removal``): ``"delete"`` (the words' tokens are dropped, ERASER's and ferret's default),
``"mask"`` (every token of the word becomes ``[MASK]``, ferret's ``remove_tokens=False``) or ``"pad"``
(every token becomes the pad token; the attention mask stays 1, so unlike "delete" the positions remain).
Word pieces are grouped into words by :func:`mi_explain.adapters.encode` (the columns of every map in
this package); special tokens ([CLS], [SEP], <s> …) are never removed.  All perturbed variants of a text are
de-duplicated and scored in batched forward passes of ``batch_size`` rows with a progress bar.

Results are a tidy :class:`pandas.DataFrame` with columns ``text_id, method, metric, step, value``
(``step``: the bin fraction, the curve's fraction k/n, or NaN for per-text scalars); :func:`summarize`
gives the mean, standard error and count over texts.  :func:`mi_explain.plotting.faithfulness_curves`
draws the curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .adapters import encode, max_model_length
from .methods.scores import spearman

__all__ = ["BINS", "CURVE_METRICS", "REMOVALS", "SCALAR_METRICS", "PreparedText", "VariantScorer", "bin_sizes",
           "class_logit", "classifier_head", "evaluate", "evaluate_text", "kendall_tau", "make_variant",
           "normalised_auc", "pad_token_id", "prepare_texts", "random_importance", "spearman_rho", "summarize",
           "word_importance"]

#: ERASER's bins: the top 1, 5, 10, 20 and 50 % of the words.
BINS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)
REMOVALS = ("delete", "mask", "pad")
CONVENTIONS = ("eraser", "ferret")
#: per-text scalars (``step`` NaN) and their direction: +1 = higher is more faithful, −1 = lower is.
SCALAR_METRICS: dict[str, int] = {"aopc_comprehensiveness": 1, "aopc_sufficiency": -1, "deletion_auc": -1,
                                  "insertion_auc": 1, "loo_kendall": 1, "loo_spearman": 1, "p_full": 0}
#: metrics with one row per bin or curve step.
CURVE_METRICS = ("comprehensiveness", "sufficiency", "deletion", "insertion")


# ------------------------------------------------------------------------------------------ sign conventions

def word_importance(explanation: Any, layer: int | str = -1, *, absolute: bool = False) -> torch.Tensor:
    """One importance per word [W] (float64; larger = more important) from any method's result.

    * an :class:`~mi_explain.Explanation` (the information method): **−log σ** of row ``layer`` — a small
      noise scale σ means the state keeps the word, so the order is that of σ reversed; −log σ (rather than
      the clamped information log(σ_prior/σ)₊) keeps words the layer has discarded ordered too.
    * a :class:`~mi_explain.SaliencyExplanation` (any baseline): the ``scores`` of row ``layer`` **as
      they are** (higher = more important).  By default the baselines of this package report magnitudes
      (mean |∂S/∂x|, |Σ IG|, |Σ R| of LRP, the preservation mask m ∈ [0, 1]); run with ``signed=True``,
      integrated gradients and LRP report the signed share Σ IG / Σ R, so that the order is ferret's: the
      evidence for the explained class first, the evidence against it last (what the faithfulness study
      uses, :data:`mi_explain.evaluation_study.PREDICTION_OPTIONS`).  ``absolute=True`` ranks by |score|.
    * a tensor / array / list [W]: used as is (``absolute`` applies).

    ``layer``: row index (negative from the end) or row label (e.g. ``"layer 5"``).
    """
    if hasattr(explanation, "layers") and hasattr(explanation, "layer"):  # a Result of any method
        row = explanation.layer(layer).double()  # σ for the information method, the scores for a baseline
        if hasattr(explanation, "sigma"):
            if (row <= 0).any():
                raise ValueError("σ must be positive to rank words by −log σ")
            return -torch.log(row)
        return row.abs() if absolute else row
    v = torch.as_tensor(explanation, dtype=torch.float64).flatten()
    return v.abs() if absolute else v


def random_importance(n_words: int, seed: int) -> torch.Tensor:
    """A uniformly random ranking [n_words] (the chance reference), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.rand(int(n_words), generator=gen, dtype=torch.float64)


# ------------------------------------------------------------------------------------------ small maths

def bin_sizes(n_words: int, bins: Sequence[float] = BINS, convention: str = "eraser") -> list[tuple[float, int]]:
    """The (bin, k_b) pairs used for n words (module docstring): ``"eraser"``: k_b = ⌈b·n⌉ for every bin;
    ``"ferret"``: k_b = ⌊b·n⌋, bins with k_b = 0 or the same k as the previous bin left out."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if n_words < 1:
        raise ValueError(f"need at least one word, got n_words={n_words}")
    out: list[tuple[float, int]] = []
    for b in bins:
        if not 0 < b <= 1:
            raise ValueError(f"bins are fractions in (0, 1], got {b}")
        if convention == "eraser":
            k = min(n_words, math.ceil(b * n_words - 1e-9))
        else:
            k = int(b * n_words + 1e-9)
            if k == 0 or (out and out[-1][1] == k):
                continue
        out.append((float(b), int(k)))
    return out


def normalised_auc(values: Sequence[float]) -> float:
    """Trapezoidal area under values [n+1] at x = 0, 1/n, …, 1 (so a constant c has area c)."""
    v = [float(x) for x in values]
    if len(v) < 2:
        raise ValueError("a curve needs at least 2 points")
    n = len(v) - 1
    return sum((v[i] + v[i + 1]) / 2 for i in range(n)) / n


def spearman_rho(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor) -> float:
    """Spearman's ρ with average ranks for ties (NaN if either side is constant or has < 2 values)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D sequences of one length, got {tuple(a.shape)} and {tuple(b.shape)}")
    return spearman(a, b)


def kendall_tau(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor) -> float:
    """Kendall's τ_b (ties corrected, as ``scipy.stats.kendalltau``; NaN if either side is constant)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D sequences of one length, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2:
        return float("nan")
    da = torch.sign(a[:, None] - a[None, :])
    db = torch.sign(b[:, None] - b[None, :])
    iu = torch.triu_indices(len(a), len(a), 1)
    da, db = da[iu[0], iu[1]], db[iu[0], iu[1]]
    n_a, n_b = float((da != 0).sum()), float((db != 0).sum())
    if n_a == 0 or n_b == 0:
        return float("nan")
    return float((da * db).sum()) / math.sqrt(n_a * n_b)


# ------------------------------------------------------------------------------------------ texts and variants

@dataclass
class PreparedText:
    """One tokenized text without padding: input_ids [T], extra inputs {name: [T]} (token_type_ids …),
    word_index [T] (the word of each token; −1 = special token, never removed), words [W]."""

    input_ids: torch.Tensor
    extra: dict[str, torch.Tensor]
    word_index: torch.Tensor
    words: list[str]

    @property
    def n_words(self) -> int:
        return len(self.words)


def prepare_texts(tokenizer: Any, texts: Sequence[str | tuple[str, str]], *, granularity: str = "word",
                  truncation: bool = False, max_length: int | None = None) -> list[PreparedText]:
    """Tokenize and group word pieces into words with :func:`mi_explain.adapters.encode` (the same columns as
    every explanation of this package)."""
    out = []
    for text in texts:
        enc = encode(tokenizer, [text], granularity=granularity, max_length=max_length, truncation=truncation)
        n = int(enc.attention_mask[0].sum())
        out.append(PreparedText(input_ids=enc.input_ids[0, :n].clone(),
                                extra={k: v[0, :n].clone() for k, v in enc.extra.items()},
                                word_index=enc.word_index[0, :n].clone(), words=list(enc.words[0])))
    return out


def _token_id(tokenizer: Any, removal: str) -> int | None:
    if removal == "delete":
        return None
    tid = tokenizer.mask_token_id if removal == "mask" else tokenizer.pad_token_id
    if tid is None:
        raise ValueError(f"removal={removal!r} needs a tokenizer with a {'mask' if removal == 'mask' else 'pad'} "
                         "token; use removal='delete'")
    return int(tid)


def make_variant(text: PreparedText, keep: torch.Tensor, removal: str, token_id: int | None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The text with the words where ``keep`` [W] is False removed: (input_ids [T'], extra {name: [T']}).
    Special tokens are always kept."""
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")
    keep = torch.as_tensor(keep, dtype=torch.bool)
    if keep.shape != (text.n_words,):
        raise ValueError(f"keep must have one entry per word ({text.n_words}), got shape {tuple(keep.shape)}")
    special = text.word_index < 0
    tok_keep = special | keep[text.word_index.clamp(min=0)]
    if removal == "delete":
        return text.input_ids[tok_keep], {k: v[tok_keep] for k, v in text.extra.items()}
    ids = text.input_ids.clone()
    ids[~tok_keep] = int(token_id)  # type: ignore[arg-type]
    return ids, {k: v.clone() for k, v in text.extra.items()}


def _logits(output: Any) -> torch.Tensor:
    if torch.is_tensor(output):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


class VariantScorer:
    """Class probabilities of token sequences, in batched forward passes (right padding, attention mask 0).

    ``model(input_ids=[B, T], attention_mask=[B, T], **extra)`` must return logits [B, C] (a tensor, an
    object with ``.logits`` or a tuple starting with them).  ``batch_size``: rows per forward pass.
    """

    def __init__(self, model: nn.Module, pad_id: int, *, batch_size: int = 64, progress: bool | None = None,
                 device: torch.device | str | None = None) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.model = model
        self.pad_id = int(pad_id)
        self.batch_size = int(batch_size)
        self.progress = progress
        if device is None:
            p = next(model.parameters(), None)
            device = p.device if p is not None else "cpu"
        self.device = torch.device(device)
        self.forward_passes = 0

    def probabilities(self, seqs: Sequence[tuple[torch.Tensor, dict[str, torch.Tensor]]], desc: str = "scoring"
                      ) -> torch.Tensor:
        """Softmax probabilities [N, C] (float64) of N (input_ids [T_i], extra) sequences."""
        if not seqs:
            raise ValueError("no sequences to score")
        outs = []
        starts = range(0, len(seqs), self.batch_size)
        bar = tqdm(starts, desc=desc, unit="batch", leave=False,
                   disable=(len(starts) == 1) if self.progress is None else not self.progress)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for s in bar:
                    chunk = seqs[s:s + self.batch_size]
                    t = max(1, max(len(ids) for ids, _ in chunk))
                    ids = torch.full((len(chunk), t), self.pad_id, dtype=torch.long)
                    mask = torch.zeros(len(chunk), t, dtype=torch.long)
                    keys = list(chunk[0][1])
                    extra = {k: torch.zeros(len(chunk), t, dtype=torch.long) for k in keys}
                    for i, (row, ex) in enumerate(chunk):
                        ids[i, :len(row)] = row
                        mask[i, :len(row)] = 1
                        for k in keys:
                            extra[k][i, :len(row)] = ex[k]
                    dev = self.device
                    out = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                                     **{k: v.to(dev) for k, v in extra.items()})
                    logits = _logits(out)
                    if logits.ndim != 2 or logits.shape[0] != len(chunk):
                        raise ValueError(f"expected logits [batch, classes], got shape {tuple(logits.shape)}")
                    outs.append(torch.softmax(logits.double(), -1).cpu())
                    self.forward_passes += 1
        finally:
            self.model.train(was_training)
        return torch.cat(outs)


# ------------------------------------------------------------------------------------------ the metrics

@dataclass
class _Plan:
    """Which keep-masks one ranking needs, and where each metric reads them."""

    bins: list[tuple[float, int]]
    order: torch.Tensor  # [W] word indices, most important first


def _keep_top(order: torch.Tensor, k: int, n: int, keep_top: bool) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool)
    m[order[:k]] = True
    return m if keep_top else ~m


def _ranking_order(importance: torch.Tensor) -> torch.Tensor:
    """Words by decreasing importance; ties keep the word order (a stable sort)."""
    if not torch.isfinite(importance).all():
        raise ValueError("importance contains NaN or infinite values")
    return torch.argsort(-importance, stable=True)


def evaluate_text(
    scorer: VariantScorer, text: PreparedText, importances: Mapping[str, Any], *, tokenizer: Any = None,
    target: int | None = None, removal: str = "delete", bins: Sequence[float] = BINS,
    convention: str = "eraser", curves: bool = True, loo: bool = True, text_id: Any = 0,
    layer: int | str = -1, cache: dict | None = None,
) -> list[dict[str, Any]]:
    """All metrics for one text and one or more rankings ({method: importance [W] or explanation}).

    Returns tidy rows {text_id, method, metric, step, value, target}.  Every keep-mask any metric needs is
    scored once (``cache``: keep-mask bytes → probabilities [C], may be shared between calls on one text).
    ``tokenizer`` is needed for ``removal`` "mask" / "pad" (and gives the pad id).
    """
    n = text.n_words
    if n < 1:
        raise ValueError(f"text {text_id!r} has no word to remove")
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")
    if removal != "delete" and tokenizer is None:
        raise ValueError(f"removal={removal!r} needs the tokenizer (for its mask / pad token id)")
    tid = _token_id(tokenizer, removal) if removal != "delete" else None
    cache = {} if cache is None else cache
    plans: dict[str, _Plan] = {}
    for method, imp in importances.items():
        v = word_importance(imp, layer)
        if v.shape != (n,):
            raise ValueError(f"method {method!r}, text {text_id!r}: {v.numel()} importance values for {n} words "
                             f"({text.words})")
        plans[method] = _Plan(bin_sizes(n, bins, convention), _ranking_order(v))

    masks: list[torch.Tensor] = [torch.ones(n, dtype=torch.bool)]
    for plan in plans.values():
        for _, k in plan.bins:
            masks += [_keep_top(plan.order, k, n, False), _keep_top(plan.order, k, n, True)]
        if curves:
            masks += [_keep_top(plan.order, k, n, False) for k in range(n + 1)]
            masks += [_keep_top(plan.order, k, n, True) for k in range(n + 1)]
    if loo:
        for i in range(n):
            m = torch.ones(n, dtype=torch.bool)
            m[i] = False
            masks.append(m)
    todo, seen = [], set()
    for m in masks:
        key = (removal, m.numpy().tobytes())
        if key not in cache and key not in seen:
            seen.add(key)
            todo.append((key, m))
    if todo:
        probs = scorer.probabilities([make_variant(text, m, removal, tid) for _, m in todo],
                                     desc=f"scoring text {text_id}")
        for (key, _), p in zip(todo, probs):
            cache[key] = p

    def prob(m: torch.Tensor) -> torch.Tensor:
        return cache[(removal, m.numpy().tobytes())]

    full = prob(torch.ones(n, dtype=torch.bool))
    y = int(full.argmax()) if target is None else int(target)
    if not 0 <= y < len(full):
        raise ValueError(f"target {y} is not a class of a {len(full)}-class model")
    p0 = float(full[y])
    rows: list[dict[str, Any]] = []

    def add(method: str, metric: str, step: float, value: float) -> None:
        rows.append({"text_id": text_id, "method": method, "metric": metric, "step": step, "value": float(value),
                     "target": y})

    loo_imp = None
    if loo:
        loo_imp = []
        for i in range(n):
            m = torch.ones(n, dtype=torch.bool)
            m[i] = False
            loo_imp.append(p0 - float(prob(m)[y]))
    for method, plan in plans.items():
        add(method, "p_full", float("nan"), p0)
        comp, suff = [], []
        for b, k in plan.bins:
            comp.append(p0 - float(prob(_keep_top(plan.order, k, n, False))[y]))
            suff.append(p0 - float(prob(_keep_top(plan.order, k, n, True))[y]))
            add(method, "comprehensiveness", b, comp[-1])
            add(method, "sufficiency", b, suff[-1])
        add(method, "aopc_comprehensiveness", float("nan"), sum(comp) / len(comp) if comp else float("nan"))
        add(method, "aopc_sufficiency", float("nan"), sum(suff) / len(suff) if suff else float("nan"))
        if curves:
            dele = [float(prob(_keep_top(plan.order, k, n, False))[y]) for k in range(n + 1)]
            ins = [float(prob(_keep_top(plan.order, k, n, True))[y]) for k in range(n + 1)]
            for k in range(n + 1):
                add(method, "deletion", k / n, dele[k])
                add(method, "insertion", k / n, ins[k])
            add(method, "deletion_auc", float("nan"), normalised_auc(dele))
            add(method, "insertion_auc", float("nan"), normalised_auc(ins))
        if loo_imp is not None:
            v = word_importance(importances[method], layer)
            add(method, "loo_kendall", float("nan"), kendall_tau(v, loo_imp))
            add(method, "loo_spearman", float("nan"), spearman_rho(v, loo_imp))
    return rows


def pad_token_id(tokenizer: Any) -> int:
    """The id used to pad variants (pad, else eos, else unk, else 0)."""
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        v = getattr(tokenizer, name, None)
        if v is not None:
            return int(v)
    return 0


def evaluate(
    model: nn.Module, tokenizer: Any, texts: Sequence[str | tuple[str, str]],
    importances: Mapping[str, Sequence[Any]], *, targets: Sequence[int | None] | int | None = None,
    removal: str = "delete", bins: Sequence[float] = BINS, convention: str = "eraser", curves: bool = True,
    loo: bool = True, batch_size: int = 64, progress: bool | None = None, text_ids: Sequence[Any] | None = None,
    layer: int | str = -1, granularity: str = "word", truncation: bool = False,
    device: torch.device | str | None = None,
):
    """Faithfulness of several methods' rankings on several texts → a tidy DataFrame.

    model: a sequence classifier (any ``*ForSequenceClassification`` or a module returning logits [B, C]
    from ``input_ids``/``attention_mask``).  importances: {method: one ranking per text}, each an
    explanation or a [W] vector (see :func:`word_importance`; ``layer`` picks the row).  targets: the
    class per text, one class for all, or None (the predicted class on the full text).  Other options: see
    the module docstring.  Columns: text_id, method, metric, step, value, target.
    """
    import pandas as pd

    texts = list(texts)
    if not texts:
        raise ValueError("no text given")
    for method, per_text in importances.items():
        if len(per_text) != len(texts):
            raise ValueError(f"method {method!r} has {len(per_text)} rankings for {len(texts)} texts")
    if isinstance(targets, int) or targets is None:
        targets = [targets] * len(texts)
    if len(targets) != len(texts):
        raise ValueError(f"{len(targets)} targets for {len(texts)} texts")
    ids = list(text_ids) if text_ids is not None else list(range(len(texts)))
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} text_ids for {len(texts)} texts")
    prepared = prepare_texts(tokenizer, texts, granularity=granularity, truncation=truncation,
                             max_length=max_model_length(model, tokenizer))
    scorer = VariantScorer(model, pad_token_id(tokenizer), batch_size=batch_size, progress=False, device=device)
    rows: list[dict[str, Any]] = []
    bar = tqdm(range(len(texts)), desc="faithfulness", unit="text",
               disable=(len(texts) == 1) if progress is None else not progress)
    for i in bar:
        rows += evaluate_text(scorer, prepared[i], {m: v[i] for m, v in importances.items()}, tokenizer=tokenizer,
                              target=targets[i], removal=removal, bins=bins, convention=convention, curves=curves,
                              loo=loo, text_id=ids[i], layer=layer)
    return pd.DataFrame(rows, columns=["text_id", "method", "metric", "step", "value", "target"])


def summarize(frame: Any, by: Sequence[str] = ("method",)) -> Any:
    """Mean, standard error (std with ddof 1 / √n) and n over texts of every per-text scalar metric, per
    ``by`` group and metric; also the per-bin comprehensiveness/sufficiency.  Columns: *by, metric, step,
    mean, se, n, better (+1 higher is more faithful, −1 lower, 0 neither)."""
    import pandas as pd

    df = frame[frame["metric"].isin(list(SCALAR_METRICS) + ["comprehensiveness", "sufficiency"])].copy()
    df["step"] = df["step"].fillna(-1.0)
    keys = [*by, "metric", "step"]
    g = df.groupby(keys, sort=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()}).reset_index()
    out["se"] = out["sd"] / out["n"].clip(lower=1) ** 0.5
    out["step"] = out["step"].where(out["step"] >= 0)
    directions = {**SCALAR_METRICS, "comprehensiveness": 1, "sufficiency": -1}
    out["better"] = out["metric"].map(directions)
    return out[[*keys, "mean", "se", "n", "better"]]


# ------------------------------------------------------------------------------------------ the classifier head

def classifier_head(model: nn.Module) -> nn.Module:
    """The module that outputs the logits [B, C] (``classifier`` or ``score``, as in transformers and the
    models of :mod:`mi_explain.models`)."""
    for name in ("classifier", "score"):
        mod = getattr(model, name, None)
        if isinstance(mod, nn.Module):
            return mod
    raise ValueError(f"{type(model).__name__} has no 'classifier' or 'score' module; pass the head explicitly")


def class_logit(target: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A reduction [B, C] → [B] reading out one class's logit (for the gradient baselines)."""

    def read(s: torch.Tensor) -> torch.Tensor:
        return s[:, int(target)]

    read.__name__ = f"logit[{int(target)}]"
    return read
