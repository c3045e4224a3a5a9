"""Corpus-level information per layer (paper Eq. 1–2), shared by the GLUE sweep and the Trainer callback.

For a layer with state S, MI(X; S) = H(X) − H(X|S) (Eq. 1) and H(X|S) = E_s H(X|s) (Eq. 2), with
H(X|s) = Σ_i H(X_i|s) under word independence and H(X_i|s) ≈ H(X̃_i|s) = K_i/2·log(2πe) + K_i·log σ_i
(Eq. 6).  H(X) is a constant of the data, so we report:

* ``conditional_entropy``: H(X|S), the mean over sentences of Σ_i H(X̃_i|s) in nats (grows with length);
* ``conditional_entropy_per_dim``: the same per word and embedding dimension, ½·log(2πe) + mean log σ;
* ``information``: the mean over sentences of :attr:`Explanation.information` — nats per embedding
  dimension kept per word, relative to a Gaussian prior with the embedding's spread (0 = all discarded).
  Up to that prior this is MI(X; S) per word and dimension, and it is comparable across layers and models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .results import Explanation

__all__ = ["corpus_information", "layer_information", "sentence_entropy"]


def sentence_entropy(e: Explanation) -> torch.Tensor:
    """H(X|s) per layer for one explained sentence: [n_layers] nats (Eq. 2's integrand)."""
    return e.entropy.sum(-1)


def corpus_information(explanations: Sequence[Explanation]):
    """Per-layer corpus figures from explanations of many sentences → pandas DataFrame with columns
    ``layer, layer_index, n_sentences, conditional_entropy, conditional_entropy_per_dim, information,
    information_sem, converged``."""
    import pandas as pd

    items = list(explanations)
    if not items:
        raise ValueError("no explanations: need at least one explained sentence")
    layers = items[0].layers
    for i, e in enumerate(items):
        if e.layers != layers:
            raise ValueError(f"explanation {i} has layers {e.layers}, expected {layers}: explain all texts alike")
    ent = torch.stack([sentence_entropy(e) for e in items])  # [N, L]
    per_dim = torch.stack([
        0.5 * math.log(2 * math.pi * math.e) + torch.log(e.sigma).mean(-1) for e in items])  # [N, L]
    info = torch.stack([e.information for e in items])  # [N, L]
    conv = torch.stack([e.converged.float() for e in items])
    n = len(items)
    sem = info.std(0, unbiased=True) / math.sqrt(n) if n > 1 else torch.full((len(layers),), float("nan"))
    return pd.DataFrame({
        "layer": layers,
        "layer_index": list(range(len(layers))),
        "n_sentences": n,
        "conditional_entropy": ent.mean(0).tolist(),
        "conditional_entropy_per_dim": per_dim.mean(0).tolist(),
        "information": info.mean(0).tolist(),
        "information_sem": sem.tolist(),
        "converged": conv.mean(0).tolist(),
    })


def layer_information(model: torch.nn.Module, tokenizer: Any, texts: Sequence, **explain_options: Any):
    """Explain ``texts`` (batched) with :func:`mi_explain.explain` and return :func:`corpus_information`
    of the result; ``explain_options`` are passed on (layers, target, rate, reference_texts, …)."""
    from .driver import explain

    texts = list(texts)
    if not texts:
        raise ValueError("no texts given")
    return corpus_information(explain(model, tokenizer, texts, **explain_options))
