"""How a result is shown: a pandas table, a heatmap (drawn by :mod:`mi_explain.plotting`), HTML and text.

Every view works for every method.  Shading follows one rule: dark = the state uses the word (small σ,
much information, a high score), white = it does not.
"""

from __future__ import annotations

import os
from pathlib import Path

from .result import Explanation, Result

__all__ = ["plot", "save_plot", "to_dataframe", "to_html", "to_text"]

_CBAR_LABELS = {"sigma": "σ (embedding units)", "information": "information (nats/dim)",
                "entropy": "entropy H(X̃|s) (nats)"}
_DEFAULT_CMAPS = {"sigma": "GnBu_r", "information": "GnBu", "entropy": "GnBu_r"}
_FORMATS = {"sigma": ".2g", "information": ".2f", "entropy": ".0f"}


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _elide(indices: list[int], limit: int) -> list[int | None]:
    """At most ``limit`` entries: the first and last ones with a None (shown as …) in between."""
    if len(indices) <= limit:
        return list(indices)
    head = (limit - 1) // 2 + 1
    tail = limit - 1 - head
    return indices[:head] + [None] + indices[len(indices) - tail:]


def _score_label(r: Result) -> str:
    return str(r.options.get("saliency_label") or r.method or "score")


def to_dataframe(r: Result, wide: bool = False):
    """A pandas DataFrame.

    Long (default): one row per (layer, word) with columns layer, layer_index, position, word, segment,
    one column per map of the method (information: sigma, entropy, information, at_bound and, when the
    diagnostics have it, log_sigma_se — the standard error of log σ, 0 at the bound; baselines: scores),
    converged (the layer's verdict) and method.  Wide: index = layer labels, columns = "position:word",
    values = the default map.
    """
    import pandas as pd

    if wide:
        columns = [f"{j}:{w}" for j, w in enumerate(r.words)]
        df = pd.DataFrame(r.values().numpy().copy(), index=list(r.layers), columns=columns)
        df.index.name = "layer"
        return df
    n_layers, n_words = r.n_layers, r.n_words
    seg = r.segments if r.segments is not None else [0] * n_words
    cols = {
        "layer": [name for name in r.layers for _ in range(n_words)],
        "layer_index": [i for i in range(n_layers) for _ in range(n_words)],
        "position": list(range(n_words)) * n_layers,
        "word": list(r.words) * n_layers,
        "segment": list(seg) * n_layers,
    }
    names = ("sigma", "entropy", "information") if isinstance(r, Explanation) else r.VALUES
    for name in names:
        cols[name] = r.values(name).reshape(-1).numpy().copy()
    if isinstance(r, Explanation):
        cols["at_bound"] = r.at_bound.reshape(-1).numpy().copy()
        se = (r.diagnostics or {}).get("stderr")
        if (isinstance(se, (list, tuple)) and len(se) == n_layers
                and all(isinstance(row, (list, tuple)) and len(row) == n_words for row in se)):
            cols["log_sigma_se"] = [float(v) for row in se for v in row]  # 0 at the bound
    cols["converged"] = [bool(c) for c in r.converged.reshape(-1).tolist() for _ in range(n_words)]
    cols["method"] = [r.method] * (n_layers * n_words)
    return pd.DataFrame(cols)


def plot(r: Result, value: str | None = None, *, ax=None, cmap: str | None = None,  # noqa: ANN001
         annotate: bool | None = None, title: str | None = None):
    """Heatmap of ``value`` (rows = layers, first at the top; columns = words), like the paper's Fig. 7.

    Information: "sigma" (default; darker = smaller σ = more kept), "information" or "entropy"; hatched
    cells: σ stopped at its upper bound.  Baselines: "scores" (darker = more salient).  A vertical line
    separates the two texts of a pair.  ``annotate`` defaults to True for maps up to 12 layers × 20 words.
    Returns the matplotlib Axes.
    """
    from mi_explain.plotting import heatmap

    name = r.VALUES[0] if value is None else ("scores" if value == "saliency" else value)
    values = r.values(name)
    if annotate is None:
        annotate = r.n_layers <= 12 and r.n_words <= 20
    marks = r.at_bound.numpy() if isinstance(r, Explanation) else None
    return heatmap(values.numpy(), r.layers, r.words, ax=ax, cmap=cmap or _DEFAULT_CMAPS.get(name, "GnBu"),
                   cbar_label=_CBAR_LABELS.get(name, _score_label(r)), annotate=annotate, marks=marks,
                   separators=r.separators(), title=title, fmt=_FORMATS.get(name, ".2g"))


def save_plot(r: Result, path: str | os.PathLike, **plot_kwargs) -> Path:  # noqa: ANN003
    """Save ``plot(r, **plot_kwargs)`` to ``path`` (png, pdf, svg... by extension); closes the figure."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ax = plot(r, **plot_kwargs)
    ax.figure.savefig(path, bbox_inches="tight", dpi=150)
    plt.close(ax.figure)
    return path


def to_html(r: Result, value: str | None = None, full_page: bool = True) -> str:
    """Self-contained HTML of ``value`` (default: "information" for ours, "scores" for baselines): one row per
    layer, word chips shaded by the value with the value printed under each (see :mod:`mi_explain.html`)."""
    from ..html import explanation_html

    return explanation_html(r, value, full_page=full_page)


def to_text(r: Result) -> str:
    """The repr: a header line and the default map, elided to at most 20 layers × 8 words."""
    if isinstance(r.text, tuple):
        text = repr(tuple(_short(t, 24) for t in r.text))
    elif r.text is not None:
        text = repr(_short(r.text, 40))
    else:
        text = "None"
    head = (f"{type(r).__name__}(method={r.method!r}, text={text}, layers={r.n_layers}, words={r.n_words}, "
            f"target={r.target!r}, converged={int(r.converged.sum())}/{r.n_layers})")
    if not r.n_layers or not r.n_words:
        return head
    main_name, main = r.VALUES[0], r.values()
    cols = _elide(list(range(r.n_words)), 8)
    rows = _elide(list(range(r.n_layers)), 20)
    label_w = max(min(max(len(name) for name in r.layers), 12), len(main_name))
    width = 8

    def row(label: str, cells: list[str]) -> str:
        return f"{_short(label, label_w):<{label_w}}" + "".join(f" {c:>{width}}" for c in cells)

    lines = [head, row(main_name, ["…" if j is None else _short(r.words[j], width) for j in cols])]
    for i in rows:
        if i is None:
            lines.append("…")
            continue
        flag = "" if bool(r.converged[i]) else "  (not converged)"
        lines.append(row(r.layers[i], ["…" if j is None else f"{float(main[i, j]):.3g}" for j in cols]) + flag)
    bad = [r.layers[i] for i in range(r.n_layers) if not bool(r.converged[i])]
    if bad:
        lines.append(f"not converged (values may be wrong): {', '.join(bad)}; see .diagnostics['stderr']")
    return "\n".join(lines)
