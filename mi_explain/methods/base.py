"""What every baseline shares: the state function, reductions, word aggregation, the result type and the
drivers that run a method on a ``transformers`` model or on any ``phi``.

A method sees a :class:`Batch`: clean word embeddings ``x`` [P, T, K] of P texts, ``word_index`` [P, T]
(the map column of each token, -1 for special tokens and padding, which are never attributed) and a
state function ``fn(x̃ [B, T, K], rows [B]) → [state_l [B, D_l] for each of the L explained states]``
(``rows``: which text each row of x̃ belongs to; padding positions of a state are zero).  It returns one
saliency per (text, state, word): [P, L, W].

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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..explanation import Explanation

__all__ = ["Batch", "REDUCTIONS", "Readout", "SaliencyExplanation", "SaliencyMethod", "StateFn", "combine",
           "load_explanation", "resolve_reduction", "words_mean", "words_sum"]

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
class Batch:
    """P texts × L states to attribute (see the module docstring)."""

    fn: StateFn
    x: torch.Tensor
    word_index: torch.Tensor
    n_words: int
    n_states: int
    max_batch: int | None = None
    seed: int = 0
    progress: bool | None = None
    _vectors: dict = field(default_factory=dict, repr=False)

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

    def seeds(self, readout: Readout, states: Sequence[torch.Tensor], which: torch.Tensor,
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


def combine(squares: torch.Tensor, readout: Readout, p: int, n_states: int) -> torch.Tensor:
    """Per-(text, state) sums of squared per-read-out scores [P·L, …] → sqrt(mean) [P, L, …] (R = 1: |score|)."""
    return (squares / readout.projections).sqrt().view(p, n_states, *squares.shape[1:])


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
    """What a method returns: saliency [P, L, W] and per-(text, state) extras."""

    saliency: torch.Tensor
    objective: torch.Tensor | None = None  # [P, L], method-specific (NaN if none)
    converged: torch.Tensor | None = None  # [P, L] bool
    steps: int = 1
    diagnostics: list[dict] = field(default_factory=list)  # one dict per text


class SaliencyMethod:
    """A baseline: ``attribute(batch) → Attribution``.  Subclasses set ``name``, ``description`` (what
    ``.sigma`` holds) and ``saliency_label`` (colour-bar label)."""

    name = "baseline"
    description = ""
    saliency_label = "saliency"

    def options(self) -> dict[str, Any]:
        return {}

    def attribute(self, batch: Batch) -> Attribution:  # pragma: no cover - abstract
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- result type

class SaliencyExplanation(Explanation):
    """An :class:`Explanation` whose ``.sigma`` [n_layers, n_words] holds a baseline's saliency
    (higher = more important — the opposite orientation of σ); ``options["method"]`` names the method and
    ``options["saliency"]`` says what the number is.

    ``entropy``, ``word_information`` and ``information`` are formulas of a Gaussian noise scale σ (Eq. 6
    and log(σ_prior/σ)); a saliency is not a noise scale — it has other units (the state's units per
    embedding unit for gradients, the state's units for integrated gradients and LRP, a fraction for the
    perturbation mask) and the opposite orientation — so they are not defined here and are NaN.
    ``at_bound`` is all False, ``regularization`` NaN (no σ_s is used).  Saved files have the same
    format as any Explanation; :func:`load_explanation` restores this class from ``options["method"]``.
    """

    @property
    def saliency(self) -> torch.Tensor:
        """``[n_layers, n_words]`` the method's saliency (the same tensor as ``.sigma``)."""
        return self.sigma

    @property
    def entropy(self) -> torch.Tensor:
        return torch.full_like(self.sigma, float("nan"))

    @property
    def word_information(self) -> torch.Tensor:
        return torch.full_like(self.sigma, float("nan"))

    def values(self, value: str = "saliency") -> torch.Tensor:
        if value in ("saliency", "sigma"):
            return self.sigma
        raise ValueError(f"{value!r} is not defined for a {self.options.get('method')} saliency map "
                         "(it is a formula of the noise scale σ of the information method); use 'saliency'")

    def plot(self, value: str = "saliency", ax=None, cmap: str | None = None, annotate: bool | None = None,  # noqa: ANN001
             title: str | None = None):
        """Heatmap of the saliency (rows = layers/states, columns = words; darker = more salient)."""
        from mi_explain.plotting import heatmap

        values = self.values(value)
        if annotate is None:
            annotate = self.n_layers <= 12 and self.n_words <= 20
        label = str(self.options.get("saliency_label") or self.options.get("method") or "saliency")
        return heatmap(values.numpy(), self.layers, self.words, ax=ax, cmap=cmap or "GnBu", cbar_label=label,
                       annotate=annotate, separators=self._separators(), title=title, fmt=".2g")

    def to_html(self, value: str = "saliency", full_page: bool = True) -> str:
        """Self-contained HTML: rows = layers/states, word chips shaded by saliency (darker = more salient),
        the value under each word (see :mod:`mi_explain.html`)."""
        from mi_explain.html import explanation_html

        return explanation_html(self, value, full_page=full_page)

    def to_dataframe(self, wide: bool = False):
        df = super().to_dataframe(wide=wide)
        if not wide:
            df["saliency"] = df["sigma"]
        return df


