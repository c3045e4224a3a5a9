"""The result of explaining one text: per-layer, per-word noise scales sigma and derived quantities.

Guan et al. (ICML 2019) learn, for every layer, a Gaussian noise std sigma_i per input word such that
the layer's hidden state stays close to the clean one while the noise is as large as possible. A small
sigma_i means the layer keeps the information of word i; a sigma at its upper bound means the layer
discards it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = "mi_explain.explanation/1"
VALUES = ("sigma", "information", "entropy")

_LOG_2PI_E = math.log(2 * math.pi * math.e)
_TENSOR_FIELDS = ("sigma", "objective", "converged", "at_bound", "regularization")
_CBAR_LABELS = {
    "sigma": "σ (embedding units)",
    "information": "information (nats/dim)",
    "entropy": "entropy H(X̃|s) (nats)",
}
_DEFAULT_CMAPS = {"sigma": "GnBu_r", "information": "GnBu", "entropy": "GnBu_r"}
_FORMATS = {"sigma": ".2g", "information": ".2f", "entropy": ".0f"}


def _as_tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
    """A detached CPU tensor of ``dtype`` from a tensor, array or (nested) list."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=dtype)
    return torch.as_tensor(value, dtype=dtype)


def _encode_float(x: float) -> float | str:
    """JSON has no NaN/inf: store them as the strings "nan", "inf", "-inf"."""
    return x if math.isfinite(x) else str(x)


def _encode_tensor(t: torch.Tensor) -> list:
    """Nested lists; floats exact (float32 -> Python float is lossless), bools stay bools."""
    if t.dtype == torch.bool:
        return t.tolist()
    if t.dim() == 1:
        return [_encode_float(x) for x in t.tolist()]
    return [_encode_tensor(row) for row in t]


def _decode_floats(data: Any) -> Any:
    if isinstance(data, list):
        return [_decode_floats(x) for x in data]
    return float(data)  # also turns "nan", "inf", "-inf" back into floats


