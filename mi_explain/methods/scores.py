"""Coherency scores: the paper's qualitative claims of Sec. 4 as numbers, for any method's Explanation.

Every score reads a map through two views:

* ``importance(e)`` [L, W], ≥ 0, "how much the state uses the word" in the method's own units: the
  information kept, log(σ_prior/σ)₊ in nats per dimension, for ours; the saliency for baselines.
* ``ranking(e)`` [L, W]: the same order without ties at zero — −log σ for ours (words the layer has
  discarded are still ordered by σ), the saliency for baselines.

Scores:

* :func:`reverse_pattern` (Fig. 2): rows are decoder steps t = 1…n of a reversal model whose explained input
  starts with the n encoder words; the reverse pattern puts row t on encoder word n+1−t, the word the step
  must output.  ``mass``: mean over rows of importance there / importance over all n encoder words (chance
  1/n for a uniform map); ``top1``: share of rows whose highest-ranked encoder word is that one (chance
  1/n); ``auc``: probability that it outranks another encoder word of its row (chance ½).
* :func:`layer_profile`, :func:`monotonicity` (Fig. 3): per layer the mean importance over words;
  Spearman ρ between depth and that profile (−1: strictly decreasing with depth, as the paper reports for
  information); :func:`scale_spread`: log10(max/min over layers of the geometric-mean raw map value ``e.values()``
  — σ for ours, saliency for baselines), how far the overall scale of the map moves from layer to layer.
* :func:`order_agreement` (Fig. 4): Spearman ρ between a hyper-parameter (the L2 weight α) and a per-model
  value (mean importance at the last layer); the paper reports information decreasing with α (ρ = −1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..results import Explanation, Result

__all__ = ["average_ranks", "importance", "layer_profile", "method_of", "monotonicity", "order_agreement", "ranking",
           "reverse_pattern", "scale_spread", "spearman"]


def method_of(e: Result) -> str:
    return e.method


def importance(e: Result) -> torch.Tensor:
    """[L, W] ≥ 0: information kept (nats/dim) for ours, the score for baselines."""
    if isinstance(e, Explanation):
        return e.word_information.double()
    return e.values().double().clamp(min=0)


def ranking(e: Result) -> torch.Tensor:
    """[L, W]: larger = more used (−log σ for ours, the score for baselines)."""
    if isinstance(e, Explanation):
        return -torch.log(e.sigma.double())
    return e.values().double()


def reverse_pattern(e: Explanation, n: int) -> dict[str, float]:
    """Reverse-pattern scores of a map whose rows are decoder steps 1…n and whose first n columns are the
    encoder words (module docstring)."""
    if e.n_layers < 1 or e.n_words < n:
        raise ValueError(f"need ≥ 1 row and ≥ {n} columns, got a map of shape {tuple(e.values().shape)}")
    imp, rank = importance(e)[:, :n], ranking(e)[:, :n]
    rows = min(e.n_layers, n)
    mass, top1, auc = [], [], []
    for t in range(rows):
        j = n - 1 - t  # row t (step t+1) outputs x_{n-t}: column n-1-t
        total = float(imp[t].sum())
        mass.append(float(imp[t, j]) / total if total > 0 else 0.0)
        others = torch.cat([rank[t, :j], rank[t, j + 1:]])
        top1.append(float(bool((others < rank[t, j]).all())))
        auc.append(float(((others < rank[t, j]).double() + 0.5 * (others == rank[t, j]).double()).mean())
                   if len(others) else 1.0)
    return {"mass": sum(mass) / rows, "top1": sum(top1) / rows, "auc": sum(auc) / rows, "chance_mass": 1 / n,
            "chance_top1": 1 / n, "chance_auc": 0.5}


def layer_profile(e: Result) -> torch.Tensor:
    """[L]: mean importance over words per layer (ours: ``e.information``)."""
    return importance(e).mean(1)


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share their mean rank)."""
    v = v.double()
    order = torch.argsort(v)
    ranks = torch.empty_like(v)
    ranks[order] = torch.arange(len(v), dtype=torch.double)
    for value in torch.unique(v):
        tie = v == value
        if int(tie.sum()) > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor) -> float:
    """Spearman's ρ (NaN when either side is constant or shorter than 2)."""
    a, b = torch.as_tensor(a, dtype=torch.double), torch.as_tensor(b, dtype=torch.double)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} vs {len(b)} values")
    if len(a) < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / den if den > 0 else float("nan")


def monotonicity(e: Result) -> float:
    """Spearman ρ between layer depth and :func:`layer_profile` (−1: decreasing with depth)."""
    prof = layer_profile(e)
    return spearman(torch.arange(len(prof)), prof)


def scale_spread(e: Result) -> float:
    """log10(max_l G_l / min_l G_l), G_l the geometric mean over words of ``e.values()[l]`` (0-valued entries
    ignored; NaN if a layer has none)."""
    g = []
    for row in e.values().double():
        pos = row[row > 0]
        if not len(pos):
            return float("nan")
        g.append(float(torch.log(pos).mean()))
    return (max(g) - min(g)) / math.log(10)


def order_agreement(alphas: Sequence[float], values: Sequence[float]) -> float:
    """Spearman ρ between α and per-model values (−1: the value decreases as α grows)."""
    return spearman(list(alphas), list(values))