def load_explanation(path) -> Explanation:  # noqa: ANN001
    """Load a saved explanation of any method: a :class:`SaliencyExplanation` for baselines."""
    e = Explanation.load(path)
    if e.options.get("method", "information") != "information":
        return SaliencyExplanation.from_dict(e.to_dict())
    return e


def build_explanation(
    method: SaliencyMethod, attr: Attribution, p: int, *, words: list[str], layers: list[str], tokens: list[str],
    token_to_word: list[int], pieces: list[int], embedding_dim: int, prior_scale: float, text: Any,
    segments: list[int] | None, target: str, options: dict, seconds: float,
) -> SaliencyExplanation:
    nw, nl = len(words), len(layers)
    obj = attr.objective[p] if attr.objective is not None else torch.full((nl,), float("nan"))
    conv = attr.converged[p] if attr.converged is not None else torch.ones(nl, dtype=torch.bool)
    diag = {"seconds": seconds}
    if attr.diagnostics:
        diag.update(attr.diagnostics[p])
    prior = prior_scale if (math.isfinite(prior_scale) and prior_scale > 0) else 1.0
    return SaliencyExplanation(
        words=words, layers=layers, sigma=attr.saliency[p, :, :nw].detach().float().cpu(), tokens=tokens,
        token_to_word=token_to_word, pieces=pieces, embedding_dim=embedding_dim, prior_scale=prior,
        objective=obj.float().cpu(), converged=conv.bool().cpu(), at_bound=torch.zeros(nl, nw, dtype=torch.bool),
        steps=attr.steps, regularization=torch.full((nl,), float("nan")), text=text, segments=segments,
        target=target,
        options={"method": method.name, "saliency": method.description, "saliency_label": method.saliency_label,
                 **method.options(), **options},
        diagnostics=diag,
    )


# ---------------------------------------------------------------------------------------------- drivers