def _jsonable(obj: Any) -> Any:
    """Best-effort conversion of options/diagnostics to JSON (non-finite floats -> None)."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _jsonable(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


@dataclass(eq=False, repr=False)
class Explanation:
    """Noise scales sigma ``[n_layers, n_words]`` learned for one text, with provenance.

    sigma is in embedding units (the std of Gaussian noise added to each embedding dimension of every
    token of a word). Float tensors are stored as float32 on the CPU; lists are converted to tensors.
    """

    words: list[str]
    layers: list[str]
    sigma: torch.Tensor
    tokens: list[str]
    token_to_word: list[int]
    pieces: list[int]
    embedding_dim: int
    prior_scale: float
    objective: torch.Tensor
    converged: torch.Tensor
    at_bound: torch.Tensor
    steps: int
    regularization: torch.Tensor
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
        self.steps = int(self.steps)
        self.sigma = _as_tensor(self.sigma, torch.float32)
        self.objective = _as_tensor(self.objective, torch.float32)
        self.regularization = _as_tensor(self.regularization, torch.float32)
        self.converged = _as_tensor(self.converged, torch.bool)
        self.at_bound = _as_tensor(self.at_bound, torch.bool)
        if isinstance(self.text, list):
            self.text = tuple(self.text)
        if self.segments is not None:
            self.segments = [int(s) for s in _as_list(self.segments)]
        self.options = dict(self.options)
        self.diagnostics = dict(self.diagnostics)
        self._validate()

    def _validate(self) -> None:
        n_layers, n_words = len(self.layers), len(self.words)
        expected = (n_layers, n_words)
        if self.sigma.dim() != 2 or tuple(self.sigma.shape) != expected:
            raise ValueError(
                f"sigma must be 2-D [n_layers={n_layers}, n_words={n_words}], "
                f"got shape {tuple(self.sigma.shape)}"
            )
        if tuple(self.at_bound.shape) != expected:
            raise ValueError(f"at_bound must have shape {expected}, got {tuple(self.at_bound.shape)}")
        for name in ("objective", "converged", "regularization"):
            shape = tuple(getattr(self, name).shape)
            if shape != (n_layers,):
                raise ValueError(f"{name} must have shape ({n_layers},) (one per layer), got {shape}")
        if len(self.pieces) != n_words:
            raise ValueError(f"pieces must have one entry per word ({n_words}), got {len(self.pieces)}")
        if any(p < 1 for p in self.pieces):
            raise ValueError(f"pieces must be >= 1, got {self.pieces}")
        if len(self.token_to_word) != len(self.tokens):
            raise ValueError(
                f"token_to_word must have one entry per token ({len(self.tokens)}), "
                f"got {len(self.token_to_word)}"
            )
        bad = [i for i in self.token_to_word if not -1 <= i < n_words]
        if bad:
            raise ValueError(f"token_to_word values must be in [-1, {n_words}), got {bad}")
        if self.tokens:
            counts = [self.token_to_word.count(j) for j in range(n_words)]
            if counts != self.pieces:
                raise ValueError(f"pieces {self.pieces} disagree with token_to_word counts {counts}")
        if self.segments is not None:
            if len(self.segments) != n_words:
                raise ValueError(
                    f"segments must have one entry per word ({n_words}), got {len(self.segments)}"
                )
            if any(s not in (0, 1) for s in self.segments):
                raise ValueError(f"segments must be 0 or 1, got {self.segments}")
        if isinstance(self.text, tuple) and len(self.text) != 2:
            raise ValueError(f"a text pair must have 2 elements, got {len(self.text)}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if not (math.isfinite(self.prior_scale) and self.prior_scale > 0):
            raise ValueError(f"prior_scale must be a positive finite number, got {self.prior_scale}")

    # ----------------------------------------------------------------- derived quantities
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_words(self) -> int:
        return len(self.words)

    @property
    def entropy(self) -> torch.Tensor:
        """``[n_layers, n_words]`` Eq. 6, in nats: H(X̃_i|s) = K_i/2·log(2πe) + K_i·log σ_i.

        K_i = pieces_i · embedding_dim is the number of embedding dimensions sharing σ_i.
        """
        k = torch.tensor(self.pieces, dtype=torch.float64) * self.embedding_dim
        h = k / 2 * _LOG_2PI_E + k * torch.log(self.sigma.double())
        return h.float()

    @property
    def word_information(self) -> torch.Tensor:
        """``[n_layers, n_words]`` nats per embedding dimension kept: clamp(log(prior_scale / σ), min=0).

        This is MI ≈ H(X_i) − H(X_i|s) per dimension under a Gaussian prior whose std is the spread of the
        model's input embeddings (prior_scale); 0 means the layer fully discards the word. σ and the prior
        are in the same embedding units, so values are comparable across layers and models.
        """
        return torch.log(self.prior_scale / self.sigma).clamp(min=0)

    @property
    def information(self) -> torch.Tensor:
        """``[n_layers]`` mean of ``word_information`` over words (nats per dimension per word)."""
        return self.word_information.mean(dim=1)

    def layer(self, name_or_index: str | int) -> torch.Tensor:
        """The ``[n_words]`` sigma row of one layer, by label (e.g. "layer 3") or index (negative ok)."""
        if isinstance(name_or_index, str):
            if name_or_index not in self.layers:
                raise KeyError(f"no layer {name_or_index!r}; valid labels: {self.layers}")
            return self.sigma[self.layers.index(name_or_index)]
        index = int(name_or_index)
        if not -self.n_layers <= index < self.n_layers:
            raise IndexError(
                f"layer index {index} out of range for {self.n_layers} layers; valid labels: {self.layers}"
            )
        return self.sigma[index]

    def values(self, value: str = "sigma") -> torch.Tensor:
        """``[n_layers, n_words]`` map of "sigma", "information" (word_information) or "entropy"."""
        if value not in VALUES:
            raise ValueError(f"unknown value {value!r}; valid values: {', '.join(VALUES)}")
        if value == "information":
            return self.word_information
        return self.entropy if value == "entropy" else self.sigma

    def _segments(self) -> list[int]:
        return self.segments if self.segments is not None else [0] * self.n_words

    def _separators(self) -> list[int]:
        seg = self._segments()
        return [j for j in range(1, len(seg)) if seg[j] != seg[j - 1]]

    # ----------------------------------------------------------------- serialization
    def to_dict(self) -> dict:
        """A JSON-serializable dict (tensors as nested lists; non-finite floats as "nan"/"inf" strings)."""
        d: dict[str, Any] = {"format": FORMAT}
        d.update(
            words=list(self.words),
            layers=list(self.layers),
            tokens=list(self.tokens),
            token_to_word=list(self.token_to_word),
            pieces=list(self.pieces),
            embedding_dim=self.embedding_dim,
            prior_scale=_encode_float(self.prior_scale),
            steps=self.steps,
            text=list(self.text) if isinstance(self.text, tuple) else self.text,
            segments=None if self.segments is None else list(self.segments),
            target=self.target,
            options=_jsonable(self.options),
            diagnostics=_jsonable(self.diagnostics),
        )
        for name in _TENSOR_FIELDS:
            d[name] = _encode_tensor(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Explanation:
        """Inverse of ``to_dict``; raises ValueError if ``d["format"]`` is not this format."""
        fmt = d.get("format") if isinstance(d, dict) else None
        if fmt != FORMAT:
            raise ValueError(f"not an mi_explain explanation: format={fmt!r}, expected {FORMAT!r}")
        n_layers, n_words = len(d["layers"]), len(d["words"])
        text = d.get("text")

        def floats(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            return torch.tensor(_decode_floats(d[name]), dtype=torch.float32).reshape(shape)

        def bools(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            return torch.tensor(d[name], dtype=torch.bool).reshape(shape)

        return cls(
            words=d["words"],
            layers=d["layers"],
            sigma=floats("sigma", (n_layers, n_words)),
            tokens=d["tokens"],
            token_to_word=d["token_to_word"],
            pieces=d["pieces"],
            embedding_dim=d["embedding_dim"],
            prior_scale=float(d["prior_scale"]),
            objective=floats("objective", (n_layers,)),
            converged=bools("converged", (n_layers,)),
            at_bound=bools("at_bound", (n_layers, n_words)),
            steps=d["steps"],
            regularization=floats("regularization", (n_layers,)),
            text=tuple(text) if isinstance(text, list) else text,
            segments=d.get("segments"),
            target=d.get("target", "tokens"),
            options=d.get("options") or {},
            diagnostics=d.get("diagnostics") or {},
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write strict UTF-8 JSON (no pickle); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read a file written by ``save``; errors name the file and what is wrong (ExplanationFileError)."""
        from .file_checks import read_explanation

        return read_explanation(path, cls.from_dict)

    # ----------------------------------------------------------------- tables
    def to_dataframe(self, wide: bool = False):
        """A pandas DataFrame.

        Long (default): one row per (layer, word) with columns layer, layer_index, position, word,
        segment, sigma, entropy, information (word_information, nats/dim), at_bound.
        Wide: index = layer labels, columns = "position:word", values = sigma.
        """
        import pandas as pd

        if wide:
            columns = [f"{j}:{w}" for j, w in enumerate(self.words)]
            df = pd.DataFrame(self.sigma.numpy().copy(), index=list(self.layers), columns=columns)
            df.index.name = "layer"
            return df
        n_layers, n_words = self.n_layers, self.n_words
        seg = self._segments()
        return pd.DataFrame(
            {
                "layer": [name for name in self.layers for _ in range(n_words)],
                "layer_index": [i for i in range(n_layers) for _ in range(n_words)],
                "position": list(range(n_words)) * n_layers,
                "word": list(self.words) * n_layers,
                "segment": seg * n_layers,
                "sigma": self.sigma.reshape(-1).numpy().copy(),
                "entropy": self.entropy.reshape(-1).numpy(),
                "information": self.word_information.reshape(-1).numpy(),
                "at_bound": self.at_bound.reshape(-1).numpy().copy(),
            }
        )

    # ----------------------------------------------------------------- plots
    def plot(
        self,
        value: str = "sigma",
        ax=None,
        cmap: str | None = None,
        annotate: bool | None = None,
        title: str | None = None,
    ):
        """Heatmap of ``value`` (rows = layers, first at the top; columns = words), like Fig. 7.

        value: "sigma" (darker = smaller σ = more kept), "information" (darker = more kept) or
        "entropy". Hatched cells: σ stopped at its upper bound. A vertical line separates the two
        texts of a pair. ``annotate`` defaults to True for maps up to 12 layers x 20 words.
        Returns the matplotlib Axes.
        """
        from mi_explain.plotting import heatmap

        values = self.values(value)
        if annotate is None:
            annotate = self.n_layers <= 12 and self.n_words <= 20
        return heatmap(
            values.numpy(),
            self.layers,
            self.words,
            ax=ax,
            cmap=cmap or _DEFAULT_CMAPS[value],
            cbar_label=_CBAR_LABELS[value],
            annotate=annotate,
            marks=self.at_bound.numpy(),
            separators=self._separators(),
            title=title,
            fmt=_FORMATS[value],
        )

    def save_plot(self, path: str | os.PathLike, **plot_kwargs) -> Path:
        """Save ``plot(**plot_kwargs)`` to ``path`` (png, pdf, svg... by extension); closes the figure."""
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ax = self.plot(**plot_kwargs)
        fig = ax.figure
        fig.savefig(path, bbox_inches="tight", dpi=150)
        plt.close(fig)
        return path

    # ----------------------------------------------------------------- display
    def to_html(self, value: str = "information", full_page: bool = True) -> str:
        """Self-contained HTML (inline styles, no JS, UTF-8): one row per layer, one chip per word shaded by
        ``value`` ("information", "sigma" or "entropy"; darker = the layer keeps the word), the value printed
        under each word.  full_page=False: the fragment shown in notebooks.  See :mod:`mi_explain.html`."""
        from .html import explanation_html

        return explanation_html(self, value, full_page=full_page)

    def _repr_html_(self) -> str:
        return self.to_html(full_page=False)

    def __repr__(self) -> str:
        if isinstance(self.text, tuple):
            text = repr(tuple(_short(t, 24) for t in self.text))
        elif self.text is not None:
            text = repr(_short(self.text, 40))
        else:
            text = "None"
        head = (
            f"Explanation(text={text}, layers={self.n_layers}, words={self.n_words}, "
            f"target={self.target!r}, converged={int(self.converged.sum())}/{self.n_layers})"
        )
        if not self.n_layers or not self.n_words:
            return head
        cols = _elide(list(range(self.n_words)), 8)
        rows = _elide(list(range(self.n_layers)), 20)
        label_w = max(min(max(len(name) for name in self.layers), 12), len("sigma"))
        width = 8

        def row(label: str, cells: list[str]) -> str:
            return f"{_short(label, label_w):<{label_w}}" + "".join(f" {c:>{width}}" for c in cells)

        lines = [head, row("sigma", ["…" if j is None else _short(self.words[j], width) for j in cols])]
        for i in rows:
            if i is None:
                lines.append("…")
                continue
            lines.append(
                row(self.layers[i], ["…" if j is None else f"{float(self.sigma[i, j]):.3g}" for j in cols])
            )
        return "\n".join(lines)


