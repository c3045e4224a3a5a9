"""What every method shares: the :class:`Batch` it sees, the :class:`Attribution` it returns, the
:class:`Method` base class, and for gradient methods the read-outs, reductions and word aggregation.

The driver (:mod:`mi_explain.driver`) builds a :class:`Batch` for P texts — from a ``transformers``
model or from any ``phi`` — and calls ``method.attribute(batch)``, then ``method.result(...)`` per text.
A batch holds the clean word embeddings ``x`` [P, T, K], ``word_index`` [P, T] (the map column of each
token, -1 for special tokens and padding, which are never attributed), ``pieces`` [P, W] (tokens per
word), the state function ``fn(x̃ [B, T, K], rows [B]) → [state_l [B, D_l] for each of the L explained
states]`` (``rows``: which text each row of x̃ belongs to; padding positions of a state are zero) and
callbacks for the clean states and for reference states (σ_s).  A method returns one value per (text,
state, word): [P, L, W].

Gradient methods explain a scalar.  A hidden state that is a whole layer (``target="tokens"``: all
positions of the layer, concatenated, as in the paper's layer analysis) is treated as one vector s of D
units, and ``reduction`` says how the method's per-unit scores become one score per word:

* ``"vector"`` (default): the state as a whole.  The method is applied to every unit s_d (the saliency
  of each neuron, as the methods define it) and a word's score is the Euclidean norm over the D units of
  its per-unit scores — for the gradient, mean_k ‖∂s/∂x_{i,k}‖₂ (the size of the Jacobian block of the
  word's dimension k); for integrated gradients and LRP, ‖(a_{d,i})_d‖₂ over the units' word attributions.
  It is estimated without D backward passes from ``projections`` random ±1 read-outs S_r = v_rᵀs:
  E_v[(v_rᵀ a)²] = ‖a‖², so score = sqrt(mean_r score_r²) (unbiased for the squared norm).  It keeps the
  paper's Fig. 1 property of gradients (a layer ×c has maps ×c) and, unlike a sum, cannot cancel: the
  units of a LayerNorm output sum to a constant (Σ_d s_d and ‖s‖ hardly depend on the input at all), and
  tanh/LSTM units have both signs.
* ``"sum"``: S = Σ_d s_d, the layer read out as one summed neuron (|score| per word).
* ``"norm"``: S = ‖s‖₂, the length of the state (|score| per word).
* a callable ``[B, D] → [B]``.

For a single-vector target (``"cls"``, an int position, a decoder step) the same reduction runs over that
vector's units; with D = 1 all reductions agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..results import Result, ResultInfo, SaliencyExplanation

__all__ = ["Attribution", "Batch", "CleanStates", "Method", "REDUCTIONS", "Readout", "ResultInfo", "SaliencyMethod",
           "StateFn", "accumulate", "check_signed", "combine", "resolve_reduction", "words_mean", "words_sum"]

#: fn(x̃ [B, T, K], rows [B]) → one flattened state [B, D_l] per explained state.
StateFn = Callable[[torch.Tensor, torch.Tensor], Sequence[torch.Tensor]]
Reduction = Callable[[torch.Tensor], torch.Tensor]


def _sum(s: torch.Tensor) -> torch.Tensor:
    return s.sum(-1)


def _norm(s: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(s, dim=-1)


REDUCTIONS: dict[str, Reduction | None] = {"vector": None, "sum": _sum, "norm": _norm}


@dataclass(frozen=True)
class Readout:
    """How a state becomes the scalar(s) a gradient method explains: ``reduce`` ([B, D] → [B]) or, for
    ``"vector"`` (reduce None), ``projections`` random ±1 read-outs."""

    name: str
    reduce: Reduction | None
    projections: int = 1


def resolve_reduction(reduction: str | Reduction, projections: int = 16) -> Readout:
    if callable(reduction):
        return Readout(getattr(reduction, "__name__", "callable"), reduction, 1)
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}: use one of {sorted(REDUCTIONS)} or a callable [B, D] → [B]")
    if reduction == "vector":
        if int(projections) < 1:
            raise ValueError(f"projections must be ≥ 1, got {projections}")
        return Readout("vector", None, int(projections))
    return Readout(str(reduction), REDUCTIONS[reduction], 1)


@dataclass
class CleanStates:
    """The explained states of the clean texts: ``states`` [P, D_l] per state (flattened, zero at padding),
    ``counts`` [P, L] (real elements of each state: the D of Eq. 7's mean) and ``shapes`` (each state's
    unflattened shape without the batch dimension, for per-element σ_s)."""

    states: list[torch.Tensor]
    counts: torch.Tensor
    shapes: list[torch.Size]


@dataclass
class Batch:
    """P texts × L states to attribute (see the module docstring).

    clean(): the clean states (computed once, cached).  reference_sigma(n, seed) → σ_s [P, L], the spread of
    each state over ``n`` reference inputs per text (random vocabulary tokens for a model, Gaussian draws
    for a function: ``reference_kind``; ``n_reference`` by default).  prior_scale [P]: std of the
    embeddings (embedding units).  seeds [P]: one per text.
    """

    fn: StateFn
    x: torch.Tensor
    word_index: torch.Tensor
    n_words: int
    n_states: int
    max_batch: int | None = None
    seed: int = 0
    progress: bool | None = None
    pieces: torch.Tensor | None = None
    prior_scale: torch.Tensor | None = None
    labels: list[str] = field(default_factory=list)
    target: str = "tokens"
    clean_fn: Callable[[], CleanStates] | None = None
    reference_sigma: Callable[[int, int], torch.Tensor] | None = None
    #: how the reference inputs of ``reference_sigma`` are made, and how many per text by default.
    reference_kind: str = "reference"
    n_reference: int = 32
    #: the texts (or any hashable description of each problem): each gets its own noise seed
    texts: list | None = None
    _vectors: dict = field(default_factory=dict, repr=False)
    _clean: CleanStates | None = field(default=None, repr=False)

    def clean(self) -> CleanStates:
        """The clean states (cached)."""
        if self._clean is None:
            if self.clean_fn is None:
                raise RuntimeError("this batch has no clean-state function")
            self._clean = self.clean_fn()
        return self._clean

    @property
    def seeds(self) -> list[int]:
        """One noise seed per text, derived from ``seed`` and the text itself, so that a text's result does
        not depend on what shares its batch (``seed`` itself when the batch has no texts)."""
        if self.texts is None:
            return [int(self.seed)] * int(self.x.shape[0])
        from ..estimator import text_seed

        return [text_seed(self.seed, t) for t in self.texts]

    def n_rows(self, readout: Readout | None = None) -> int:
        return self.x.shape[0] * self.n_states * (readout.projections if readout else 1)

    def chunks(self, readout: Readout | None = None, max_batch: int | None = None):
        """Rows in chunks of ``max_batch``: row r = ((p·L + l)·R + j) for text p, state l, read-out j.
        Yields (rows, texts, states, read-outs) index tensors."""
        n_proj = readout.projections if readout else 1
        n = self.n_rows(readout)
        step = max_batch or self.default_chunk()
        for start in range(0, n, step):
            r = torch.arange(start, min(n, start + step), device=self.x.device)
            yield r, r // (self.n_states * n_proj), (r // n_proj) % self.n_states, r % n_proj

    def default_chunk(self) -> int:
        """Rows per forward/backward: ``max_batch``, or about 32k tokens (as the information method)."""
        return int(self.max_batch or max(1, 32768 // max(1, self.x.shape[1])))

    def vectors(self, state: int, dim: int, n: int, device: torch.device) -> torch.Tensor:
        """The ``n`` fixed random ±1 read-out vectors [n, dim] for a state of ``dim`` units (seeded, cached).
        States of the same width share them (common random numbers: maps of equal-width layers differ only
        where the layers do), and they are drawn unit by unit, so the vectors for a shorter state are a prefix
        of those for a longer one: a text's map does not depend on the padding of its batch."""
        key = (dim, n)
        if key not in self._vectors:
            gen = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + 17)
            draws = torch.randint(0, 2, (dim, n), generator=gen)  # unit-major: prefix-stable in dim
            self._vectors[key] = (draws * 2 - 1).float().T.contiguous()
        return self._vectors[key].to(device)

    def readout_for(self, readout: Readout) -> Readout:
        """The read-out to run: a ``"vector"`` read-out of one-unit states (``target="prediction"``: the logit of
        the predicted class) is exact with ONE projection — every ±1 projection of one unit has the same
        square — so the R projections collapse to one (the same scores, R times fewer passes)."""
        if readout.reduce is None and readout.projections > 1 and self.target == "prediction":
            return Readout(readout.name, None, 1)
        return readout

    def scalar(self, readout: Readout) -> Callable[..., torch.Tensor]:
        """forward(x̃ [B, T, K], texts [B], states [B], read-outs [B]) → the scalar of row b's own state [B]."""

        def forward(xt: torch.Tensor, texts: torch.Tensor, which: torch.Tensor, proj: torch.Tensor) -> torch.Tensor:
            states = self.fn(xt, texts)
            cols = []
            for l_idx, s in enumerate(states):
                s = s.float()
                if readout.reduce is not None:
                    cols.append(readout.reduce(s))
                else:
                    v = self.vectors(l_idx, s.shape[1], readout.projections, s.device)
                    cols.append((s * v[proj.to(s.device)]).sum(-1))
            red = torch.stack(cols, 1)  # [B, L]
            return red.gather(1, which[:, None].to(red.device)).squeeze(1)

        return forward

    def relevance_seeds(self, readout: Readout, states: Sequence[torch.Tensor], which: torch.Tensor,
              proj: torch.Tensor) -> list[torch.Tensor]:
        """∂S/∂s for row b's own state (zero for the other states): the relevance seeds of LRP."""
        out = []
        for l_idx, s in enumerate(states):
            sd = s.detach().float()
            if readout.reduce is None:
                g = self.vectors(l_idx, s.shape[1], readout.projections, s.device)[proj.to(s.device)]
            else:
                sd = sd.requires_grad_(True)
                with torch.enable_grad():
                    (g,) = torch.autograd.grad(readout.reduce(sd).sum(), sd)
            out.append((g * (which.to(g.device) == l_idx).to(g.dtype)[:, None]).to(s.dtype))
        return out


