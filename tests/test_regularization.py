"""mi_explain.regularization: σ_s is a spread (scales with the state, not with the number of samples) and a
user's σ_s is checked and broadcast per state."""

from __future__ import annotations

import pytest
import torch

from mi_explain.regularization import as_inverse_variance, pooled_variance


def test_pooled_variance_is_the_mean_per_unit_variance_and_scales_with_the_state():
    v = torch.tensor([[0.0, 0.0], [2.0, 4.0]])  # unit variances (n-1): 2 and 8
    assert pooled_variance(v) == pytest.approx(5.0)
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    assert pooled_variance(3 * x) == pytest.approx(9 * pooled_variance(x))
    assert pooled_variance(x + 5) == pytest.approx(pooled_variance(x))
    with pytest.raises(ValueError, match="at least 2 sampled vectors"):
        pooled_variance(torch.ones(1, 4))
    with pytest.raises(ValueError, match="does not vary"):
        pooled_variance(torch.ones(5, 4))


def test_as_inverse_variance_forms_and_errors():
    shapes = [torch.Size([3]), torch.Size([2, 2])]
    inv, scalars = as_inverse_variance(2.0, 2, shapes)
    assert [t.tolist() for t in inv] == [[[0.25]], [[0.25]]] and scalars == [2.0, 2.0]
    inv, scalars = as_inverse_variance([1.0, torch.tensor([1.0, 2.0])], 2, shapes)
    assert inv[1].tolist() == [[1.0, 0.25, 1.0, 0.25]] and scalars[0] == 1.0 and scalars[1] != scalars[1]  # NaN
    with pytest.raises(ValueError, match="2 values but there are 3 states"):
        as_inverse_variance([1.0, 2.0], 3, shapes + [torch.Size([1])])
    with pytest.raises(ValueError, match="state 1 must be positive and finite"):
        as_inverse_variance([1.0, 0.0], 2, shapes)
    with pytest.raises(ValueError, match="not broadcastable"):
        as_inverse_variance([1.0, torch.ones(3)], 2, shapes)