def _as_list(value: Any) -> list:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return list(value)


def _elide(indices: list[int], limit: int) -> list[int | None]:
    """At most ``limit`` entries: the first and last ones with a None (shown as …) in between."""
    if len(indices) <= limit:
        return list(indices)
    head = (limit - 1) // 2 + 1
    tail = limit - 1 - head
    return indices[:head] + [None] + indices[len(indices) - tail :]


def append_jsonl(path: str | os.PathLike, explanations: Explanation | list[Explanation],
                 extra: dict | list[dict] | None = None) -> None:
    """Append explanations to a JSON-lines file, one per line, each line written and flushed whole
    (a run killed mid-way leaves every finished line intact).  ``extra``: JSON-safe fields stored beside
    each explanation under ``"meta"`` (e.g. the sentence's index in its dataset)."""
    items = [explanations] if isinstance(explanations, Explanation) else list(explanations)
    metas = extra if isinstance(extra, list) else [extra] * len(items)
    if len(metas) != len(items):
        raise ValueError(f"{len(metas)} meta entries for {len(items)} explanations")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for e, meta in zip(items, metas):
        d = e.to_dict()
        if meta is not None:
            d["meta"] = _jsonable(meta)
        lines.append(json.dumps(d, ensure_ascii=False, allow_nan=False))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike, with_meta: bool = False):
    """Read a file written by :func:`append_jsonl` → list of Explanations (or (Explanation, meta) pairs).
    A last line cut short by a killed writer is ignored; any other bad line raises with its number."""
    from .file_checks import decode, jsonl_decode_error

    out = []
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines) and not Path(path).read_text(encoding="utf-8").endswith("\n"):
                break  # an interrupted final write
            raise jsonl_decode_error(path, number, err) from err
        meta = d.pop("meta", None) if isinstance(d, dict) else None
        e = decode(Explanation.from_dict, d, f"{path}, line {number}")
        out.append((e, meta) if with_meta else e)
    return out
