"""The authors' σ optimisation (Guan et al. 2019, their released code), one state at a time: the reference
our batched estimator (:mod:`mi_explain.estimator`) is benchmarked and checked against.

σ = scale · sigmoid(r), r ~ N(0, 1) at start, Adam (lr 0.01), one noise draw per step, loss
mean_d((s̃ − s)² / σ_s²) − λ · mean_i log sigmoid(r_i); the result is σ at the lowest noisy loss seen.
With ``data_norm`` the data term is Σ_d(…)/data_norm instead of the mean over the D elements: with
data_norm = N·K it is λ × the paper's Eq. 7 per token (our default normalisation), so both optimisers
minimise the same objective.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = ["ReferenceResult", "StateFn", "reference_sigma"]

#: phi for one state: perturbed embeddings [1, T, K] → flattened state [1, D].
StateFn = Callable[[torch.Tensor], torch.Tensor]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class ReferenceResult:
    sigma: torch.Tensor  # [W]
    seconds: float
    cpu_seconds: float  # process CPU time (all threads): less sensitive to other jobs on a shared machine
    best_loss: float  # lowest noisy loss seen (authors' form: λ·(Eq. 7 per word) − λ·log scale)
    best_step: int
    steps: int


def reference_sigma(
    phi: StateFn,
    x: torch.Tensor,
    word_index: torch.Tensor,
    n_cols: int,
    clean: torch.Tensor,
    inv_var: torch.Tensor,
    *,
    rate: float,
    scale: float,
    steps: int,
    lr: float = 0.01,
    seed: int = 0,
    desc: str = "reference",
    progress: bool = True,
    data_norm: float | None = None,
) -> ReferenceResult:
    """The authors' σ optimisation for ONE state.

    x: [T, K] clean embeddings; word_index: [T] σ column of each token (−1: never perturbed); clean: the
    flattened clean state [D]; inv_var: 1/σ_s² broadcastable to [D].  Minimises
    mean_d((s̃ − s)² / σ_s²) − λ · mean_i log sigmoid(r_i), σ = scale · sigmoid(r), with one noise draw
    per step; returns σ at the r of the lowest noisy loss seen.
    """
    device = x.device
    init_gen = torch.Generator(device="cpu").manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
    r = torch.randn(n_cols, generator=init_gen).to(device).requires_grad_(True)
    opt = torch.optim.Adam([r], lr=lr)
    mask = (word_index >= 0).to(x.dtype)[:, None]  # [T, 1]
    cols = word_index.clamp_min(0)
    best_loss, best_step, best_r = math.inf, -1, r.detach().clone()
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for step in tqdm(range(steps), desc=desc, leave=False, unit="step", disable=not progress, mininterval=1.0):
        sigma_tok = (scale * torch.sigmoid(r))[cols][:, None] * mask  # [T, 1]
        eps = torch.randn(x.shape, generator=noise_gen, device=device)
        state = phi((x + sigma_tok * eps)[None])[0]
        sq = (state - clean).pow(2) * inv_var
        data = sq.mean() if data_norm is None else sq.sum() / data_norm
        loss = data - rate * F.logsigmoid(r).mean()
        value = float(loss.detach())  # the authors track the best loss on the host every step
        if value < best_loss:
            best_loss, best_step, best_r = value, step, r.detach().clone()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    return ReferenceResult(sigma=(scale * torch.sigmoid(best_r)).detach(), seconds=seconds, cpu_seconds=cpu_seconds,
                           best_loss=best_loss, best_step=best_step, steps=steps)