def combine(squares: torch.Tensor, readout: Readout, p: int, n_states: int, signed: bool = False) -> torch.Tensor:
    """Per-(text, state) sums of squared per-read-out scores [P·L, …] → sqrt(mean) [P, L, …] (R = 1: |score|).
    ``signed``: the input holds the signed scores themselves (one scalar read-out), returned as they are."""
    if signed:
        return squares.view(p, n_states, *squares.shape[1:])
    return (squares / readout.projections).sqrt().view(p, n_states, *squares.shape[1:])


def check_signed(signed: bool, readout: Readout | None, method: str) -> bool:
    """Validate the ``signed`` option of an attribution method: a signed score (the word's share of S, with
    its sign: positive = raises S) exists only for one scalar read-out S, so ``reduction="vector"`` (random
    ±1 projections, whose signs are arbitrary) is refused.  ``readout`` None: a method without read-outs,
    which checks its states itself."""
    if not isinstance(signed, bool):
        raise TypeError(f"signed must be True or False, got {signed!r}")
    if signed and readout is not None and readout.reduce is None:
        raise ValueError(f"{method}: signed=True needs a scalar read-out of the state (reduction='sum', 'norm' or "
                         "a callable); with reduction='vector' the random projections make the sign arbitrary. "
                         "For a one-unit state such as target='prediction', reduction='sum' is the logit itself")
    return signed


