"""The σ optimizer for Eq. 7 of Guan et al. (2019), for any differentiable ``phi``.

For every problem p (a sentence), every state l (a layer) and every word i we learn a noise
scale σ[p, l, i] (embedding units) minimising, per state,

    L(σ) = -(1/N) Σ_tokens log σ_token + 1/λ · E_ε mean_d (Φ_d(x + ε) - s_d)² / σ_s,d²,
    ε_token ~ N(0, σ_token² I_K),

where N is the number of perturbed tokens, all tokens of a word share the word's σ and the mean runs
over the D elements of the state.  For ``target="tokens"`` (D = N·K) this is exactly the paper's
Eq. 7 divided by the number of words, and the same normalisation as the authors' code; dividing by D
rather than K keeps λ meaningful for states of any size.

Optimizer ("log-space Newton with iterate averaging").  With u = log σ, the derivative of the data
term g_i = ∂D/∂u_i is available from one reparameterised backward pass.  For small noise the data term
is quadratic in σ, D ≈ Σ_i a_i σ_i², so g_i = 2 a_i σ_i² and the optimum solves g_i = m_i/N
(m_i = pieces of word i).  One Newton step in u therefore lands on the optimum of the local quadratic
model:  u_i ← u_i + ½·log(m_i / (N g_i)).  Starting in the small-noise regime (σ = 1 % of the
embedding spread) the first step jumps to the linearised optimum; later steps follow the curvature.
Because g is a Monte-Carlo estimate, once a coordinate's steps are small its proposals are averaged
with weights growing linearly in time (η_k = 2/(k+2)), which removes the noise at rate 1/√k while
forgetting the early, biased proposals at rate 1/k².  A coordinate has converged when the standard
error of its averaged log σ is below ``tol`` (a relative error of σ), or when it sits on a bound that
its proposals keep pushing against (the layer saturates: more noise no longer costs anything).

Every iteration runs ONE batched forward/backward over all problems × states × samples
(``phi_rows``), chunked to bound memory.  Noise is drawn per problem from its own generator, so a
sentence's result does not depend on which other sentences share its batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["EstimatorConfig", "NonFiniteError", "Problems", "SigmaResult", "optimize_sigma"]

#: phi_rows(x_tilde [B, T, K], problem_index [B]) -> one flattened state [B, D_l] per state l.
PhiRows = Callable[[torch.Tensor, torch.Tensor], Sequence[torch.Tensor]]


class NonFiniteError(FloatingPointError):
    """A NaN or infinity appeared in a hidden state or in the loss during the optimization."""


@dataclass
class EstimatorConfig:
    """Options of the σ optimizer.

    rate: λ of Eq. 7 (larger → more noise, more information counted as discarded).
    scale: upper bound for σ in embedding units (None: ``max_sigma`` × prior scale, i.e. unbounded
        in practice; words that reach it are reported ``at_bound``).
    samples: noise draws per state and iteration.
    steps: cap on iterations. tol: convergence threshold on the standard error of log σ.
    max_step: cap on |Δ log σ| per iteration. init: starting σ relative to the prior scale.
    max_batch: rows (perturbed copies of a sentence) per forward/backward chunk; None: all at once.
    """

    rate: float = 0.1
    scale: float | None = None
    samples: int = 8
    steps: int = 100
    tol: float = 0.05
    max_step: float = 2.0
    init: float = 0.01
    min_sigma: float = 1e-6
    max_sigma: float = 1e3
    switch: float = 0.5
    burn_in: int = 6
    min_average: int = 4
    seed: int = 0
    max_batch: int | None = None

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate (λ) must be a positive finite number, got {self.rate!r}")
        if self.scale is not None and not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale (upper bound for σ) must be positive or None, got {self.scale!r}")
        if int(self.samples) < 1:
            raise ValueError(f"samples must be ≥ 1, got {self.samples!r}")
        if int(self.steps) < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.steps!r}")
        if not self.tol > 0:
            raise ValueError(f"tol must be positive, got {self.tol!r}")
        if self.max_batch is not None and int(self.max_batch) < 1:
            raise ValueError(f"max_batch must be ≥ 1 or None, got {self.max_batch!r}")
        self.samples = int(self.samples)


@dataclass
class Problems:
    """A padded batch of sentences to explain.

    x: [P, T, K] clean word embeddings. word_index: [P, T] long, the σ column of each token or -1
    (special token or padding: never perturbed). pieces: [P, W] tokens per word (0 for padding words).
    prior_scale: [P] per-dimension spread of the embeddings (sets init and bounds).
    seeds: one noise seed per problem.
    """

    x: torch.Tensor
    word_index: torch.Tensor
    pieces: torch.Tensor
    prior_scale: torch.Tensor
    seeds: list[int] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        p, t, k = self.x.shape
        return p, t, k, self.pieces.shape[1]


@dataclass
class SigmaResult:
    """sigma, at_bound, stderr: [P, L, W]; converged, objective, data: [P, L]; steps: iterations run."""

    sigma: torch.Tensor
    at_bound: torch.Tensor
    stderr: torch.Tensor
    converged: torch.Tensor
    objective: torch.Tensor
    data: torch.Tensor
    steps: int
    history: list[float] = field(default_factory=list)


def _draw_noise(problems: Problems, n_states: int, samples: int, gens: list[torch.Generator]) -> torch.Tensor:
    """Standard normal noise [P, L, S, T, K], independent of padding and of the other problems."""
    p, t, k, _ = problems.shape
    z = torch.zeros(p, n_states, samples, t, k, device=problems.x.device)
    lengths = (problems.word_index >= 0).sum(1)
    for i in range(p):
        # tokens that are never perturbed get zero noise anyway; draw over the first `last+1` positions
        valid = torch.nonzero(problems.word_index[i] >= 0)
        if len(valid) == 0 or lengths[i] == 0:
            continue
        last = int(valid.max()) + 1
        z[i, :, :, :last] = torch.randn(n_states, samples, last, k, generator=gens[i], device=z.device)
    return z


def optimize_sigma(
    phi_rows: PhiRows,
    problems: Problems,
    clean_states: Sequence[torch.Tensor],
    element_counts: torch.Tensor,
    inv_var: Sequence[torch.Tensor],
    config: EstimatorConfig,
    *,
    state_names: Sequence[str] | None = None,
    progress: bool | None = None,
) -> SigmaResult:
    """Minimise Eq. 7 for every (problem, state) at once.

    clean_states: per state l, [P, D_l] (flattened, zero at padding) = phi of the clean input.
    element_counts: [P, L] number of real elements of each state (the D of the mean).
    inv_var: per state l, 1/σ_s² broadcastable to [P, D_l].
    """
    cfg = config
    x = problems.x
    device = x.device
    n_prob, _, _, n_words = problems.shape
    n_states = len(clean_states)
    if n_states == 0:
        raise ValueError("no hidden state to explain: phi returned an empty sequence")
    names = list(state_names) if state_names is not None else [f"state {i}" for i in range(n_states)]
    samples = cfg.samples

    word_mask = problems.pieces > 0  # [P, W]
    n_tok = problems.pieces.sum(1).clamp_min(1).to(torch.float32)  # [P]
    gain = (problems.pieces.to(torch.float32) / n_tok[:, None])[:, None, :]  # [P, 1, W]  m_i / N
    prior = problems.prior_scale.to(device=device, dtype=torch.float32)[:, None, None]
    lo = torch.log(prior * cfg.min_sigma).expand(n_prob, n_states, n_words)
    hi_val = prior * cfg.max_sigma if cfg.scale is None else torch.full_like(prior, float(cfg.scale))
    hi = torch.log(hi_val).expand(n_prob, n_states, n_words)
    u = torch.log(prior * cfg.init).expand(n_prob, n_states, n_words).clone()
    u = torch.minimum(u, hi - 1e-3)

    counts = torch.zeros(n_prob, n_states, n_words, device=device)  # steps averaged so far, per coordinate
    sum_w = torch.zeros_like(counts)  # Σ w_k
    sum_wa = torch.zeros_like(counts)  # Σ w_k â_k
    sum_w2v = torch.zeros_like(counts)  # Σ w_k² Var(â_k)
    push_hi = torch.zeros(n_prob, n_states, n_words, dtype=torch.long, device=device)
    push_lo = torch.zeros_like(push_hi)
    stderr = torch.full((n_prob, n_states, n_words), float("inf"), device=device)
    converged_coord = ~word_mask[:, None, :].expand(n_prob, n_states, n_words).clone()
    active = torch.ones(n_prob, n_states, dtype=torch.bool, device=device)
    data_avg = torch.zeros(n_prob, n_states, device=device)

    gens = []
    for s in problems.seeds or [cfg.seed] * n_prob:
        gen = torch.Generator(device=device)  # on the device: no host→device copy inside the loop
        gen.manual_seed(int(s))
        gens.append(gen)

    word_index = problems.word_index.clamp_min(0)
    tok_mask = (problems.word_index >= 0).to(torch.float32)  # [P, T]
    counts_d = element_counts.to(device=device, dtype=torch.float32)  # [P, L]
    half = samples // 2 if samples >= 2 else 0  # rows s < half use copy 0 of u, the rest copy 1

    history: list[float] = []
    bar = tqdm(total=cfg.steps, desc="σ optimization", disable=(None if progress is None else not progress),
               leave=False, unit="step")
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            # rows (p, l, s) of the states still being optimised
            act = torch.nonzero(active)  # [A, 2]
            row_p = act[:, 0].repeat_interleave(samples)
            row_l = act[:, 1].repeat_interleave(samples)
            row_s = torch.arange(samples, device=device).repeat(len(act))
            row_h = (row_s >= half).long() if half else torch.zeros_like(row_s)
            n_rows = len(row_p)
            chunk = n_rows if cfg.max_batch is None else int(cfg.max_batch)
            # two copies of u: their gradients from disjoint halves of the samples give the noise level
            u_var = u.detach()[:, :, None, :].repeat(1, 1, 2, 1).requires_grad_(True)
            z = _draw_noise(problems, n_states, samples, gens)  # [P, L, S, T, K]
            data = torch.zeros(n_prob, n_states, device=device)
            for start in range(0, n_rows, chunk):
                sl = slice(start, start + chunk)
                rp, rl, rs, rh = row_p[sl], row_l[sl], row_s[sl], row_h[sl]
                sig_tok = torch.exp(u_var)[rp, rl, rh].gather(1, word_index[rp]) * tok_mask[rp]  # [b, T]
                x_tilde = x[rp] + sig_tok[..., None] * z[rp, rl, rs]
                states = phi_rows(x_tilde, rp)
                row_data = torch.zeros(len(rp), device=device)
                for l_idx in torch.unique(rl).tolist():
                    sel = torch.nonzero(rl == l_idx).squeeze(1)
                    p_sel = rp[sel]
                    diff = states[l_idx][sel].float() - clean_states[l_idx][p_sel].float()
                    iv = inv_var[l_idx]
                    iv = iv[p_sel] if iv.shape[0] == n_prob and n_prob > 1 else iv
                    val = (diff.pow(2) * iv).sum(-1) / (cfg.rate * counts_d[p_sel, l_idx])
                    row_data = row_data.index_put((sel,), val)
                if not torch.isfinite(row_data).all():
                    bad = torch.nonzero(~torch.isfinite(row_data)).squeeze(1)[0]
                    raise NonFiniteError(
                        f"non-finite hidden state or loss at step {step} for problem {int(rp[bad])}, "
                        f"{names[int(rl[bad])]} (σ up to {float(torch.exp(u).max()):.3g}); "
                        "lower `scale` or check the model for overflow"
                    )
                (row_data.sum() / samples).backward()
                data.index_put_((rp, rl), row_data.detach() / samples, accumulate=True)
            g2 = u_var.grad.detach()  # [P, L, 2, W]
            g = g2.sum(2)

            with torch.no_grad():
                upd = active[:, :, None] & word_mask[:, None, :]
                scale2 = 2.0 * torch.exp(2.0 * u)
                # local quadratic coefficient: D ≈ Σ a_i σ_i²  ⇒  g_i = 2 a_i σ_i²  (unbiased in a_i)
                a_hat = g / scale2
                if half:  # Var(mean of two halves) = E[(â_a − â_b)²]/4 with â_h = 2·g_h/scale2 (unbiased)
                    var_hat = (2.0 * (g2[:, :, 0] - g2[:, :, 1]) / scale2).pow(2) / 4.0
                else:
                    var_hat = a_hat.pow(2)
                newton = 0.5 * (torch.log(gain / 2.0) - torch.log(a_hat.clamp_min(1e-30)))
                newton = torch.where(a_hat > 0, newton, torch.full_like(u, 1e4))
                proposal = torch.minimum(torch.maximum(newton, lo), hi)
                push_hi = torch.where(upd & (u >= hi - 1e-6) & (proposal >= hi - 1e-6), push_hi + 1,
                                      torch.where(upd, 0, push_hi))
                push_lo = torch.where(upd & (u <= lo + 1e-6) & (proposal <= lo + 1e-6), push_lo + 1,
                                      torch.where(upd, 0, push_lo))
                averaging = counts > 0
                start_avg = upd & ~averaging & (((proposal - u).abs() < cfg.switch) | (step > cfg.burn_in))
                counts = torch.where(upd & (averaging | start_avg), counts + 1, counts)
                # linearly increasing weights forget the early, biased proposals at rate 1/k²
                w = torch.where(upd & (counts > 0), counts, torch.zeros_like(counts))
                sum_w = sum_w + w
                sum_wa = sum_wa + w * a_hat
                sum_w2v = sum_w2v + w.pow(2) * var_hat
                a_bar = sum_wa / sum_w.clamp_min(1e-30)
                averaged = 0.5 * (torch.log(gain / 2.0) - torch.log(a_bar.clamp_min(1e-30)))
                averaged = torch.where(a_bar > 0, averaged, torch.full_like(u, 1e4))
                target = torch.where(counts > 0, averaged, newton)
                u_new = torch.minimum(torch.maximum(u + (target - u).clamp(-cfg.max_step, cfg.max_step), lo), hi)
                u = torch.where(upd, u_new, u)
                # standard error of log σ = ½ · SE(ā)/ā
                se = 0.5 * sum_w2v.sqrt() / (sum_w * a_bar.abs()).clamp_min(1e-30)
                stderr = torch.where(counts >= cfg.min_average, se, torch.full_like(se, float("inf")))
                converged_coord = (stderr < cfg.tol) | (push_hi >= 2) | (push_lo >= 2) | ~word_mask[:, None, :]
                # the data term at the current σ: averaged only once every word of the state is averaging
                # (earlier steps were taken at other σ, e.g. the tiny starting noise)
                settled = ((counts > 1) | ~word_mask[:, None, :]).all(-1)
                data_avg = torch.where(active, torch.where(settled, 0.5 * data_avg + 0.5 * data, data), data_avg)
                active = active & ~converged_coord.all(-1)
                frac = float(converged_coord.float().mean())
                obj = (-(gain * u).sum(-1) + data_avg).mean()
                history.append(float(obj))
            bar.update(1)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("step %d: %.0f%% converged, active states per layer %s, max stderr per layer %s",
                             step, 100 * frac, active.sum(0).tolist(),
                             [round(v, 3) for v in stderr.amax((0, 2)).tolist()])
            bar.set_postfix(converged=f"{frac:.0%}", objective=f"{float(obj):.4f}")
            if not bool(active.any()):
                break
    finally:
        bar.close()

    with torch.no_grad():
        objective = -(gain * u).sum(-1) + data_avg
        sigma = torch.exp(u) * word_mask[:, None, :]
        at_bound = (u >= hi - 1e-6) & word_mask[:, None, :]
        converged = converged_coord.all(-1)
    return SigmaResult(sigma=sigma, at_bound=at_bound, stderr=stderr * word_mask[:, None, :],
                       converged=converged, objective=objective, data=data_avg, steps=step, history=history)


def evaluate_objective(
    phi_rows: PhiRows,
    problems: Problems,
    sigma: torch.Tensor,
    clean_states: Sequence[torch.Tensor],
    element_counts: torch.Tensor,
    inv_var: Sequence[torch.Tensor],
    rate: float,
    noise: torch.Tensor,
    max_batch: int = 256,
) -> torch.Tensor:
    """Eq. 7 (per word) at a given σ [P, L, W] on FIXED standard-normal draws ``noise`` [M, T, K].

    The same ``noise`` is used for every problem and state, so two σ maps can be compared without
    Monte-Carlo error in the comparison.  Returns [P, L].
    """
    n_prob, n_states, _ = sigma.shape
    n_tok = problems.pieces.sum(1).clamp_min(1).to(torch.float32)
    gain = problems.pieces.to(torch.float32) / n_tok[:, None]  # [P, W]
    word_index = problems.word_index.clamp_min(0)
    tok_mask = (problems.word_index >= 0).to(torch.float32)
    out = torch.zeros(n_prob, n_states)
    m = noise.shape[0]
    with torch.no_grad():
        for p in range(n_prob):
            for l_idx in range(n_states):
                sig_tok = sigma[p, l_idx].gather(0, word_index[p]) * tok_mask[p]  # [T]
                total = 0.0
                for start in range(0, m, max_batch):
                    z = noise[start:start + max_batch, : sig_tok.shape[0]]
                    xt = problems.x[p][None] + sig_tok[None, :, None] * z
                    rows = torch.full((len(z),), p, dtype=torch.long, device=xt.device)
                    st = phi_rows(xt, rows)[l_idx].float()
                    diff = st - clean_states[l_idx][p][None].float()
                    iv = inv_var[l_idx]
                    iv = iv[p] if iv.shape[0] == n_prob and n_prob > 1 else iv
                    total += float(((diff.pow(2) * iv).sum(-1)).sum())
                data = total / (m * rate * float(element_counts[p, l_idx]))
                valid = problems.pieces[p] > 0
                logterm = -(gain[p][valid] * torch.log(sigma[p, l_idx][valid])).sum()
                out[p, l_idx] = float(logterm) + data
    return out
