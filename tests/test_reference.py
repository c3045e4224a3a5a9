"""The authors' reference algorithm (mi_explain.reference): the closed form on a linear Φ, determinism, and
that tokens outside the map are never perturbed."""

from __future__ import annotations

import math

import pytest
import torch

from mi_explain.reference import reference_sigma

pytestmark = pytest.mark.usefixtures("one_thread")

N, K, RATE, R = 8, 32, 0.1, 0.5


def _linear():  # noqa: ANN202
    x = torch.randn(N, K, generator=torch.Generator().manual_seed(0))
    w = torch.linspace(0.25, 2.0, N) * torch.tensor([(-1.0) ** i for i in range(N)])
    exact = R * math.sqrt(RATE / (2 * N)) / w.abs()  # the authors' per-element mean (their code)

    def phi(xb: torch.Tensor) -> torch.Tensor:
        return (w[None, :, None] * xb).sum(1)

    return x, phi, exact


def test_reference_reaches_the_closed_form_on_a_linear_map():
    x, phi, exact = _linear()
    res = reference_sigma(phi, x, torch.arange(N), N, phi(x[None])[0], torch.tensor(1.0 / R ** 2), rate=RATE,
                          scale=10 * float(exact.max()), steps=3000, lr=0.05, seed=0, progress=False)
    rel = ((res.sigma - exact).abs() / exact).max()
    assert float(rel) < 0.15, (res.sigma, exact)  # measured 0.041 (300 steps at lr 0.01: 22, not converged)
    assert res.steps == 3000 and 0 <= res.best_step < 3000 and math.isfinite(res.best_loss)


def test_reference_is_deterministic_and_leaves_unmapped_tokens_alone():
    x, phi, exact = _linear()
    kw = dict(rate=RATE, scale=10 * float(exact.max()), steps=50, seed=3, progress=False)
    clean = phi(x[None])[0]
    a = reference_sigma(phi, x, torch.arange(N), N, clean, torch.tensor(4.0), **kw)
    b = reference_sigma(phi, x, torch.arange(N), N, clean, torch.tensor(4.0), **kw)
    assert torch.equal(a.sigma, b.sigma) and a.best_step == b.best_step
    seen = []

    def spy(xb: torch.Tensor) -> torch.Tensor:
        seen.append(float((xb[0, 0] - x[0]).abs().max().detach()))
        return phi(xb)

    index = torch.arange(N) - 1  # token 0 is outside the map (a special token): -1
    reference_sigma(spy, x, index, N - 1, clean, torch.tensor(4.0), **kw)
    assert max(seen) == 0.0