def run_on_model(
    method: SaliencyMethod, model: torch.nn.Module, tokenizer: Any, texts: Sequence, *,
    layers: Any = None, target: str | int = "tokens", granularity: str = "word", seed: int = 0,
    device: Any = None, progress: bool | None = None, max_batch: int | None = None, batch_size: int = 8,
    layer_modules: Any = None, perturb_special: bool = False, truncation: bool = False,
) -> list[SaliencyExplanation]:
    """Run a baseline on a ``transformers`` model: the same inputs, layers and targets as ``explain``."""
    from ..adapters import HFStates, encode, max_model_length
    from ..api import layer_specs
    from ..hooks import find_input_embeddings, frozen

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    emb = find_input_embeddings(model)
    dev = emb.weight.device
    if device is not None and torch.device(device).type != dev.type:
        raise ValueError(f"the model is on {dev} but device={device!r}: move the model with model.to() first")
    specs = layer_specs(model, layers, layer_modules)
    labels = [s.label for s in specs]
    max_length = max_model_length(model, tokenizer)
    prior = float(emb.weight.detach().float().std())
    name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
    out: list[SaliencyExplanation] = []
    with frozen(model):
        for start in range(0, len(texts), int(batch_size)):
            batch_texts = list(texts[start:start + int(batch_size)])
            t0 = time.perf_counter()
            enc = encode(tokenizer, batch_texts, granularity=granularity, perturb_special=perturb_special,
                         max_length=max_length, truncation=truncation)
            ids = enc.input_ids.to(dev)
            with torch.no_grad():
                x = emb(ids).detach().float()
            hf = HFStates(model, specs, enc, target)
            batch = Batch(fn=hf, x=x, word_index=enc.word_index.to(dev), n_words=int(enc.pieces.shape[1]),
                          n_states=len(specs), max_batch=max_batch, seed=seed, progress=progress)
            attr = method.attribute(batch)
            elapsed = (time.perf_counter() - t0) / len(batch_texts)
            options = {"seed": seed, "granularity": granularity, "perturb_special": perturb_special, "model": name,
                       "layer_modules": [s.name for s in specs]}
            for p, item in enumerate(batch_texts):
                nw = len(enc.words[p])
                out.append(build_explanation(
                    method, attr, p, words=enc.words[p], layers=labels, tokens=enc.tokens[p],
                    token_to_word=enc.token_to_word[p], pieces=enc.pieces[p, :nw].tolist(),
                    embedding_dim=int(x.shape[-1]), prior_scale=prior, text=item,
                    segments=enc.segments[p] if isinstance(item, tuple) else None, target=str(target),
                    options=options, seconds=elapsed))
    return out


def _state_list(out: Any) -> tuple[list[torch.Tensor], list[str] | None]:
    if torch.is_tensor(out):
        return [out], None
    if isinstance(out, Mapping):
        return list(out.values()), [str(k) for k in out.keys()]
    if isinstance(out, Sequence) and out and all(torch.is_tensor(v) for v in out):
        return list(out), None
    raise TypeError(f"phi must return a tensor [B, ...], a sequence of tensors or a dict of tensors, got {type(out)}")


def run_on_function(
    method: SaliencyMethod, phi: Callable, x: torch.Tensor, *, words: Sequence[str] | None = None, seed: int = 0,
    max_batch: int | None = None, progress: bool | None = None, prior_scale: float | None = None,
) -> SaliencyExplanation:
    """Run a baseline on ``phi`` (as :func:`mi_explain.explain_function`): x [n, K] → σ-shaped saliency [L, n]."""
    if not torch.is_tensor(x) or x.ndim != 2 or x.numel() == 0:
        raise ValueError(f"x must be a non-empty [n_words, K] tensor, got {getattr(x, 'shape', type(x))}")
    x = x.detach().float()
    n, k = x.shape
    words = [str(w) for w in words] if words is not None else [str(i) for i in range(n)]
    if len(words) != n:
        raise ValueError(f"{len(words)} words given for {n} rows of x")
    with torch.no_grad():
        clean, names = _state_list(phi(x[None]))
    names = names or ([f"state {i}" for i in range(len(clean))] if len(clean) > 1 else ["state"])

    def fn(xt: torch.Tensor, rows: torch.Tensor) -> list[torch.Tensor]:
        states, _ = _state_list(phi(xt))
        return [s.reshape(s.shape[0], -1) for s in states]

    t0 = time.perf_counter()
    batch = Batch(fn=fn, x=x[None], word_index=torch.arange(n, device=x.device)[None], n_words=n,
                  n_states=len(clean), max_batch=max_batch, seed=seed, progress=progress)
    attr = method.attribute(batch)
    prior = float(prior_scale) if prior_scale is not None else (float(x.std()) if n * k > 1 else 1.0)
    return build_explanation(method, attr, 0, words=words, layers=names, tokens=list(words),
                             token_to_word=list(range(n)), pieces=[1] * n, embedding_dim=k, prior_scale=prior,
                             text=None, segments=None, target="function", options={"seed": seed},
                             seconds=time.perf_counter() - t0)
