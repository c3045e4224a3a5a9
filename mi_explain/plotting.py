"""Seaborn/matplotlib helpers for explanation maps.

matplotlib and seaborn are imported inside the functions, so importing this module is cheap. Nothing here
selects a backend or calls ``show``: on a headless machine matplotlib falls back to Agg by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MARK_HATCH = "///"


def _tick_rotation(labels: Sequence[str]) -> int:
    return 90 if len(labels) > 10 or any(len(s) > 8 for s in labels) else 0


def heatmap(
    values: Any,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    ax=None,
    cmap: str = "GnBu_r",
    cbar_label: str = "",
    annotate: bool = False,
    marks: Any = None,
    separators: Sequence[int] | None = None,
    title: str | None = None,
    fmt: str = ".2g",
    mark_label: str = "σ at upper bound",
):
    """Annotated heatmap of a 2-D array ``[n_rows, n_cols]``; row 0 at the top. Returns the Axes.

    marks: ``[n_rows, n_cols]`` bool, True cells are hatched (with a legend entry ``mark_label``).
    separators: column positions j at which to draw a vertical line (between columns j-1 and j).
    The color range covers the finite values only.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns
    from matplotlib.patches import Patch, Rectangle

    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D, got shape {values.shape}")
    n_rows, n_cols = values.shape
    if len(row_labels) != n_rows or len(col_labels) != n_cols:
        raise ValueError(
            f"got {len(row_labels)} row labels and {len(col_labels)} column labels for values of shape "
            f"{values.shape}"
        )
    if ax is None:
        width = min(max(4.0, 0.65 * n_cols + 2.5), 24.0)
        height = min(max(2.5, 0.45 * n_rows + 1.5), 16.0)
        _, ax = plt.subplots(figsize=(width, height))

    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    sns.heatmap(
        values,
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        annot=bool(annotate) and values.size > 0,
        fmt=fmt,
        annot_kws={"fontsize": 8},
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": cbar_label},
        xticklabels=False,
        yticklabels=False,
    )
    ax.set_xticks(np.arange(n_cols) + 0.5)
    rotation = _tick_rotation(col_labels)
    ax.set_xticklabels(list(col_labels), rotation=rotation, ha="center")
    ax.set_yticks(np.arange(n_rows) + 0.5)
    ax.set_yticklabels(list(row_labels), rotation=0)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_parse_math(False)  # words like "$5" must not be read as mathtext
    ax.tick_params(length=0)

    if marks is not None:
        marks = np.asarray(marks, dtype=bool)
        if marks.shape != values.shape:
            raise ValueError(f"marks must have shape {values.shape}, got {marks.shape}")
        for i, j in np.argwhere(marks):
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch=MARK_HATCH, edgecolor="0.4", linewidth=0))
        if marks.any():
            handle = Patch(facecolor="white", edgecolor="0.4", hatch=MARK_HATCH, label=mark_label)
            ax.legend(
                handles=[handle],
                loc="lower right",
                bbox_to_anchor=(1.0, 1.0),
                frameon=False,
                fontsize=8,
                borderaxespad=0.2,
            )
    for j in separators or ():
        ax.axvline(j, color="black", linewidth=2)
    if title:
        ax.set_title(title, loc="left")
    return ax


def information_per_layer(explanations: Mapping[str, Any], ax=None):
    """Line plot of the mean ``information`` per layer (nats/dim), one line per model.

    explanations: {model label: Explanation or list of Explanations of that model}. With several
    explanations a band shows ± one standard error over texts. x = layer index; tick labels are the
    layer labels of the model with the most layers. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not explanations:
        raise ValueError("explanations is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    longest: list[str] = []
    for name, group in explanations.items():
        group = [group] if hasattr(group, "information") else list(group)
        if not group:
            raise ValueError(f"no explanations for {name!r}")
        n_layers = {e.n_layers for e in group}
        if len(n_layers) != 1:
            raise ValueError(f"explanations for {name!r} differ in number of layers: {sorted(n_layers)}")
        info = np.stack([e.information.double().numpy() for e in group])  # [n_texts, n_layers]
        mean = np.nanmean(info, axis=0)
        x = np.arange(info.shape[1])
        (line,) = ax.plot(x, mean, marker="o", label=str(name))
        if len(group) > 1:
            se = np.nanstd(info, axis=0, ddof=1) / math.sqrt(len(group))
            ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2, linewidth=0)
        if len(group[0].layers) > len(longest):
            longest = list(group[0].layers)
    ax.set_xticks(np.arange(len(longest)))
    many = len(longest) > 8
    ax.set_xticklabels(longest, rotation=45 if many else 0, ha="right" if many else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("information (nats/dim)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return ax


def _on_grid(curves: Any, n: int = 10) -> Any:
    """Each (method, text) curve of a deletion/insertion frame linearly interpolated at x = 0, 1/n, …, 1."""
    import numpy as np
    import pandas as pd

    keys = [k for k in ("model", "method", "text_id") if k in curves.columns]
    grid = np.linspace(0.0, 1.0, n + 1)
    rows = []
    for key, g in curves.groupby(keys, sort=False):
        g = g.sort_values("step")
        values = np.interp(grid, g["step"].to_numpy(float), g["value"].to_numpy(float))
        base = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        rows += [{**base, "step": float(x), "value": float(v)} for x, v in zip(grid, values)]
    return pd.DataFrame(rows)


def faithfulness_curves(frame: Any, *, title: str | None = None):
    """Four panels from a :func:`mi_explain.evaluation.evaluate` frame: comprehensiveness and sufficiency per
    ERASER bin, deletion and insertion curves (probability of the target class against the fraction of
    words removed / kept, each text's curve interpolated at steps of 10 %); one line per method, bands ± one
    standard error over texts.  Returns the Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    panels = [("comprehensiveness", "top fraction of words removed", "p(y|x) − p(y|x∖r)  (higher = better)"),
              ("sufficiency", "top fraction of words kept", "p(y|x) − p(y|r)  (lower = better)"),
              ("deletion", "fraction of words removed (top first)", "p(y)  (lower = better)"),
              ("insertion", "fraction of words kept (top first)", "p(y)  (higher = better)")]
    missing = {"metric", "method", "step", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame lacks column(s) {sorted(missing)}: pass the output of evaluation.evaluate")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    methods = sorted(frame["method"].unique())
    for ax, (metric, xlabel, ylabel) in zip(axes.flat, panels):
        part = frame[frame["metric"] == metric]
        if part.empty:
            ax.set_visible(False)
            continue
        data = part.copy()
        if metric in ("deletion", "insertion"):  # texts differ in length: each curve interpolated on one grid
            data = _on_grid(data)
        sns.lineplot(data=data, x="step", y="value", hue="method", hue_order=methods, errorbar="se",
                     marker="o" if metric in ("comprehensiveness", "sufficiency") else None, ax=ax,
                     legend=ax is axes.flat[0])
        if metric in ("comprehensiveness", "sufficiency"):
            ax.set_xscale("log")
            steps = sorted(data["step"].unique())
            ax.set_xticks(steps)
            ax.set_xticklabels([f"{s:.0%}" for s in steps])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(metric, loc="left")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