def accumulate(store: torch.Tensor, pl: torch.Tensor, w: torch.Tensor, signed: bool) -> None:
    """Add the per-read-out word scores ``w`` [B, W] of rows ``pl`` to ``store``: squared (for
    :func:`combine`'s root mean square), or as they are when ``signed``."""
    store.index_add_(0, pl, w if signed else w ** 2)


def words_mean(tok: torch.Tensor, word_index: torch.Tensor, n_words: int) -> torch.Tensor:
    """tok [P, L, T] → [P, L, W]: mean over each word's tokens (words without tokens: 0)."""
    p, l, _ = tok.shape
    total = words_sum(tok, word_index, n_words)
    idx = word_index.clamp(min=0)
    counts = torch.zeros(p, n_words, dtype=tok.dtype, device=tok.device)
    counts.scatter_add_(1, idx, (word_index >= 0).to(tok.dtype))
    return total / counts.clamp(min=1)[:, None]


def words_sum(tok: torch.Tensor, word_index: torch.Tensor, n_words: int) -> torch.Tensor:
    """tok [P, L, T] → [P, L, W]: sum over each word's tokens (special tokens and padding dropped)."""
    p, l, t = tok.shape
    valid = (word_index >= 0).to(tok.dtype)[:, None]
    idx = word_index.clamp(min=0)[:, None].expand(p, l, t)
    out = torch.zeros(p, l, n_words, dtype=tok.dtype, device=tok.device)
    return out.scatter_add_(2, idx, tok * valid)


