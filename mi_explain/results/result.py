"""What a result holds: the text's metadata (ResultInfo), one base class, one subclass per kind of value.

* :class:`ResultInfo` — what is known of one text before a method runs: its words and tokens, the explained
  states (``layers``), the embedding size and spread, provenance (``target``, ``options``) and diagnostics.
  The driver hands it to the method, and every result carries it.
* :class:`Result` — a :class:`ResultInfo` plus what every method adds: ``objective``, ``converged``,
  ``steps`` and the ``method``
* :class:`Explanation` — the information method (Guan et al., ICML 2019): ``sigma`` [n_layers, n_words],
  the std of Gaussian noise per word a layer tolerates, in embedding units.  Small σ_i: the layer keeps
  word i; σ at its upper bound: the layer discards it.  ``information`` and ``entropy`` derive from σ.
* :class:`SaliencyExplanation` — a baseline (gradient, integrated gradients, perturbation, LRP):
  ``scores`` [n_layers, n_words], the method's saliency (higher = more important; units in
  ``options["saliency"]``).  It has no σ, information or entropy (they are formulas of a noise scale).

Saving and loading: :mod:`mi_explain.results.io`; tables, plots and HTML: :mod:`mi_explain.results.views`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch

__all__ = ["Explanation", "Result", "ResultInfo", "SaliencyExplanation"]

_LOG_2PI_E = math.log(2 * math.pi * math.e)


def _as_tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
    """A detached CPU tensor of ``dtype`` from a tensor, array or (nested) list."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=dtype)
    return torch.as_tensor(value, dtype=dtype)


def _as_list(value: Any) -> list:
    return value.tolist() if isinstance(value, torch.Tensor) else list(value)


@dataclass(eq=False, repr=False, kw_only=True)
class ResultInfo:
    """What the driver knows about one text before the method runs (the common part of every result).

    words [W], layers [L] (labels of the explained states), tokens [T] with token_to_word [T] (-1: not
    attributed), pieces [W] (tokens per word), embedding_dim K, prior_scale (std of the embeddings, embedding
    units), text, segments [W] (0/1 for pairs), target, options, diagnostics.
    """

    words: list[str]
    layers: list[str]
    tokens: list[str]
    token_to_word: list[int]
    pieces: list[int]
    embedding_dim: int
    prior_scale: float
    text: str | tuple[str, str] | None = None
    segments: list[int] | None = None
    target: str = "tokens"
    options: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.words = [str(w) for w in self.words]
        self.layers = [str(name) for name in self.layers]
        self.tokens = [str(t) for t in self.tokens]
        self.token_to_word = [int(i) for i in _as_list(self.token_to_word)]
        self.pieces = [int(p) for p in _as_list(self.pieces)]
        self.embedding_dim = int(self.embedding_dim)
        self.prior_scale = float(self.prior_scale)
        if isinstance(self.text, list):
            self.text = tuple(self.text)
        if self.segments is not None:
            self.segments = [int(s) for s in _as_list(self.segments)]
        self.target = str(self.target)
        self.options = dict(self.options)
        self.diagnostics = dict(self.diagnostics)

    def info_fields(self) -> dict[str, Any]:
        """{field: value} of the :class:`ResultInfo` fields, to build a result: ``Cls(**info.info_fields(), ...)``."""
        return {f.name: getattr(self, f.name) for f in fields(ResultInfo)}


