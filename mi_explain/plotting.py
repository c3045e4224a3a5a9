"""Every figure of the package, in one place.

* maps: :func:`heatmap` (any [rows, columns] map; used by results' ``plot``), :func:`method_map` (one
  result of any method as a panel: σ relative to the prior on a log scale for ours, the score for
  baselines), :func:`stacked_maps` (several results, one panel each; Fig. 7);
* per-layer curves: :func:`information_per_layer` (mean information per layer, one line per model, from
  results or from per-layer tables), :func:`word_attributes` (r_i,c per layer and concept; Fig. 8),
  :func:`training_information` (information per layer over training steps; Fig. 9);
* training: :func:`training_curves` (a score and the train loss against epochs, one column per task);
* words: :func:`word_bars` (words most often used for prediction; Fig. 6), :func:`relative_use_map`
  (relative use per model and word; Fig. 5);
* :func:`save_figure` writes a figure and closes it.

matplotlib and seaborn are imported inside the functions, so importing this module is cheap. Nothing here
selects a backend or calls ``show``: on a headless machine matplotlib falls back to Agg by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MARK_HATCH = "///"
_CONTENT, _STOP = "#2b7bba", "#f28e2b"
#: training-curve values → axis label.
TRAINING_VALUES = {
    "information": "information (nats/dim)",
    "conditional_entropy": "H(X|S) (nats/sentence)",
    "conditional_entropy_per_dim": "H(X|S) (nats/dim)",
}


def training_curves(panels: Sequence[Mapping[str, Any]], title: str = ""):  # noqa: ANN201
    """One column per panel: the score against epochs on top (validation solid, held-out slice dashed, the
    reported score a star, the target dotted), the train loss below.

    panels: ``{"title", "ylabel", "runs": [{"name", "color", "epochs", "validation" (list or None: not scored
    during training), "heldout", "score" (float or None), "target", "train_loss"}]}``.  Returns the figure."""
    import matplotlib.pyplot as plt

    n = max(len(panels), 1)
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 6.4), squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0][col], axes[1][col]
        for run in panel["runs"]:
            c, name, ep = run["color"], run["name"], run["epochs"]
            if run["validation"] is not None:
                top.plot(ep, run["validation"], "-o", ms=3, color=c, label=name)
                top.plot(ep, run["heldout"], "--", color=c, alpha=0.6)
            else:
                top.plot(ep, run["heldout"], "--o", ms=3, color=c, alpha=0.8, label=f"{name} (held-out only)")
            if run["score"] is not None:
                top.plot([ep[-1]], [run["score"]], "*", ms=10, color=c)
            top.axhline(run["target"], color=c, lw=0.8, ls=":")
            bottom.plot(ep, run["train_loss"], "-", color=c, label=name)
        top.set_title(panel["title"], loc="left")
        top.set_ylabel(panel["ylabel"])
        bottom.set_xlabel("epoch")
        bottom.set_ylabel("train loss (mean between evaluations)")
        top.legend(fontsize=7)
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig, path, dpi: int = 130):  # noqa: ANN001, ANN201
    """Write ``fig`` to ``path`` (format by extension; parent folders created), close it, return the Path."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", dpi=dpi)
    plt.close(fig)
    return path


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


def _information_curve(group: Any) -> tuple[list[str], Any, Any]:
    """(layer labels, mean [L], standard error [L] or None) from results or from a per-layer table."""
    import numpy as np

    if hasattr(group, "columns"):  # a table with columns layer, information[, information_sem]
        se = group["information_sem"].to_numpy(dtype=float) if "information_sem" in group.columns else None
        return list(group["layer"]), group["information"].to_numpy(dtype=float), se
    group = [group] if hasattr(group, "information") else list(group)
    if not group:
        raise ValueError("no explanations in a group")
    n_layers = {e.n_layers for e in group}
    if len(n_layers) != 1:
        raise ValueError(f"explanations differ in number of layers: {sorted(n_layers)}")
    info = np.stack([e.information.double().numpy() for e in group])  # [n_texts, n_layers]
    se = np.nanstd(info, axis=0, ddof=1) / math.sqrt(len(group)) if len(group) > 1 else None
    return list(group[0].layers), np.nanmean(info, axis=0), se