@dataclass
class Attribution:
    """What a method returns for a batch: ``values`` [P, L, W] (σ for information, a score for baselines)
    and per-(text, state) extras; ``extra``: method-specific tensors with a leading text dimension P."""

    values: torch.Tensor
    objective: torch.Tensor | None = None  # [P, L], method-specific (NaN if none)
    converged: torch.Tensor | None = None  # [P, L] bool
    steps: int = 1
    diagnostics: list[dict] = field(default_factory=list)  # one dict per text
    extra: dict[str, Any] = field(default_factory=dict)


class Method:
    """A method in the registry (:mod:`mi_explain.methods`): ``attribute(batch) → Attribution`` and
    ``result(attribution, p, info) → Result`` for text p.  The constructor's keyword arguments are the
    method's options; ``options()`` returns them for the record."""

    name = "method"
    description = ""

    def options(self) -> dict[str, Any]:
        return {}

    def attribute(self, batch: Batch) -> Attribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self, attr: Attribution, p: int, info: ResultInfo) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


class SaliencyMethod(Method):
    """A baseline: ``attribute(batch) → Attribution`` of scores (higher = more important).  Subclasses set
    ``name``, ``description`` (what the score is) and ``saliency_label`` (colour-bar label)."""

    name = "baseline"
    saliency_label = "saliency"

    def result(self, attr: Attribution, p: int, info: ResultInfo) -> SaliencyExplanation:
        """Text p's :class:`SaliencyExplanation`."""
        nw, nl = len(info.words), len(info.layers)
        obj = attr.objective[p] if attr.objective is not None else torch.full((nl,), float("nan"))
        conv = attr.converged[p] if attr.converged is not None else torch.ones(nl, dtype=torch.bool)
        diag = dict(info.diagnostics)
        if attr.diagnostics:
            diag.update(attr.diagnostics[p])
        prior = info.prior_scale if (math.isfinite(info.prior_scale) and info.prior_scale > 0) else 1.0
        options = {"method": self.name, "saliency": self.description, "saliency_label": self.saliency_label,
                   **self.options(), **info.options}
        return SaliencyExplanation(
            **{**info.info_fields(), "prior_scale": prior, "options": options, "diagnostics": diag},
            scores=attr.values[p, :, :nw].detach().float().cpu(), objective=obj.float().cpu(),
            converged=conv.bool().cpu(), steps=attr.steps, method=self.name,
        )
