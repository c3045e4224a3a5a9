"""The σ optimizer for Eq. 7 of Guan et al. (2019), for any differentiable ``phi``.

What σ is.  For every problem p (a sentence), state l (a layer) and word i we return the noise scale
σ[p, l, i] (embedding units) that minimises, on the interval [σ_min, scale],

    L(σ) = -(1/N) Σ_tokens log σ_token + 1/(N·K·λ) · E_ε ‖Φ(x + ε) - s‖²_{σ_s⁻²},
    ε_token ~ N(0, σ_token² I_K),

the paper's Eq. 7 (sum of the data term over the whole state, divided by K·λ) divided by N, the number
of perturbed tokens, so that the objective is "per token" and λ means the same for every target,
layer and model family.  All tokens of a word share the word's σ (a word of m pieces carries m times
the entropy of a token).  ``normalization="element_mean"`` divides the data term by the number D of
state elements instead of N·K (the authors' code for a whole-layer target; kept for comparisons with
results made that way).

On bounded states (LayerNorm, tanh, gates) the data term saturates, so Eq. 7 falls without end as
σ → ∞: the upper bound ``scale`` is part of the definition.  By default it is ``scale_factor`` (3) ×
the spread of the embedding matrix, as in the authors' experiments (a multiple of the embedding
spread): noise three times larger than the embeddings themselves leaves little of the word.  Where a
word has two basins (a small-noise local minimum and saturation at the bound) the lower one is
returned; the two are compared on common noise (same draws for both), deterministically given the
seed (alternatives that the first ``check_screen`` draws already reject, each draw and the mean by 4
standard errors, are not scored on the rest).  A word is ``at_bound`` only when the bound is the
minimiser: the layer has discarded it at this λ.

Optimizer.  With u = log σ the reparameterised backward pass gives G_i = ∂D/∂u_i, and the optimum is
the root of G_i(u) = m_i/N (m_i: pieces of word i).  Far from it we take safeguarded Newton steps on
log G with a slope ŝ learnt by secants (ŝ = 2 in the small-noise, quadratic regime; smaller where
the data term flattens, so flat stretches are crossed quickly; halved steps when the sign flips).
Near the root the Monte-Carlo estimates are averaged in a window: a_k = G_k·exp(-ŝ(u_k - u_ref)) is
linear in G (no Jensen bias) and its weighted average (weights growing linearly) gives
ū = u_ref + (log(m/N) - log ā)/ŝ.  The window
restarts when a trend test finds that the estimates still move.  A word has converged when (i) the
standard error of its log σ is below ``tol`` and (ii) its iterate moved less than ``tol``/2 over the
last three steps, or when it sits on a bound that the objective keeps pushing against; a state stops
when all its words have converged (then the basin check above runs, and, if words moved to the bound,
the others are optimised again).  Nothing else counts as converged.

Variance reduction.  The noise of a problem is common to all its states (common random numbers:
smoother maps across layers).  Within each half of the samples every token's draws have orthonormal
directions and stratified χ_K radii: each draw is still exactly N(0, I_K), but the quadratic part of
the data term (dominant near the optimum) loses most of its Monte-Carlo error.  The two halves are
independent, which gives the standard error.

Every iteration runs ONE batched forward/backward over all problems × states × samples
(``phi_rows``), chunked to bound memory; on the CPU (``depth_limited``) the rows of each state get their
own pass that stops at that state, so the layers above it are never run.  Each problem draws its noise
from its own generator, so a sentence's result does not depend on which other sentences share its batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["EstimatorConfig", "NonFiniteError", "Problems", "SigmaResult", "draw_noise", "optimize_sigma"]

#: phi_rows(x_tilde [B, T, K], problem_index [B]) -> one flattened state [B, D_l] per state l.
PhiRows = Callable[[torch.Tensor, torch.Tensor], Sequence[torch.Tensor]]

NORMALIZATIONS = ("eq7", "element_mean")
#: prior SD of the local slope d log G / d log σ around the value learnt while searching (see the SE)
_SLOPE_PRIOR_SD = 0.5


class NonFiniteError(FloatingPointError):
    """A NaN or infinity appeared in a hidden state or in the loss during the optimization."""


@dataclass
class EstimatorConfig:
    """Options of the σ optimizer.

    rate: λ of Eq. 7 (larger → more noise, more information counted as discarded).
    scale: upper bound for σ in embedding units; None: ``scale_factor`` × the prior scale (the spread
        of the embeddings).  Words whose minimiser is the bound are reported ``at_bound``.
    samples: noise draws per state and iteration (≥ 2: two independent halves give the error).
    steps: cap on iterations.  tol: convergence threshold on the standard error of log σ (and on its
        movement).  max_step: cap on |Δ log σ| per iteration.  init: starting σ relative to the prior.
    min_sigma: lower bound relative to the prior.  normalization: "eq7" (data term / (N·K·λ)) or
        "element_mean" (data term / (D·λ)).  basin_check: compare each word's interior minimum with the
        bound on ``check_samples`` common draws (also used for the reported objective).
    orthogonal: orthonormal directions and stratified radii within each half of the samples.
    check_screen: the basin check first scores every "word at the bound" alternative on this many of the
        ``check_samples`` draws and drops those that every draw, and the mean by 4 standard errors, finds
        worse than the interior minimum; the rest get all draws.
    max_batch: rows (perturbed copies of a sentence) per forward/backward chunk; None: all at once.
    depth_limited: one pass per state that stops at that state (later layers are never run; the
        model's ``phi_rows`` must accept ``only=[l]``, as :class:`~mi_explain.adapters.HFStates` does);
        None: on CPU yes, on accelerators no (there one wide pass is cheaper than many short ones).
    """

    rate: float = 0.1
    scale: float | None = None
    scale_factor: float = 3.0
    samples: int = 8
    steps: int = 300
    tol: float = 0.015
    max_step: float = 2.0
    init: float = 0.01
    min_sigma: float = 1e-4
    switch: float = 0.3
    dither: float = 0.15
    min_average: int = 3
    normalization: str = "eq7"
    basin_check: bool = True
    check_samples: int = 32
    check_screen: int = 8
    max_rounds: int = 3
    orthogonal: bool = True
    seed: int = 0
    max_batch: int | None = None
    depth_limited: bool | None = None

    def __post_init__(self) -> None:
        def _num(name: str, value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
            return float(value)

        def _int(name: str, value: object, low: int) -> int:
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float)
                                                                          and float(value).is_integer())):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if int(value) < low:
                raise ValueError(f"{name} must be ≥ {low}, got {value!r}")
            return int(value)

        rate = _num("rate", self.rate)
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate (λ) must be a positive finite number, got {self.rate!r}")
        if self.scale is not None:
            sc = _num("scale", self.scale)
            if not (sc > 0 and math.isfinite(sc)):
                raise ValueError(f"scale (upper bound for σ) must be a positive finite number or None, "
                                 f"got {self.scale!r}")
        sf = _num("scale_factor", self.scale_factor)
        if not (sf > 0 and math.isfinite(sf)):
            raise ValueError(f"scale_factor must be a positive finite number, got {self.scale_factor!r}")
        if isinstance(self.samples, (int, float)) and not isinstance(self.samples, bool) and int(self.samples) == 1:
            raise ValueError("samples must be ≥ 2: the Monte-Carlo error is measured from two independent "
                             "halves of each step's draws (samples=1 cannot tell noise from signal)")
        self.samples = _int("samples", self.samples, 2)
        self.steps = _int("steps", self.steps, 1)
        self.check_samples = _int("check_samples", self.check_samples, 2)
        self.check_screen = _int("check_screen", self.check_screen, 2)
        if self.depth_limited is not None and not isinstance(self.depth_limited, bool):
            raise TypeError(f"depth_limited must be True, False or None, got {self.depth_limited!r}")
        self.max_rounds = _int("max_rounds", self.max_rounds, 1)
        tol = _num("tol", self.tol)
        if not (tol > 0 and math.isfinite(tol)):
            raise ValueError(f"tol must be a positive finite number, got {self.tol!r}")
        if self.max_batch is not None:
            self.max_batch = _int("max_batch", self.max_batch, 1)
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not 0 < self.min_sigma < self.init:
            raise ValueError(f"need 0 < min_sigma < init, got min_sigma={self.min_sigma!r}, init={self.init!r}")


@dataclass
class Problems:
    """A padded batch of sentences to explain.

    x: [P, T, K] clean word embeddings. word_index: [P, T] long, the σ column of each token or -1
    (special token or padding: never perturbed). pieces: [P, W] tokens per word (0 for padding words).
    prior_scale: [P] per-dimension spread of the embeddings (sets init and the default bound).
    seeds: one noise seed per problem (see :func:`text_seed`).
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
    """sigma, at_bound, stderr, drift: [P, L, W] (stderr and drift of log σ); converged, objective,
    objective_se, data: [P, L]; steps: iterations run; rounds: basin-check rounds per state [P, L]."""

    sigma: torch.Tensor
    at_bound: torch.Tensor
    stderr: torch.Tensor
    drift: torch.Tensor
    converged: torch.Tensor
    objective: torch.Tensor
    objective_se: torch.Tensor
    data: torch.Tensor
    steps: int
    rounds: torch.Tensor | None = None
    upper: torch.Tensor | None = None
    history: list[float] = field(default_factory=list)
    restarts: torch.Tensor | None = None  # [P, L, W] averaging windows restarted
    slope: torch.Tensor | None = None  # [P, L, W] d log G / d log σ at the end (2: quadratic regime)


def text_seed(seed: int, text: object) -> int:
    """A noise seed derived from the user's ``seed`` and the text itself (stable across runs and
    platforms), so that a text gets its own noise whatever shares its batch."""
    import hashlib

    digest = hashlib.blake2b(repr(text).encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") ^ (int(seed) * 0x9E3779B97F4A7C15)) % (2**63 - 1)


# --------------------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------------------

def _chi2_icdf(u: torch.Tensor, k: int) -> torch.Tensor:
    """Quantiles of χ²_k at probabilities u (float64; Wilson–Hilferty start, Newton on the CDF)."""
    u = u.double()
    z = torch.special.ndtri(u)
    c = 2.0 / (9.0 * k)
    x = (k * (1.0 - c + z * math.sqrt(c)).clamp_min(0.05) ** 3).clamp_min(1e-6)
    half = k / 2.0
    log_norm = half * math.log(2.0) + math.lgamma(half)
    for _ in range(8):
        cdf = torch.special.gammainc(torch.full_like(x, half), x / 2.0)
        pdf = torch.exp((half - 1.0) * torch.log(x) - x / 2.0 - log_norm)
        x = (x - (cdf - u) / pdf.clamp_min(1e-300)).clamp_min(x * 0.1)
    return x


def _orthogonal_block(n: int, s: int, k: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """[s, n, k]: for each of n tokens, s draws of N(0, I_k) with orthonormal directions (Haar frames of
    ≤ k vectors) and stratified χ_k radii.  Each draw is marginally exactly N(0, I_k)."""
    dirs = []
    left = s
    while left > 0:
        m = min(left, k)
        g = torch.randn(n, k, m, generator=gen, device=device, dtype=torch.float64)
        q, r = torch.linalg.qr(g)
        sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        dirs.append(q * sign[:, None, :])  # Haar-distributed orthonormal frame [n, k, m]
        left -= m
    d = torch.cat(dirs, -1).permute(2, 0, 1)  # [s, n, k]
    perm = torch.argsort(torch.rand(n, s, generator=gen, device=device), dim=1).double()
    u = (perm + torch.rand(n, s, generator=gen, device=device, dtype=torch.float64)) / s
    u = u.clamp(1e-12, 1 - 1e-12)
    radius = _chi2_icdf(u, k).sqrt().T  # [s, n]
    return (d * radius[..., None]).float()


def noise_lengths(problems: Problems) -> list[int]:
    """Per problem, 1 + the last position that is ever perturbed (0: none) — computed once, on the host."""
    perturbed = (problems.word_index >= 0).cpu()
    pos = torch.arange(perturbed.shape[1])
    return [int((pos[row] + 1).max()) if bool(row.any()) else 0 for row in perturbed]


def draw_noise(problems: Problems, samples: int, gens: Sequence[torch.Generator], orthogonal: bool = True,
               lengths: Sequence[int] | None = None) -> torch.Tensor:
    """Standard normal noise [P, S, T, K], shared by all states of a problem (common random numbers) and
    independent of padding and of the other problems (``lengths``: :func:`noise_lengths`, precomputed so
    that the optimisation loop does not read the device).  Draws s < S//2 and s ≥ S//2 are independent
    halves; with ``orthogonal`` the draws within a half are coupled as in :func:`_orthogonal_block`."""
    p, t, k, _ = problems.shape
    device = problems.x.device
    z = torch.zeros(p, samples, t, k, device=device)
    half = samples // 2
    for i, last in enumerate(lengths if lengths is not None else noise_lengths(problems)):
        if last == 0:
            continue
        if orthogonal:
            z[i, :half, :last] = _orthogonal_block(last, half, k, gens[i], device)
            z[i, half:, :last] = _orthogonal_block(last, samples - half, k, gens[i], device)
        else:
            z[i, :, :last] = torch.randn(samples, last, k, generator=gens[i], device=device)
    return z


# --------------------------------------------------------------------------------------------------
# the optimizer
# --------------------------------------------------------------------------------------------------

@dataclass
class _Ctx:
    """What every pass over the model needs (shapes in the docstring of :func:`optimize_sigma`)."""

    phi_rows: PhiRows
    problems: Problems
    clean: Sequence[torch.Tensor]
    inv_var: Sequence[torch.Tensor]
    norm: torch.Tensor  # [P, L] divisor of the data term (N·K·λ or D·λ)
    names: list[str]
    chunk: int
    by_state: bool = False  # one pass per state, stopping at that state (``phi_rows(..., only=[l])``)


def _data_rows(ctx: _Ctx, sig_tok: torch.Tensor, z: torch.Tensor, rp: torch.Tensor, rl: torch.Tensor,
               step: int | str) -> torch.Tensor:
    """Data term of Eq. 7 for rows (problem rp, state rl) with token noise scales sig_tok [B, T] and
    standard noise z [B, T, K].  Returns [B] (differentiable)."""
    n_prob = ctx.problems.x.shape[0]
    x_tilde = ctx.problems.x[rp] + sig_tok[..., None] * z
    states = None if ctx.by_state else ctx.phi_rows(x_tilde, rp)
    row_data = torch.zeros(len(rp), device=x_tilde.device)
    for l_idx in torch.unique(rl).tolist():
        sel = torch.nonzero(rl == l_idx).squeeze(1)
        p_sel = rp[sel]
        if states is None:  # a pass that stops at this state: the later layers are never run
            state = ctx.phi_rows(x_tilde[sel], p_sel, only=[l_idx])[0]
        else:
            state = states[l_idx][sel]
        diff = state.float() - ctx.clean[l_idx][p_sel].float()
        iv = ctx.inv_var[l_idx]
        iv = iv[p_sel] if iv.shape[0] == n_prob and n_prob > 1 else iv
        val = (diff.pow(2) * iv).sum(-1) / ctx.norm[p_sel, l_idx]
        row_data = row_data.index_put((sel,), val)
    if not torch.isfinite(row_data).all():
        bad = torch.nonzero(~torch.isfinite(row_data)).squeeze(1)[0]
        raise NonFiniteError(
            f"non-finite hidden state or loss at step {step} for problem {int(rp[bad])}, "
            f"{ctx.names[int(rl[bad])]} (σ up to {float(sig_tok.detach().max()):.3g}); "
            "lower `scale` or check the model for overflow")
    return row_data


def _common_data(ctx: _Ctx, configs: torch.Tensor, cfg_p: torch.Tensor, cfg_l: torch.Tensor, z: torch.Tensor
                 ) -> torch.Tensor:
    """Data term of each σ configuration on the SAME draws.

    configs: [C, W] σ per word; cfg_p, cfg_l: [C] problem and state; z: [P, M, T, K] common draws.
    Returns [C, M] per-draw data values (no gradient)."""
    m = z.shape[1]
    word_index = ctx.problems.word_index.clamp_min(0)
    tok_mask = (ctx.problems.word_index >= 0).float()
    row_c = torch.arange(len(configs), device=configs.device).repeat_interleave(m)
    row_m = torch.arange(m, device=configs.device).repeat(len(configs))
    out = torch.zeros(len(row_c), device=configs.device)
    with torch.no_grad():
        for start in range(0, len(row_c), ctx.chunk):
            c, mm = row_c[start:start + ctx.chunk], row_m[start:start + ctx.chunk]
            rp = cfg_p[c]
            sig_tok = configs[c].gather(1, word_index[rp]) * tok_mask[rp]
            out[start:start + ctx.chunk] = _data_rows(ctx, sig_tok, z[rp, mm], rp, cfg_l[c], "check")
    return out.view(len(configs), m)


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
    """Minimise Eq. 7 on [σ_min, scale] for every (problem, state) at once.

    clean_states: per state l, [P, D_l] (flattened, zero at padding) = phi of the clean input.
    element_counts: [P, L] number of real elements of each state (D; used by
    ``normalization="element_mean"``).  inv_var: per state l, 1/σ_s² broadcastable to [P, D_l].
    """
    cfg = config
    x = problems.x
    device = x.device
    n_prob, _, k_dim, n_words = problems.shape
    n_states = len(clean_states)
    if n_states == 0:
        raise ValueError("no hidden state to explain: phi returned an empty sequence")
    names = list(state_names) if state_names is not None else [f"state {i}" for i in range(n_states)]
    samples = cfg.samples
    half = samples // 2
    n_half = (half, samples - half)

    word_mask = problems.pieces > 0  # [P, W]
    wmask = word_mask[:, None, :].expand(n_prob, n_states, n_words)
    n_tok = problems.pieces.sum(1).clamp_min(1).to(torch.float32)  # [P]
    gain = (problems.pieces.to(torch.float32) / n_tok[:, None])[:, None, :].expand(n_prob, n_states, n_words)
    log_gain = torch.log(gain.clamp_min(1e-30))
    prior = problems.prior_scale.to(device=device, dtype=torch.float32)[:, None, None]
    lo = torch.log(prior * cfg.min_sigma).expand(n_prob, n_states, n_words)
    hi_val = prior * cfg.scale_factor if cfg.scale is None else torch.full_like(prior, float(cfg.scale))
    hi = torch.log(hi_val).expand(n_prob, n_states, n_words).contiguous()
    if bool((hi <= lo).any()):
        raise ValueError(f"scale={cfg.scale!r} is below the lower bound min_sigma × prior scale; raise scale")
    u = torch.minimum(torch.log(prior * cfg.init).expand(n_prob, n_states, n_words), hi - 1.0).clone()
    u = torch.maximum(u, lo)

    if cfg.normalization == "eq7":
        norm = (n_tok * k_dim)[:, None].expand(n_prob, n_states) * cfg.rate
    else:
        norm = element_counts.to(device=device, dtype=torch.float32) * cfg.rate
    chunk = n_prob * n_states * samples if cfg.max_batch is None else int(cfg.max_batch)
    by_state = cfg.depth_limited
    if by_state is None:
        by_state = device.type == "cpu" and n_states > 1
    if by_state and not getattr(phi_rows, "supports_only", False):
        if cfg.depth_limited:
            raise ValueError("depth_limited=True needs a phi_rows that accepts only=[state] "
                             "(mi_explain.adapters.HFStates does); this one does not")
        by_state = False
    ctx = _Ctx(phi_rows, problems, clean_states, inv_var, norm.contiguous(), names, max(1, chunk), by_state)

    zeros = torch.zeros(n_prob, n_states, n_words, device=device)
    slope = torch.full_like(zeros, 2.0)  # ŝ = d log G / du
    prev_u, prev_lg = zeros.clone(), zeros.clone()
    has_prev = torch.zeros_like(zeros, dtype=torch.bool)
    prev_dir = zeros.clone()
    step_cap = torch.full_like(zeros, cfg.max_step)
    # averaging window
    n_avg, u_ref = zeros.clone(), zeros.clone()
    s_a, s_var, s_ka, s_k, s_k2, s_w, s_wa, s_w2v = (zeros.clone() for _ in range(8))
    s_d, s_d2, s_l, s_dl, s_l2 = (zeros.clone() for _ in range(5))  # regression of log a_k on u_k - u_ref
    s_used = torch.full_like(zeros, 2.0)  # the slope behind each word's standard error
    center = u.clone()  # the estimate; inside a window the iterate is dithered around it by ±dither
    recent = u[..., None].repeat(1, 1, 1, 4)  # the last four iterates (movement test)
    push_hi = torch.zeros_like(zeros, dtype=torch.long)
    n_restart = torch.zeros_like(push_hi)
    push_lo = torch.zeros_like(push_hi)
    stderr = torch.full_like(zeros, float("inf"))
    drift = torch.full_like(zeros, float("inf"))
    fixed = torch.zeros_like(zeros, dtype=torch.bool)  # moved to the bound by the basin check
    conv = ~wmask.clone()
    active = torch.ones(n_prob, n_states, dtype=torch.bool, device=device)
    rounds = torch.zeros(n_prob, n_states, dtype=torch.long, device=device)
    done = torch.zeros_like(active)  # passed the basin check (or it is off)

    gens = []
    for s in problems.seeds or [cfg.seed] * n_prob:
        gen = torch.Generator(device=device)  # on the device: no host→device copy inside the loop
        gen.manual_seed(int(s))
        gens.append(gen)
    check_gens = []
    for s in problems.seeds or [cfg.seed] * n_prob:
        gen = torch.Generator(device=device)
        gen.manual_seed((int(s) + 0x5DEECE66D) % (2**63 - 1))
        check_gens.append(gen)
    lengths = noise_lengths(problems)
    z_check = draw_noise(problems, cfg.check_samples, check_gens, cfg.orthogonal, lengths)  # [P, M, T, K]
    # data term of each state's final σ on z_check, per draw (filled by the basin check; NaN: not yet known)
    final_data = torch.full((n_prob, n_states, cfg.check_samples), float("nan"), device=device)

    word_index = problems.word_index.clamp_min(0)
    tok_mask = (problems.word_index >= 0).to(torch.float32)  # [P, T]
    history: list[float] = []
    bar = tqdm(total=cfg.steps, desc="σ optimization", disable=(None if progress is None else not progress),
               leave=False, unit="step")
    step = 0
    try:
        for step in range(1, cfg.steps + 1):
            act = torch.nonzero(active)  # [A, 2]
            row_p = act[:, 0].repeat_interleave(samples)
            row_l = act[:, 1].repeat_interleave(samples)
            row_s = torch.arange(samples, device=device).repeat(len(act))
            row_h = (row_s >= half).long()
            z = draw_noise(problems, samples, gens, cfg.orthogonal, lengths)  # [P, S, T, K], common to all states
            # two copies of u: their gradients from the two independent halves give the noise level
            u_var = u.detach()[:, :, None, :].repeat(1, 1, 2, 1).requires_grad_(True)
            for start in range(0, len(row_p), ctx.chunk):
                sl = slice(start, start + ctx.chunk)
                rp, rl, rs, rh = row_p[sl], row_l[sl], row_s[sl], row_h[sl]
                sig_tok = torch.exp(u_var)[rp, rl, rh].gather(1, word_index[rp]) * tok_mask[rp]  # [b, T]
                row_data = _data_rows(ctx, sig_tok, z[rp, rs], rp, rl, step)
                (row_data.sum() / samples).backward()
            g2 = u_var.grad.detach()  # [P, L, 2, W]: half h's contribution to ∂D/∂u

            with torch.no_grad():
                upd = active[:, :, None] & wmask & ~fixed
                g_half = [g2[:, :, h] * samples / n_half[h] for h in (0, 1)]  # each half's own estimate
                grad = g2.sum(2)
                var_g = (g_half[0] - g_half[1]).pow(2) * (n_half[0] * n_half[1]) / samples**2
                pos = grad > 0
                lg = torch.log(grad.clamp_min(1e-30))
                searching = n_avg == 0
                # secant slope of log G, learnt while searching (large, reliable moves only)
                du = u - prev_u
                ok = upd & searching & has_prev & pos & (du.abs() > 0.3)
                s_new = (lg - prev_lg) / torch.where(ok, du, torch.ones_like(du))
                slope = torch.where(ok, (0.5 * slope + 0.5 * s_new).clamp(0.25, 4.0), slope)
                # Newton proposal on log G (f'(u) = G - m/N): always a descent direction for f
                newton = torch.where(pos, (log_gain - lg) / slope, torch.full_like(u, cfg.max_step))
                direction = torch.sign(newton)
                flipped = upd & searching & (direction * prev_dir < 0)
                step_cap = torch.where(flipped, (step_cap * 0.5).clamp_min(0.05), step_cap)
                search_u = u + torch.maximum(torch.minimum(newton, step_cap), -step_cap)
                # near the root: the proposal is small, or the search has bracketed it (steps halved)
                start = upd & searching & pos & ((newton.abs() < cfg.switch) | (step_cap < cfg.switch))
                # averaging window: a_k = G_k·exp(-ŝ(u_k - u_ref)) is linear in G
                u_ref = torch.where(start, u, u_ref)
                inwin = upd & ((n_avg > 0) | start)
                kk = n_avg
                w_fac = torch.exp(-slope * (u - u_ref))
                a_k = grad * w_fac
                v_k = var_g * w_fac.pow(2)
                s_a = torch.where(inwin, s_a + a_k, s_a)
                s_var = torch.where(inwin, s_var + v_k, s_var)
                # the estimate uses weights growing linearly in the window: the first steps, taken while
                # the iterate still moved towards the root, are forgotten at rate 1/k² (no bias from a
                # slope model that is only approximately right).  Measured on MiniLM: flat weights after a
                # short ramp need fewer draws on most seeds but never forget an early heavy-tailed draw
                # (2 of 4 seeds then hit the step cap); linear weights converged on all of them.
                wk = kk + 1
                s_w = torch.where(inwin, s_w + wk, s_w)
                s_wa = torch.where(inwin, s_wa + wk * a_k, s_wa)
                s_w2v = torch.where(inwin, s_w2v + wk * wk * v_k, s_w2v)
                d_k = u - u_ref
                l_k = torch.log(a_k.clamp_min(1e-30))
                reg_ok = inwin & pos
                s_d = torch.where(reg_ok, s_d + d_k, s_d)
                s_d2 = torch.where(reg_ok, s_d2 + d_k * d_k, s_d2)
                s_l = torch.where(reg_ok, s_l + l_k, s_l)
                s_dl = torch.where(reg_ok, s_dl + d_k * l_k, s_dl)
                s_l2 = torch.where(reg_ok, s_l2 + l_k * l_k, s_l2)
                s_ka = torch.where(inwin, s_ka + kk * a_k, s_ka)
                s_k = torch.where(inwin, s_k + kk, s_k)
                s_k2 = torch.where(inwin, s_k2 + kk * kk, s_k2)
                n_avg = torch.where(inwin, n_avg + 1, n_avg)
                nn = n_avg.clamp_min(1)
                a_bar = s_a / nn  # unweighted (trend test)
                a_est = s_wa / s_w.clamp_min(1e-30)  # weighted (the estimate)
                a_ok = a_est > 0
                avg_u = torch.where(a_ok, u_ref + (log_gain - torch.log(a_est.clamp_min(1e-30))) / slope,
                                    u + cfg.max_step)
                target = torch.where(n_avg > 0, avg_u, search_u)
                u_new = torch.minimum(torch.maximum(center + (target - center).clamp(-cfg.max_step, cfg.max_step), lo),
                                      hi)
                # trend of the window's estimates: restart the window when they still move
                sxx = (s_k2 - s_k.pow(2) / nn).clamp_min(1e-12)
                beta = (s_ka - s_k * a_bar) / sxx
                se_beta = (s_var / nn / sxx).sqrt()
                to_u = (nn - 1) / (slope * a_bar.abs().clamp_min(1e-30))
                trend = beta * to_u
                trend_se = se_beta * to_u
                restart = inwin & (n_avg >= 8) & (trend.abs() > 4 * trend_se) & (trend.abs() > 2 * cfg.tol)
                # the slope actually seen in the window (log a_k against u_k; the iterate is dithered so
                # that it is identified): an error in G maps to an error in log σ divided by the slope, so
                # the standard error of log σ uses the slope, combined smoothly (precision-weighted) from
                # the one learnt while searching (prior SD ``_SLOPE_PRIOR_SD``) and the one measured here
                n_r = n_avg.clamp_min(2)
                var_d = (s_d2 / n_r - (s_d / n_r).pow(2)).clamp_min(0)
                cov_dl = s_dl / n_r - (s_d / n_r) * (s_l / n_r)
                var_l = (s_l2 / n_r - (s_l / n_r).pow(2)).clamp_min(0)
                b = cov_dl / var_d.clamp_min(1e-12)
                res_var = (var_l - b * cov_dl).clamp_min(0)
                b_var = res_var / ((n_r - 2).clamp_min(1) * var_d.clamp_min(1e-12))
                w_seen = torch.where((var_d > 1e-6) & (n_avg >= 3), 1.0 / b_var.clamp_min(1e-6), 0.0)
                w_prior = 1.0 / _SLOPE_PRIOR_SD**2
                s_low = ((w_prior * slope + w_seen * (slope + b)) / (w_prior + w_seen)).clamp(0.1, 4.0)
                s_used = torch.where(upd, s_low, s_used)
                se_u = s_w2v.sqrt() / s_w.clamp_min(1e-30) / (s_low * a_est.abs().clamp_min(1e-30))
                stderr = torch.where(upd, torch.where((n_avg >= cfg.min_average) & a_ok, se_u,
                                                      torch.full_like(se_u, float("inf"))), stderr)
                # bookkeeping for the search
                prev_u = torch.where(upd & pos, u, prev_u)
                prev_lg = torch.where(upd & pos, lg, prev_lg)
                has_prev = has_prev | (upd & pos)
                prev_dir = torch.where(upd, direction, prev_dir)
                push_hi = torch.where(upd, torch.where((center >= hi - 1e-6) & (target >= hi - 1e-6), push_hi + 1, 0),
                                      push_hi)
                push_lo = torch.where(upd, torch.where((center <= lo + 1e-6) & (target <= lo + 1e-6), push_lo + 1, 0),
                                      push_lo)
                center = torch.where(upd, u_new, center)
                dith = torch.where((n_avg > 0) & (step % 2 == 0), cfg.dither, -cfg.dither)
                dith = torch.where(n_avg > 0, dith, torch.zeros_like(dith))
                u = torch.where(upd, torch.minimum(torch.maximum(center + dith, lo), hi), u)
                recent = torch.where(upd[..., None], torch.cat([recent[..., 1:], center[..., None]], -1), recent)
                drift = torch.where(upd, (recent[..., -1] - recent[..., 0]).abs(), drift)
                # a window that still moves, or whose estimate left it, starts again from the iterate
                left = inwin & ((avg_u - u_ref).abs() > 3.0)
                reset = restart | left
                n_restart = n_restart + reset.long()
                for t in (n_avg, s_a, s_var, s_ka, s_k, s_k2, s_w, s_wa, s_w2v, s_d, s_d2, s_l, s_dl, s_l2):
                    t.masked_fill_(reset, 0.0)
                u = torch.where(reset, center, u)
                step_cap = torch.where(reset, torch.full_like(step_cap, cfg.max_step), step_cap)
                interior = (stderr < cfg.tol) & (drift < cfg.tol / 2) & (n_avg >= cfg.min_average)
                at_edge = (push_hi >= 3) | (push_lo >= 3)
                conv = torch.where(upd, interior | at_edge, conv) | ~wmask | fixed
                finished = active & conv.all(-1)
                if bool(finished.any()):
                    window = (n_avg, s_a, s_var, s_ka, s_k, s_k2, s_w, s_wa, s_w2v, s_d, s_d2, s_l, s_dl, s_l2)
                    _finish_states(ctx, finished, cfg, center, hi, gain, fixed, conv, rounds, done, z_check,
                                   window, push_hi, step_cap, wmask, final_data)
                    u = torch.where(finished[..., None], center, u)
                active = active & ~done
                frac = float(conv[wmask].float().mean()) if bool(wmask.any()) else 1.0
                history.append(frac)
            bar.update(1)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("step %d: %.0f%% converged, active states per layer %s, max stderr per layer %s, "
                             "words still searching per layer %s", step, 100 * frac, active.sum(0).tolist(),
                             [round(v, 3) for v in torch.where(wmask, stderr, 0).amax((0, 2)).tolist()],
                             (wmask & (n_avg == 0) & ~fixed).sum((0, 2)).tolist())
            bar.set_postfix(converged=f"{frac:.0%}")
            if not bool(active.any()):
                break
    finally:
        bar.close()

    with torch.no_grad():
        u = center
        sigma = torch.exp(u) * wmask
        todo = torch.nonzero(torch.isnan(final_data[:, :, 0]))  # states whose final σ was not evaluated yet
        if len(todo):
            final_data[todo[:, 0], todo[:, 1]] = _common_data(ctx, torch.exp(u[todo[:, 0], todo[:, 1]]),
                                                              todo[:, 0], todo[:, 1], z_check)
        data_mean = final_data.mean(-1)
        data_se = final_data.std(-1) / math.sqrt(final_data.shape[-1])
        objective = -(gain * u * wmask).sum(-1) + data_mean
        at_bound = (u >= hi - 1e-6) & wmask
        converged = (conv | ~wmask).all(-1) & done
    return SigmaResult(sigma=sigma, at_bound=at_bound, stderr=torch.where(wmask & ~at_bound, stderr, 0.0),
                       drift=torch.where(wmask & ~at_bound & torch.isfinite(drift), drift, 0.0),
                       converged=converged, objective=objective, objective_se=data_se, data=data_mean,
                       steps=step, rounds=rounds, upper=torch.exp(hi[:, :, 0]), history=history,
                       restarts=n_restart, slope=s_used)


def _finish_states(ctx: _Ctx, finished: torch.Tensor, cfg: EstimatorConfig, u: torch.Tensor, hi: torch.Tensor,
                   gain: torch.Tensor, fixed: torch.Tensor, conv: torch.Tensor, rounds: torch.Tensor,
                   done: torch.Tensor, z_check: torch.Tensor, window: tuple, push_hi: torch.Tensor,
                   step_cap: torch.Tensor, wmask: torch.Tensor, final_data: torch.Tensor) -> None:
    """Basin check for the states whose words have all converged (in place).

    For every word at an interior minimum, Eq. 7 with the word moved to the bound is compared with Eq. 7
    as it is, on the same draws.  Words for which the bound is lower move there for good; the other
    words of that state are optimised again (their optimum changes).  A state with no move, or that
    used ``max_rounds`` rounds, is done; the data term of its final σ on the common draws is kept in
    ``final_data`` [P, L, M] so that the reported objective does not evaluate it again."""
    if not cfg.basin_check:
        done |= finished
        return
    fp = torch.nonzero(finished)
    cand = (u < hi - 1e-6) & wmask & ~fixed  # [P, L, W]
    configs, cp, cl, owner = [], [], [], []
    for p, l_idx in fp.tolist():
        base = torch.exp(u[p, l_idx])
        configs.append(base)
        cp.append(p)
        cl.append(l_idx)
        owner.append((p, l_idx, -1))
        for i in torch.nonzero(cand[p, l_idx]).squeeze(1).tolist():
            alt = base.clone()
            alt[i] = torch.exp(hi[p, l_idx, i])
            configs.append(alt)
            cp.append(p)
            cl.append(l_idx)
            owner.append((p, l_idx, i))
    dev = u.device
    cfg_t = torch.stack(configs)
    cp_t, cl_t = torch.tensor(cp, device=dev), torch.tensor(cl, device=dev)
    base_row: dict[tuple[int, int], int] = {}
    for c, (p, l_idx, i) in enumerate(owner):
        if i < 0:
            base_row[(p, l_idx)] = c
    base_of = torch.tensor([base_row[(p, l_idx)] for p, l_idx, _ in owner], device=dev)
    op, ol, oi = (torch.tensor(col, device=dev) for col in zip(*owner))
    is_alt = oi >= 0
    w = oi.clamp_min(0)  # what the bound saves on -log σ (0 for the interior configuration itself)
    entropy_gain = torch.where(is_alt, gain[op, ol, w] * (hi[op, ol, w] - u[op, ol, w]), 0.0)
    m_all = z_check.shape[1]
    m0 = min(cfg.check_screen, m_all)
    per_draw = torch.full((len(configs), m_all), float("nan"), device=dev)  # NaN: screened out
    per_draw[:, :m0] = _common_data(ctx, cfg_t, cp_t, cl_t, z_check[:, :m0])
    # screening: the bound costs more data term than it saves on every draw and on average (4 SE)
    excess = per_draw[:, :m0] - per_draw[base_of, :m0] - entropy_gain[:, None]
    excess_se = excess.std(1) / math.sqrt(m0)
    keep = ~(is_alt & (excess.amin(1) > 0) & (excess.mean(1) > 4 * excess_se))
    if m0 < m_all:
        per_draw[keep, m0:] = _common_data(ctx, cfg_t[keep], cp_t[keep], cl_t[keep], z_check[:, m0:])
    delta = per_draw.mean(1) - per_draw[base_of].mean(1) - entropy_gain  # < 0: the bound is lower
    move = (keep & is_alt & (delta < 0)).tolist()
    moved = torch.zeros_like(fixed)
    for (p, l_idx, i), mv in zip(owner, move):
        if mv:
            moved[p, l_idx, i] = True
    for p, l_idx in fp.tolist():
        rounds[p, l_idx] += 1
        if bool(moved[p, l_idx].any()) and int(rounds[p, l_idx]) < cfg.max_rounds:
            mv = moved[p, l_idx]
            u[p, l_idx] = torch.where(mv, hi[p, l_idx], u[p, l_idx])
            fixed[p, l_idx] |= mv
            others = wmask[p, l_idx] & ~fixed[p, l_idx] & (u[p, l_idx] < hi[p, l_idx] - 1e-6)
            conv[p, l_idx] = ~others  # optimise the others again
            for t in window:
                t[p, l_idx] = torch.where(others, torch.zeros_like(t[p, l_idx]), t[p, l_idx])
            step_cap[p, l_idx] = cfg.max_step
            push_hi[p, l_idx] = torch.where(others, 0, push_hi[p, l_idx])
        else:
            if bool(moved[p, l_idx].any()):
                mv = moved[p, l_idx]
                u[p, l_idx] = torch.where(mv, hi[p, l_idx], u[p, l_idx])
                fixed[p, l_idx] |= mv
            else:  # σ is final and its data term on the common draws is known
                final_data[p, l_idx] = per_draw[base_row[(p, l_idx)]]
            done[p, l_idx] = True


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
    normalization: str = "eq7",
) -> torch.Tensor:
    """Eq. 7 (per token, as optimised) at a given σ [P, L, W] on FIXED standard-normal draws ``noise``
    [M, T, K].  The same ``noise`` is used for every problem and state, so two σ maps can be compared
    without Monte-Carlo error in the comparison.  Returns [P, L]."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    n_prob, n_states, _ = sigma.shape
    k_dim = problems.x.shape[-1]
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
                    if getattr(phi_rows, "supports_only", False):  # the pass stops at this state
                        st = phi_rows(xt, rows, only=[l_idx])[0].float()
                    else:
                        st = phi_rows(xt, rows)[l_idx].float()
                    diff = st - clean_states[l_idx][p][None].float()
                    iv = inv_var[l_idx]
                    iv = iv[p] if iv.shape[0] == n_prob and n_prob > 1 else iv
                    total += float(((diff.pow(2) * iv).sum(-1)).sum())
                denom = float(n_tok[p]) * k_dim if normalization == "eq7" else float(element_counts[p, l_idx])
                data = total / (m * rate * denom)
                valid = problems.pieces[p] > 0
                logterm = -(gain[p][valid] * torch.log(sigma[p, l_idx][valid])).sum()
                out[p, l_idx] = float(logterm) + data
    return out