def information_per_layer(explanations: Mapping[str, Any], ax=None, *, title: str | None = None):  # noqa: ANN001
    """Line plot of the mean ``information`` per layer (nats/dim), one line per model.

    explanations: {model label: Explanation, list of Explanations, or a per-layer table with columns
    ``layer``, ``information`` and optionally ``information_sem`` (e.g. from
    :func:`mi_explain.information.corpus_information`)}.  A band shows ± one standard error over texts.
    x = layer index; tick labels are the layer labels of the model with the most layers.  Returns the Axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not explanations:
        raise ValueError("explanations is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    longest: list[str] = []
    for name, group in explanations.items():
        try:
            labels, mean, se = _information_curve(group)
        except ValueError as err:
            raise ValueError(f"{name!r}: {err}") from err
        x = np.arange(len(mean))
        (line,) = ax.plot(x, mean, marker="o", label=str(name))
        if se is not None and np.isfinite(se).any():
            se = np.nan_to_num(se)
            ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2, linewidth=0)
        if len(labels) > len(longest):
            longest = labels
    ax.set_xticks(np.arange(len(longest)))
    many = len(longest) > 8
    ax.set_xticklabels(longest, rotation=45 if many else 0, ha="right" if many else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("information (nats/dim)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, loc="left")
    return ax


def method_map(result: Any, ax=None, *, rows: Sequence[str] | None = None, title: str = ""):  # noqa: ANN001
    """One result of any method as a heatmap panel: ours as log10(σ/σ_prior) (small = kept; comparable
    across models), a baseline's scores as they are (large = salient).  rows: other row labels."""
    import numpy as np

    if hasattr(result, "sigma"):
        values = np.log10(result.sigma.double().numpy() / result.prior_scale)
        cmap, label = "GnBu_r", "log10 σ/σ_prior (small = kept)"
    else:
        values, cmap = result.values().double().numpy(), "GnBu"
        label = str(result.options.get("saliency_label", result.method))
    return heatmap(values, list(rows or result.layers), result.words, ax=ax, cmap=cmap, cbar_label=label,
                   annotate=False, title=title or None)


def method_grid(rows: Mapping[str, Any], methods: Sequence[str], titles: Mapping[str, str] | None = None):  # noqa: ANN201
    """A grid of :func:`method_map` panels: one row per study part, one column per method.  rows: {part:
    ({method: result}, row labels or None)}; a missing method leaves its panel empty.  Returns the Figure."""
    import matplotlib.pyplot as plt

    titles = titles or {}
    names = list(rows)
    fig, axes = plt.subplots(len(names), len(methods), figsize=(4.6 * len(methods), 3.6 * len(names)),
                             squeeze=False)
    for r, name in enumerate(names):
        maps, labels = rows[name]
        for c, m in enumerate(methods):
            if m in maps:
                method_map(maps[m], axes[r][c], rows=labels, title=f"{name}: {titles.get(m, m)}" if len(names) > 1
                           else titles.get(m, m))
            else:
                axes[r][c].axis("off")
    fig.tight_layout()
    return fig


