"""The sweep's figures: words used for prediction (Fig. 5/6), layer-by-layer maps (Fig. 7) and the mean
information per layer of several models on one plot.  Every function writes one PNG and closes it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mi_explain.plotting import heatmap
from mi_explain.results import Explanation

from .analysis import relative_use

__all__ = ["information_lines", "layer_maps", "prediction_words", "word_bars"]

_CONTENT, _STOP = "#2b7bba", "#f28e2b"


def _save(fig, path: str | Path) -> Path:  # noqa: ANN001
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", dpi=130)
    plt.close(fig)
    return path


def word_bars(counts: Mapping[str, object], path: str | Path, n: int = 15, title: str = "") -> Path:
    """Fig. 6 analog: per model (one panel each), the ``n`` words most often used for prediction.

    counts: {model: DataFrame(word, count, sentences, stopword)} from :func:`analysis.word_counts`.
    Stopwords and punctuation are drawn in orange, other words in blue.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = list(counts)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 0.28 * n + 1.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        df = counts[name].head(n).iloc[::-1]
        colors = [_STOP if s else _CONTENT for s in df["stopword"]]
        ax.barh(range(len(df)), df["count"], color=colors)
        ax.set_yticks(range(len(df)))
        ax.set_yticklabels(list(df["word"]))
        for label in ax.get_yticklabels():
            label.set_parse_math(False)
        ax.set_title(name, loc="left")
        ax.set_xlabel("sentences")
        ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=_CONTENT, label="content word"), Patch(color=_STOP, label="stopword / punctuation")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _first_segment(e: Explanation) -> list[int]:
    return [j for j in range(e.n_words) if e.segments is None or e.segments[j] == 0]


def prediction_words(rows: Mapping[str, Explanation], path: str | Path, title: str = "",
                     first_segment_only: bool = False) -> Path:
    """Fig. 5 analog for one text: rows = models, columns = words, shade = relative use at the prediction
    state (1 = smallest σ of the row, 0 = largest).  ``first_segment_only``: the first question of a pair."""
    import matplotlib.pyplot as plt

    names = list(rows)
    cols = {n: (_first_segment(e) if first_segment_only else list(range(e.n_words))) for n, e in rows.items()}
    words = {n: [rows[n].words[j] for j in cols[n]] for n in names}
    same = all(words[n] == words[names[0]] for n in names)
    if same:
        values = np.stack([relative_use(rows[n])[cols[n]].numpy() for n in names])
        width = min(max(4.0, 0.6 * len(words[names[0]]) + 2.5), 24.0)
        fig, ax = plt.subplots(figsize=(width, 0.45 * len(names) + 1.6))
        heatmap(values, names, words[names[0]], ax=ax, cmap="GnBu", cbar_label="relative use (1 = smallest σ)",
                annotate=False, title=title or None, fmt=".2f")
        return _save(fig, path)
    fig, axes = plt.subplots(len(names), 1, figsize=(12, 1.4 * len(names) + 0.6), squeeze=False)
    for ax, n in zip(axes[:, 0], names):
        heatmap(relative_use(rows[n])[cols[n]].numpy()[None], [n], words[n], ax=ax, cmap="GnBu",
                cbar_label="relative use", annotate=False)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return _save(fig, path)


def layer_maps(maps: Mapping[str, Explanation], path: str | Path, title: str = "") -> Path:
    """Fig. 7 analog: σ per layer (rows) and word (columns) for one text, one panel per model, stacked."""
    import matplotlib.pyplot as plt

    names = list(maps)
    n_words = max(e.n_words for e in maps.values())
    heights = [0.4 * e.n_layers + 1.9 for e in maps.values()]  # inches: rows + title + word labels
    width = min(max(5.0, 0.62 * n_words + 3.0), 26.0)
    fig, axes = plt.subplots(len(names), 1, figsize=(width, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, n in zip(axes[:, 0], names):
        maps[n].plot(ax=ax, value="sigma", title=n, annotate=maps[n].n_words <= 20)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return _save(fig, path)


def information_lines(tables: Mapping[str, object], path: str | Path, title: str = "") -> Path:
    """Mean information per layer (nats/dim, ± one standard error over texts), one line per model.

    tables: {model: DataFrame from corpus_information}.  x = layer index from 0 (the CNN's independent
    branches K1, K3, … in kernel order).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    longest = 0
    for name, df in tables.items():
        x = np.arange(len(df))
        y = df["information"].to_numpy(dtype=float)
        se = df["information_sem"].to_numpy(dtype=float)
        labels = list(df["layer"])
        plain = all(lab == f"layer {i}" for i, lab in enumerate(labels))
        tag = name if plain or len(labels) < 2 else f"{name} ({labels[0]}…{labels[-1]})"
        (line,) = ax.plot(x, y, marker="o", label=tag)
        if np.isfinite(se).any():
            ax.fill_between(x, y - np.nan_to_num(se), y + np.nan_to_num(se), color=line.get_color(), alpha=0.2,
                            linewidth=0)
        longest = max(longest, len(df))
    ax.set_xticks(np.arange(longest))
    ax.set_xlabel("layer index")
    ax.set_ylabel("information (nats/dim)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, loc="left")
    fig.tight_layout()
    return _save(fig, path)
