"""σ_s: the spread of a hidden state over inputs, which normalises the data term of Eq. 7.

We use one number per state, the pooled variance

    σ_s² = mean_h Var_n[v_n,h]   over the state's vectors v_n (n: sampled inputs, and positions),

so that rescaling a layer by c rescales σ_s by c and leaves σ unchanged (the paper's coherency).
For ``target="tokens"`` the vectors are all real (non-padding) token positions of all sampled inputs,
which is well defined when reference texts have different lengths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .estimator import NonFiniteError

__all__ = ["pooled_variance", "as_inverse_variance"]


def pooled_variance(vectors: torch.Tensor) -> float:
    """vectors: [N, H] (N ≥ 2 samples of an H-dim vector) → mean over h of the variance over N."""
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise ValueError(f"need at least 2 sampled vectors [N, H] to estimate σ_s, got shape {tuple(vectors.shape)}")
    v = vectors.double()
    var = float(v.var(dim=0, unbiased=True).mean())
    if not math.isfinite(var):
        raise NonFiniteError("the hidden state is NaN or infinite for the reference inputs used to estimate σ_s; "
                             "check the model for overflow (e.g. float16) or pass `regularization=` explicitly")
    if not var > 0:
        raise ValueError("the hidden state does not vary over the sampled inputs (σ_s = 0); "
                         "pass `regularization=` explicitly")
    return var


def as_inverse_variance(
    regularization: float | Sequence[float] | torch.Tensor | Sequence[torch.Tensor],
    n_states: int,
    state_shapes: Sequence[torch.Size],
    device: torch.device | str = "cpu",
) -> tuple[list[torch.Tensor], list[float]]:
    """Turn a user's σ_s (float for all, one per state, or tensors broadcastable to each state's shape)
    into per-state 1/σ_s² tensors broadcastable to the flattened state [1, D_l], and the scalar σ_s per
    state for reporting (NaN when per-element)."""
    if isinstance(regularization, dict):
        regularization = list(regularization.values())
    if isinstance(regularization, (int, float)) or (torch.is_tensor(regularization) and regularization.ndim == 0):
        items = [float(regularization)] * n_states
    else:
        items = list(regularization)
        if len(items) != n_states:
            raise ValueError(f"regularization has {len(items)} values but there are {n_states} states")
    inv, scalars = [], []
    for i, (item, shape) in enumerate(zip(items, state_shapes)):
        t = torch.as_tensor(item, dtype=torch.float32)
        if not torch.isfinite(t).all() or (t <= 0).any():
            raise ValueError(f"regularization (σ_s) for state {i} must be positive and finite")
        if t.numel() == 1:
            inv.append((1.0 / t.reshape(1, 1) ** 2).to(device))
            scalars.append(float(t))
        else:
            try:
                full = torch.broadcast_to(t, tuple(shape))
            except RuntimeError as err:
                raise ValueError(f"regularization for state {i} has shape {tuple(t.shape)}, "
                                 f"not broadcastable to the state's shape {tuple(shape)}") from err
            inv.append((1.0 / full.reshape(1, -1) ** 2).to(device))
            scalars.append(float("nan"))
    return inv, scalars