def stacked_maps(maps: Mapping[str, Any], *, value: str = "sigma", title: str = ""):  # noqa: ANN201
    """Fig. 7 analog: one result per model, stacked panels of ``value`` per layer (rows) and word. Returns
    the Figure."""
    import matplotlib.pyplot as plt

    names = list(maps)
    n_words = max(e.n_words for e in maps.values())
    heights = [0.4 * e.n_layers + 1.9 for e in maps.values()]  # inches: rows + title + word labels
    width = min(max(5.0, 0.62 * n_words + 3.0), 26.0)
    fig, axes = plt.subplots(len(names), 1, figsize=(width, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, n in zip(axes[:, 0], names):
        maps[n].plot(ax=ax, value=value, title=n, annotate=maps[n].n_words <= 20)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def relative_use_map(values: Mapping[str, Any], words: Mapping[str, Sequence[str]], *, title: str = ""):  # noqa: ANN201
    """Fig. 5 analog: rows = models, columns = words, shade = relative use (1 = most used).  values:
    {model: [W] array}; words: {model: its words}.  One heatmap when all models share the words, else one
    panel per model.  Returns the Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(values)
    if all(list(words[n]) == list(words[names[0]]) for n in names):
        cols = list(words[names[0]])
        width = min(max(4.0, 0.6 * len(cols) + 2.5), 24.0)
        fig, ax = plt.subplots(figsize=(width, 0.45 * len(names) + 1.6))
        heatmap(np.stack([np.asarray(values[n], dtype=float) for n in names]), names, cols, ax=ax, cmap="GnBu",
                cbar_label="relative use (1 = smallest σ)", annotate=False, title=title or None, fmt=".2f")
        return fig
    fig, axes = plt.subplots(len(names), 1, figsize=(12, 1.4 * len(names) + 0.6), squeeze=False)
    for ax, n in zip(axes[:, 0], names):
        heatmap(np.asarray(values[n], dtype=float)[None], [n], list(words[n]), ax=ax, cmap="GnBu",
                cbar_label="relative use", annotate=False)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def word_bars(counts: Mapping[str, Any], n: int = 15, *, title: str = ""):  # noqa: ANN201
    """Fig. 6 analog: per model (one panel each), the ``n`` words most often used for prediction.

    counts: {model: DataFrame(word, count, sentences, stopword)}.  Stopwords and punctuation in orange,
    other words in blue.  Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = list(counts)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 0.28 * n + 1.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        df = counts[name].head(n).iloc[::-1]
        ax.barh(range(len(df)), df["count"], color=[_STOP if s else _CONTENT for s in df["stopword"]])
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
    return fig


def word_attributes(attrs: Any, ax=None, *, logy: bool = False, title: str | None = None,  # noqa: ANN001
                    legend: bool = True, all_words: str = "all words"):
    """Line plot of r_i,c (nats) per layer, one line per concept (a :class:`~mi_explain.attributes.WordAttributes`),
    legend ordered from the largest r to the smallest; ``all_words`` (r = A_i) dashed grey; layers whose σ
    sits at its upper bound get hollow markers.  The title gives the word and the max/min ratio of r."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.8))
    x = np.arange(attrs.n_layers)
    bound = np.asarray(attrs.at_bound, dtype=bool)
    for c in attrs.ranking():
        y = np.asarray(attrs.r[c], dtype=float)
        style = {"color": "0.45", "linestyle": "--"} if c == all_words else {}
        (line,) = ax.plot(x, y, marker="o", label=c, **style)
        if bound.any():
            ax.plot(x[bound], y[bound], marker="o", linestyle="none", markerfacecolor="white",
                    markeredgecolor=line.get_color())
    ax.set_xticks(x)
    many = attrs.n_layers > 8 or any(len(s) > 10 for s in attrs.layers)
    ax.set_xticklabels(attrs.layers, rotation=45 if many else 0, ha="right" if many else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("$r_{i,c}$ (nats)")
    if logy:
        ax.set_yscale("log")
    if title is None:
        title = f"“{attrs.word}”"
        if len(attrs.r) > 1:
            title += f"   max/min r = {float(np.nanmax(attrs.max_min_ratio())):.3g}"
    ax.set_title(title, loc="left")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(frameon=False, fontsize=8)
    return ax


def word_attributes_panels(results: Sequence[tuple[str, Any]], *, suptitle: str = "", logy: bool = False):  # noqa: ANN201
    """Fig. 8: one :func:`word_attributes` panel per model (the legend on the last one).  results: [(model
    name, WordAttributes)].  Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(max(6.4, 4.6 * len(results)), 4.1), squeeze=False)
    for ax, (name, wa) in zip(axes[0], results):
        word_attributes(wa, ax, logy=logy, title=f"{name}   max/min r = {float(wa.max_min_ratio().min()):.3g}",
                        legend=ax is axes[0][-1])
    if suptitle:
        fig.suptitle(suptitle, x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


def training_information(frames: Mapping[str, Any], *, value: str = "information", ncols: int | None = None,
                         band: bool = False):  # noqa: ANN201
    """Information per layer over training steps (paper Fig. 9): one panel per run, one line per layer.

    frames: {run name: DataFrame with columns step, layer, layer_index and ``value``} (the callback's
    history).  value: one of :data:`TRAINING_VALUES`.  band: ± one standard error over probe texts
    (``information`` only).  Returns a Figure built without pyplot (safe inside a training loop).
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    if value not in TRAINING_VALUES:
        raise ValueError(f"value must be one of {sorted(TRAINING_VALUES)}, got {value!r}")
    if not frames:
        raise ValueError("histories is empty: nothing to plot")
    n = len(frames)
    ncols = min(n, 3) if ncols is None else max(1, int(ncols))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(5.0 * ncols, 3.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    cmap = colormaps["viridis"]
    for ax, (name, frame) in zip(axes, frames.items()):
        if value not in frame.columns:
            raise ValueError(f"history {name!r} has no column {value!r}")
        layers = frame.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
        for i, layer in enumerate(layers):
            rows = frame[frame["layer"] == layer]
            x, y = rows["step"].to_numpy(float), rows[value].to_numpy(float)
            color = cmap(i / max(len(layers) - 1, 1) * 0.9)
            ax.plot(x, y, marker="o" if len(x) <= 30 else None, markersize=3, color=color, label=str(layer))
            if band and value == "information" and "information_sem" in rows.columns:
                se = rows["information_sem"].to_numpy(float)
                if np.isfinite(se).any():
                    ax.fill_between(x, y - se, y + se, color=color, alpha=0.15, linewidth=0)
        ax.set_title(name, loc="left")
        ax.set_xlabel("training step")
        ax.set_ylabel(TRAINING_VALUES[value])
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7, ncols=2 if len(layers) > 8 else 1)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


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


def sigma_maps(maps: Mapping[str, Mapping[str, Any]], *, title: str = ""):  # noqa: ANN201
    """Fig. 7 from saved arrays (no Explanation needed): one panel per model of σ per layer (rows) and word.

    maps: {model: {"sigma": [L, W], "layers": [L] labels, "words": [W], "at_bound": [L, W] (optional)}}.
    Returns the Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(maps)
    if not names:
        raise ValueError("maps is empty: nothing to draw")
    n_words = max(len(m["words"]) for m in maps.values())
    heights = [0.4 * len(m["layers"]) + 1.9 for m in maps.values()]
    fig, axes = plt.subplots(len(names), 1, figsize=(min(max(5.0, 0.62 * n_words + 3.0), 26.0), sum(heights) + 0.4),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, n in zip(axes[:, 0], names):
        m = maps[n]
        marks = np.asarray(m["at_bound"], dtype=bool) if m.get("at_bound") is not None else None
        heatmap(np.asarray(m["sigma"], dtype=float), list(m["layers"]), list(m["words"]), ax=ax, title=n,
                cbar_label="σ", annotate=len(m["words"]) <= 20, marks=marks)
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def attribute_lines(frame: Any, *, title: str = ""):  # noqa: ANN201
    """Fig. 8 from a table (columns model, layer, layer_index, concept, r): r_{i,c} per layer, one line per
    concept, one panel per model (lower r = the layer uses that attribute of the word more).  Returns the Figure."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(frame["model"]))
    if not models:
        raise ValueError("the attribute table is empty: nothing to draw")
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models) + 1.0, 3.4), squeeze=False)
    for ax, name in zip(axes[0], models):
        part = frame[frame["model"] == name]
        for concept, rows in part.groupby("concept", sort=False):
            rows = rows.sort_values("layer_index")
            ax.plot(rows["layer_index"], rows["r"], "-o", ms=3, label=str(concept))
        labels = list(part.sort_values("layer_index")["layer"].drop_duplicates())
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=_tick_rotation(labels))
        ax.set_title(name, loc="left")
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("$r_{i,c}$ (lower = used more)")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig
