"""mi_explain.methods.scores, the coherency scores (reverse pattern, monotonicity over layers, ordering over models),
and the ground truth they rest on: a rescaled copy of a layer and a layer that drops a word."""

from __future__ import annotations

import pytest
import torch

from mi_explain import Explanation, Result, SaliencyExplanation, explain_function
from mi_explain.methods.scores import (
    layer_profile,
    monotonicity,
    order_agreement,
    reverse_pattern,
    scale_spread,
    spearman,
)

BASELINES = ["gradient", "integrated_gradients", "perturbation", "lrp"]


pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


def _three_layers():
    """layer 1: h = tanh(W·vec(x)); layer 2: 100·h (the same information, 100× the scale); layer 3: h with
    word 2's embedding multiplied by 0 (word 2 fully discarded)."""
    torch.manual_seed(0)
    n, k = 5, 4
    w = torch.randn(n * k, 12) / (n * k) ** 0.5
    drop = torch.ones(1, n, 1)
    drop[0, 2] = 0.0

    def phi(xt):
        h = torch.tanh(xt.reshape(xt.shape[0], -1) @ w)
        return {"layer 1": h, "layer 2 (×100)": 100 * h,
                "layer 3 (word 2 zeroed)": torch.tanh((xt * drop).reshape(xt.shape[0], -1) @ w)}

    return phi, torch.randn(n, k)


def test_information_is_the_same_for_a_rescaled_copy_and_zero_for_a_dropped_word():
    phi, x = _three_layers()
    e = explain_function(phi, x, progress=False)
    ratio = e.sigma[1] / e.sigma[0]
    assert bool(((ratio > 0.85) & (ratio < 1.15)).all()), e.sigma  # same map for the ×100 copy
    assert bool(e.at_bound[2, 2]) and float(e.word_information[2, 2]) == 0.0  # fully discarded
    assert bool((~e.at_bound[2, [0, 1, 3, 4]]).all()) and bool((e.word_information[2, [0, 1, 3, 4]] > 0).all())


@pytest.mark.parametrize("method", BASELINES)
def test_baselines_on_the_rescaled_copy_and_the_dropped_word(method):
    phi, x = _three_layers()
    opts = {"steps": 150} if method == "perturbation" else {}
    e = explain_function(phi, x, method=method, **opts)
    ratio = e.scores[1] / e.scores[0]
    if method == "perturbation":  # its error is normalised per state: scale-free by construction
        assert torch.allclose(ratio, torch.ones_like(ratio), rtol=0.05), ratio
    else:  # gradient-based maps follow the layer's scale (the paper's Fig. 1 argument)
        assert torch.allclose(ratio, torch.full_like(ratio, 100.0), rtol=1e-3), ratio
    assert float(e.scores[2, 2]) <= 0.02 * float(e.scores[2].max()), e.scores[2]


def _map(rows: list[list[float]], method: str = "gradient") -> Result:
    """σ rows for "information", scores rows for a baseline."""
    s = torch.tensor(rows, dtype=torch.float32)
    n_l, n_w = s.shape
    common = dict(words=[str(i) for i in range(n_w)], layers=[f"t={i + 1}" for i in range(n_l)], tokens=[],
                  token_to_word=[], pieces=[1] * n_w, embedding_dim=4, prior_scale=1.0, objective=torch.zeros(n_l),
                  converged=torch.ones(n_l, dtype=torch.bool), steps=1, method=method)
    if method == "information":
        return Explanation(sigma=s, at_bound=torch.zeros(n_l, n_w, dtype=torch.bool), regularization=torch.ones(n_l),
                           **common)
    return SaliencyExplanation(scores=s, **common)


def test_reverse_pattern_scores():
    n = 4
    anti = [[1.0 if j == n - 1 - t else 0.0 for j in range(n + 2)] for t in range(n)]
    s = reverse_pattern(_map(anti), n)
    assert (s["mass"], s["top1"], s["auc"]) == (1.0, 1.0, 1.0)
    flat = reverse_pattern(_map([[1.0] * (n + 2)] * n), n)
    assert flat["mass"] == pytest.approx(1 / n) and flat["top1"] == 0.0 and flat["auc"] == 0.5
    diag = reverse_pattern(_map([[1.0 if j == t else 0.0 for j in range(n + 2)] for t in range(n)]), n)
    assert diag["top1"] == 0.0 and diag["mass"] == 0.0
    # ours: small σ = kept; ranked by σ even where the information is clamped at 0
    sig = [[0.1 if j == n - 1 - t else (5.0 + j) for j in range(n + 2)] for t in range(n)]
    ours = reverse_pattern(_map(sig, "information"), n)
    assert (ours["mass"], ours["top1"], ours["auc"]) == (1.0, 1.0, 1.0)


def test_layer_and_model_scores():
    down = _map([[3.0, 3.0], [2.0, 1.0], [0.5, 0.5]])
    assert layer_profile(down).tolist() == [3.0, 1.5, 0.5]
    assert monotonicity(down) == pytest.approx(-1.0)
    assert scale_spread(down) == pytest.approx(float(torch.log10(torch.tensor(3.0 / 0.5))))
    ours = _map([[0.1, 0.1], [1.0, 1.0], [0.01, 0.01]], "information")  # σ: information 2.3, 0, 4.6
    assert monotonicity(ours) == pytest.approx(0.5)
    assert scale_spread(ours) == pytest.approx(2.0)
    assert order_agreement([0, 1e-4, 1e-3], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 1, 1], [1, 2, 3]) != spearman([1, 1, 1], [1, 2, 3])  # NaN for a constant side
