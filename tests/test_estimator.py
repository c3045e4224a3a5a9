"""The σ optimizer against closed forms and invariances (no transformers involved)."""

from __future__ import annotations

import math

import pytest
import torch

from mi_explain import EstimatorConfig, NonFiniteError, explain_function

N, K = 6, 32
W = torch.tensor([10.0, 20.0, 5.0, -20.0, -10.0, 1.0])


def linear(w: torch.Tensor):
    return lambda xb: torch.einsum("i,bik->bk", w, xb)


def exact_sigma(w: torch.Tensor, rate: float, sigma_s: float) -> torch.Tensor:
    # data term = 1/λ · mean_d E(Σ w_i ε_i)_d² / r² = Σ w_i² σ_i² / (λ r²); log term −(1/n) Σ log σ_i
    # d/dσ_i = 0  ⇒  σ_i = r·sqrt(λ / (2n)) / |w_i|
    return sigma_s * math.sqrt(rate / (2 * len(w))) / w.abs()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(N, K, generator=torch.Generator().manual_seed(0)) * 0.1


@pytest.mark.parametrize("rate,sigma_s", [(0.1, 2.0), (1.0, 0.5)])
def test_linear_phi_reaches_closed_form(x, rate, sigma_s):
    e = explain_function(linear(W), x, rate=rate, regularization=sigma_s, tol=0.01, steps=2000, progress=False)
    exact = exact_sigma(W, rate, sigma_s)
    rel = (e.sigma[0] / exact - 1).abs()
    assert bool(e.converged.all())
    assert rel.max() < 0.05, rel
    # a word with a larger |w_i| always keeps more information (smaller σ)
    bigger = W.abs()[:, None] > W.abs()[None, :]
    assert bool((e.sigma[0][:, None] < e.sigma[0][None, :])[bigger].all())


def test_several_states_are_optimised_together(x):
    w2 = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    phi = lambda xb: {"a": linear(W)(xb), "b": linear(w2)(xb)}  # noqa: E731
    e = explain_function(phi, x, rate=0.1, regularization=[2.0, 3.0], tol=0.01, steps=2000, progress=False)
    assert e.layers == ["a", "b"]
    assert e.sigma.shape == (2, N)
    assert (e.sigma[0] / exact_sigma(W, 0.1, 2.0) - 1).abs().max() < 0.05
    assert (e.sigma[1] / exact_sigma(w2, 0.1, 3.0) - 1).abs().max() < 0.05


def test_rescaling_a_layer_does_not_change_its_information(x):
    """σ_s is estimated per state, so a layer ×100 carries the same information (paper Fig. 1)."""
    def net(scale: float):
        def phi(xb):
            h = torch.tanh(torch.einsum("i,bik->bk", W / 10, xb))
            return h * scale
        return phi

    a = explain_function(net(1.0), x, seed=3, progress=False)
    b = explain_function(net(100.0), x, seed=3, progress=False)
    assert torch.allclose(a.sigma, b.sigma, rtol=1e-3)
    assert torch.allclose(a.regularization * 100, b.regularization, rtol=1e-3)


def test_a_word_the_layer_ignores_is_fully_discarded(x):
    w = W.clone()
    w[2] = 0.0
    e = explain_function(linear(w), x, regularization=1.0, progress=False)
    assert bool(e.at_bound[0, 2])
    assert not bool(e.at_bound[0, [0, 1, 3, 4, 5]].any())
    assert float(e.word_information[0, 2]) == 0.0
    assert bool((e.word_information[0, [0, 1, 3, 4, 5]] > 0).all())
    assert bool(e.converged.all())


def test_scale_bounds_sigma(x):
    e = explain_function(linear(W), x, regularization=2.0, scale=0.05, progress=False)
    assert float(e.sigma.max()) <= 0.05 * (1 + 1e-5)
    assert bool(e.at_bound[0, 5])  # its unconstrained optimum (≈0.18) is above the bound


def test_step_cap_reports_not_converged(x):
    e = explain_function(linear(W), x, regularization=2.0, steps=2, progress=False)
    assert e.steps == 2
    assert not bool(e.converged.any())


def test_same_seed_same_result_and_other_seed_differs_slightly(x):
    a = explain_function(linear(W), x, regularization=2.0, seed=1, progress=False)
    b = explain_function(linear(W), x, regularization=2.0, seed=1, progress=False)
    c = explain_function(linear(W), x, regularization=2.0, seed=2, progress=False)
    assert torch.equal(a.sigma, b.sigma)
    assert not torch.equal(a.sigma, c.sigma)
    assert (a.sigma / c.sigma - 1).abs().max() < 0.2


def test_objective_reported_matches_closed_form(x):
    rate, r = 0.1, 2.0
    e = explain_function(linear(W), x, rate=rate, regularization=r, tol=0.01, steps=2000, progress=False)
    s = exact_sigma(W, rate, r)
    best = float(-(torch.log(s)).mean() + (W**2 * s**2).sum() / (rate * r**2))
    assert abs(float(e.objective[0]) - best) < 0.05


def test_bad_inputs_have_clear_errors(x):
    with pytest.raises(ValueError, match=r"\[n_words, K\]"):
        explain_function(linear(W), x[None])
    with pytest.raises(ValueError, match="rate"):
        explain_function(linear(W), x, rate=-1.0)
    with pytest.raises(ValueError, match="words"):
        explain_function(linear(W), x, words=["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        explain_function(linear(W), x * float("nan"))
    with pytest.raises(ValueError, match="regularization"):
        explain_function(linear(W), x, regularization=[1.0, 2.0])
    with pytest.raises(ValueError, match="not finite"):
        explain_function(lambda xb: xb.sum((1, 2)) / 0.0, x)
    with pytest.raises(ValueError, match="samples"):
        EstimatorConfig(samples=0)


def test_non_finite_state_during_optimisation_raises(x):
    def phi(xb):
        out = linear(W)(xb)
        perturbed = (xb - x).abs().amax((1, 2))[:, None] > 0
        return torch.where(perturbed, torch.full_like(out, float("inf")), out)

    with pytest.raises(NonFiniteError, match="non-finite"):
        explain_function(phi, x, regularization=1.0, progress=False)