@dataclass(eq=False, repr=False, kw_only=True)
class Result(ResultInfo):
    """Common part of every method's result for one text (see the module docstring).

    The :class:`ResultInfo` fields, plus objective [L] and converged [L] (method-specific), steps and method.
    """

    #: names of the [L, W] maps :meth:`values` returns; the first is the default.
    VALUES: ClassVar[tuple[str, ...]] = ()
    #: the tensor fields saved by :mod:`mi_explain.results.io` (float32, except bool fields).
    TENSOR_FIELDS: ClassVar[tuple[str, ...]] = ("objective", "converged")

    objective: torch.Tensor
    converged: torch.Tensor
    steps: int
    method: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = int(self.steps)
        self.objective = _as_tensor(self.objective, torch.float32)
        self.converged = _as_tensor(self.converged, torch.bool)
        self.method = str(self.method)
        self._convert()
        self._validate()

    def _convert(self) -> None:
        """Subclasses convert their own fields to tensors here."""

    def _validate(self) -> None:
        n_layers, n_words = len(self.layers), len(self.words)
        for name in self.VALUES[:1]:
            shape = tuple(getattr(self, name).shape)
            if len(shape) != 2 or shape != (n_layers, n_words):
                raise ValueError(f"{name} must be 2-D [n_layers={n_layers}, n_words={n_words}], got shape {shape}")
        for name in ("objective", "converged"):
            shape = tuple(getattr(self, name).shape)
            if shape != (n_layers,):
                raise ValueError(f"{name} must have shape ({n_layers},) (one per layer), got {shape}")
        if len(self.pieces) != n_words:
            raise ValueError(f"pieces must have one entry per word ({n_words}), got {len(self.pieces)}")
        if any(p < 1 for p in self.pieces):
            raise ValueError(f"pieces must be >= 1, got {self.pieces}")
        if len(self.token_to_word) != len(self.tokens):
            raise ValueError(f"token_to_word must have one entry per token ({len(self.tokens)}), "
                             f"got {len(self.token_to_word)}")
        bad = [i for i in self.token_to_word if not -1 <= i < n_words]
        if bad:
            raise ValueError(f"token_to_word values must be in [-1, {n_words}), got {bad}")
        if self.tokens:
            counts = [self.token_to_word.count(j) for j in range(n_words)]
            if counts != self.pieces:
                raise ValueError(f"pieces {self.pieces} disagree with token_to_word counts {counts}")
        if self.segments is not None:
            if len(self.segments) != n_words:
                raise ValueError(f"segments must have one entry per word ({n_words}), got {len(self.segments)}")
            if any(s not in (0, 1) for s in self.segments):
                raise ValueError(f"segments must be 0 or 1, got {self.segments}")
        if isinstance(self.text, tuple) and len(self.text) != 2:
            raise ValueError(f"a text pair must have 2 elements, got {len(self.text)}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if not (math.isfinite(self.prior_scale) and self.prior_scale > 0):
            raise ValueError(f"prior_scale must be a positive finite number, got {self.prior_scale}")

    # ----------------------------------------------------------------- shape and values
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_words(self) -> int:
        return len(self.words)

    def values(self, value: str | None = None) -> torch.Tensor:
        """The ``[n_layers, n_words]`` map named ``value`` (one of :attr:`VALUES`; None: the first)."""
        name = self.VALUES[0] if value is None else value
        if name not in self.VALUES:
            raise ValueError(f"unknown value {value!r} for a {self.method!r} result; valid values: "
                             f"{', '.join(self.VALUES)}")
        return getattr(self, name)

    def layer(self, name_or_index: str | int) -> torch.Tensor:
        """The ``[n_words]`` row of the default map for one layer, by label (e.g. "layer 3") or index."""
        main = self.values()
        if isinstance(name_or_index, str):
            if name_or_index not in self.layers:
                raise KeyError(f"no layer {name_or_index!r}; valid labels: {self.layers}")
            return main[self.layers.index(name_or_index)]
        index = int(name_or_index)
        if not -self.n_layers <= index < self.n_layers:
            raise IndexError(f"layer index {index} out of range for {self.n_layers} layers; "
                             f"valid labels: {self.layers}")
        return main[index]

    def separators(self) -> list[int]:
        """Word positions where the second text of a pair starts (empty for single texts)."""
        seg = self.segments if self.segments is not None else [0] * self.n_words
        return [j for j in range(1, len(seg)) if seg[j] != seg[j - 1]]

    # ----------------------------------------------------------------- io and views (delegated)
    def to_dict(self) -> dict:
        """A JSON-serializable dict (see :mod:`mi_explain.results.io`)."""
        from .io import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Result:
        """Inverse of ``to_dict``: the class of the method recorded in ``d`` (for any method)."""
        from .io import from_dict

        return from_dict(d)

    def save(self, path: str | os.PathLike) -> Path:
        """Write strict UTF-8 JSON (no pickle); returns the path."""
        from .io import save

        return save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Result:
        """Read a file written by ``save`` by any method: returns that method's result class."""
        from .io import load

        return load(path)

    def to_dataframe(self, wide: bool = False):
        """pandas DataFrame; see :func:`mi_explain.results.views.to_dataframe`."""
        from .views import to_dataframe

        return to_dataframe(self, wide=wide)

    def plot(self, value: str | None = None, ax=None, cmap: str | None = None, annotate: bool | None = None,  # noqa: ANN001
             title: str | None = None):
        """Heatmap of ``value`` (rows = layers, columns = words); see :func:`mi_explain.results.views.plot`."""
        from .views import plot

        return plot(self, value, ax=ax, cmap=cmap, annotate=annotate, title=title)

    def save_plot(self, path: str | os.PathLike, **plot_kwargs: Any) -> Path:
        """Save ``plot(**plot_kwargs)`` to ``path`` (png, pdf, svg... by extension); closes the figure."""
        from .views import save_plot

        return save_plot(self, path, **plot_kwargs)

    def to_html(self, value: str | None = None, full_page: bool = True) -> str:
        """Self-contained HTML (inline styles, no JS, UTF-8): one row per layer, one chip per word shaded by
        ``value`` with the value printed under it; full_page=False: the notebook fragment (see
        :mod:`mi_explain.html`)."""
        from .views import to_html

        return to_html(self, value, full_page=full_page)

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def __repr__(self) -> str:
        from .views import to_text

        return to_text(self)


@dataclass(eq=False, repr=False, kw_only=True)
class Explanation(Result):
    """The information method's result: noise scales ``sigma`` [n_layers, n_words] for one text.

    sigma is in embedding units (the std of Gaussian noise added to each embedding dimension of every token
    of a word); ``at_bound`` [L, W] marks σ stopped at its upper bound; ``regularization`` [L] is σ_s, the
    spread of each state that normalises Eq. 7 (NaN when given per element).
    """

    VALUES: ClassVar[tuple[str, ...]] = ("sigma", "information", "entropy")
    TENSOR_FIELDS: ClassVar[tuple[str, ...]] = ("sigma", "objective", "converged", "at_bound", "regularization")

    sigma: torch.Tensor
    at_bound: torch.Tensor
    regularization: torch.Tensor
    method: str = "information"

    def _convert(self) -> None:
        self.sigma = _as_tensor(self.sigma, torch.float32)
        self.at_bound = _as_tensor(self.at_bound, torch.bool)
        self.regularization = _as_tensor(self.regularization, torch.float32)

    def _validate(self) -> None:
        super()._validate()
        expected = (self.n_layers, self.n_words)
        if tuple(self.at_bound.shape) != expected:
            raise ValueError(f"at_bound must have shape {expected}, got {tuple(self.at_bound.shape)}")
        if tuple(self.regularization.shape) != (self.n_layers,):
            raise ValueError(f"regularization must have shape ({self.n_layers},) (one per layer), "
                             f"got {tuple(self.regularization.shape)}")

    @property
    def entropy(self) -> torch.Tensor:
        """``[n_layers, n_words]`` Eq. 6, in nats: H(X̃_i|s) = K_i/2·log(2πe) + K_i·log σ_i.

        K_i = pieces_i · embedding_dim is the number of embedding dimensions sharing σ_i.
        """
        k = torch.tensor(self.pieces, dtype=torch.float64) * self.embedding_dim
        return (k / 2 * _LOG_2PI_E + k * torch.log(self.sigma.double())).float()

    @property
    def word_information(self) -> torch.Tensor:
        """``[n_layers, n_words]`` nats per embedding dimension kept: clamp(log(prior_scale / σ), min=0).

        MI ≈ H(X_i) − H(X_i|s) per dimension under a Gaussian prior whose std is the spread of the model's
        input embeddings (prior_scale); 0 means the layer fully discards the word.
        """
        return torch.log(self.prior_scale / self.sigma).clamp(min=0)

    @property
    def information(self) -> torch.Tensor:
        """``[n_layers]`` mean of ``word_information`` over words (nats per dimension per word)."""
        return self.word_information.mean(dim=1)

    def values(self, value: str | None = None) -> torch.Tensor:
        """``[n_layers, n_words]`` map of "sigma" (default), "information" (word_information) or "entropy"."""
        if value == "information":
            return self.word_information
        return super().values(value)


@dataclass(eq=False, repr=False, kw_only=True)
class SaliencyExplanation(Result):
    """A baseline's result: ``scores`` [n_layers, n_words], higher = more important.

    ``options["saliency"]`` says what the number is and ``options["saliency_label"]`` is its short label;
    ``diagnostics`` holds method-specific checks (``ig_delta``, ``lrp_conservation``).
    """

    VALUES: ClassVar[tuple[str, ...]] = ("scores",)
    TENSOR_FIELDS: ClassVar[tuple[str, ...]] = ("scores", "objective", "converged")

    scores: torch.Tensor

    def _convert(self) -> None:
        self.scores = _as_tensor(self.scores, torch.float32)
        if not self.method or self.method == "information":
            raise ValueError(f"a SaliencyExplanation needs the name of its baseline method, got {self.method!r}")

    def values(self, value: str | None = None) -> torch.Tensor:
        """``[n_layers, n_words]`` scores ("saliency" is accepted as another name for them)."""
        return super().values("scores" if value == "saliency" else value)
