"""The sweep's figure files: words used for prediction (Fig. 5/6), layer-by-layer maps (Fig. 7) and the mean
information per layer of several models.  Each function prepares the sweep's data, draws it with
:mod:`mi_explain.plotting` and writes one PNG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mi_explain import plotting
from mi_explain.results import Explanation

from .analysis import relative_use

__all__ = ["information_lines", "layer_maps", "prediction_words", "word_bars"]


def word_bars(counts: Mapping[str, object], path: str | Path, n: int = 15, title: str = "") -> Path:
    """Fig. 6 analog (see :func:`mi_explain.plotting.word_bars`); counts from :func:`analysis.word_counts`."""
    return plotting.save_figure(plotting.word_bars(counts, n, title=title), path)


def _first_segment(e: Explanation) -> list[int]:
    return [j for j in range(e.n_words) if e.segments is None or e.segments[j] == 0]


def prediction_words(rows: Mapping[str, Explanation], path: str | Path, title: str = "",
                     first_segment_only: bool = False) -> Path:
    """Fig. 5 analog for one text: rows = models, columns = words, shade = relative use at the prediction
    state (1 = smallest σ of the row, 0 = largest).  ``first_segment_only``: the first question of a pair."""
    cols = {n: (_first_segment(e) if first_segment_only else list(range(e.n_words))) for n, e in rows.items()}
    values = {n: relative_use(e)[cols[n]].numpy() for n, e in rows.items()}
    words = {n: [e.words[j] for j in cols[n]] for n, e in rows.items()}
    return plotting.save_figure(plotting.relative_use_map(values, words, title=title), path)


def layer_maps(maps: Mapping[str, Explanation], path: str | Path, title: str = "") -> Path:
    """Fig. 7 analog: σ per layer (rows) and word (columns) for one text, one panel per model, stacked."""
    return plotting.save_figure(plotting.stacked_maps(maps, value="sigma", title=title), path)


def information_lines(tables: Mapping[str, object], path: str | Path, title: str = "") -> Path:
    """Mean information per layer (± one standard error over texts), one line per model; tables: {model:
    DataFrame from corpus_information} (see :func:`mi_explain.plotting.information_per_layer`)."""
    ax = plotting.information_per_layer(tables, title=title or None)
    ax.figure.tight_layout()
    return plotting.save_figure(ax.figure, path)
