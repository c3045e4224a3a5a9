"""mi_explain.plotting, the one home of figures: what is drawn is the data given (not just "a figure")."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from test_results import make

from mi_explain import Explanation, SaliencyExplanation, plotting


def _result(sigma: list[list[float]], method: str = "information"):  # noqa: ANN202
    s = torch.tensor(sigma)
    n_l, n_w = s.shape
    common = dict(words=[f"w{j}" for j in range(n_w)], layers=[f"layer {i}" for i in range(n_l)], tokens=[],
                  token_to_word=[], pieces=[1] * n_w, embedding_dim=2, prior_scale=2.0, objective=torch.zeros(n_l),
                  converged=torch.ones(n_l, dtype=torch.bool), steps=1, method=method)
    if method == "information":
        return Explanation(sigma=s, at_bound=torch.zeros(n_l, n_w, dtype=torch.bool),
                           regularization=torch.ones(n_l), **common)
    return SaliencyExplanation(scores=s, **common)


def test_heatmap_draws_the_values_marks_and_separators():
    values = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])
    marks = np.array([[True, False, False], [False, False, True]])
    ax = plotting.heatmap(values, ["a", "b"], ["x", "y", "z"], marks=marks, separators=[2])
    drawn = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(2, 3)
    np.testing.assert_array_equal(np.isnan(drawn), np.isnan(values))
    np.testing.assert_allclose(drawn[~np.isnan(drawn)], values[~np.isnan(values)])
    hatched = [p for p in ax.patches if p.get_hatch() == plotting.MARK_HATCH]
    assert len(hatched) == 2 and sorted(p.get_xy() for p in hatched) == [(0, 0), (2, 1)]
    assert [line.get_xdata()[0] for line in ax.lines] == [2]
    with pytest.raises(ValueError, match="2 row labels and 2 column labels"):
        plotting.heatmap(values, ["a", "b"], ["x", "y"])


def test_information_per_layer_from_results_and_from_tables_agree():
    a, b = _result([[0.5, 1.0], [1.0, 4.0]]), _result([[1.0, 1.0], [2.0, 2.0]])
    ax = plotting.information_per_layer({"m": [a, b]})
    expected = (a.information + b.information).double().numpy() / 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected, rtol=1e-6)
    table = pd.DataFrame({"layer": a.layers, "information": expected, "information_sem": [0.1, 0.2]})
    ax2 = plotting.information_per_layer({"m": table})
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), ax.lines[0].get_ydata())
    band = ax2.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(float((expected - [0.1, 0.2]).min()))
    assert band.max() == pytest.approx(float((expected + [0.1, 0.2]).max()))
    with pytest.raises(ValueError, match="'m': explanations differ in number of layers"):
        plotting.information_per_layer({"m": [a, _result([[1.0, 1.0]])]})


def test_method_map_shows_log_sigma_for_ours_and_scores_for_baselines():
    ours = _result([[0.2, 2.0]])
    ax = plotting.method_map(ours)
    np.testing.assert_allclose(ax.collections[0].get_array().ravel(), np.log10([0.1, 1.0]), rtol=1e-6)
    base = _result([[0.3, 0.7]], method="gradient")
    ax = plotting.method_map(base, rows=["only row"])
    np.testing.assert_allclose(ax.collections[0].get_array().ravel(), [0.3, 0.7], rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["only row"]


def test_word_bars_colour_stopwords_and_save_figure_closes(tmp_path):
    import matplotlib.pyplot as plt

    counts = pd.DataFrame({"word": ["the", "great", "film"], "count": [5, 3, 1], "sentences": [5, 3, 1],
                           "stopword": [True, False, False]})
    fig = plotting.word_bars({"bert": counts}, n=3)
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == [1, 3, 5]  # drawn bottom-up: most used at the top
    assert bars[2].get_facecolor() != bars[1].get_facecolor()
    before = len(plt.get_fignums())
    path = plotting.save_figure(fig, tmp_path / "sub" / "bars.png")
    assert path.is_file() and len(plt.get_fignums()) == before - 1


def test_training_information_one_line_per_layer():
    frame = pd.DataFrame({"step": [0, 0, 10, 10], "layer": ["layer 0", "layer 1"] * 2, "layer_index": [0, 1] * 2,
                          "information": [1.0, 2.0, 1.5, 2.5]})
    fig = plotting.training_information({"run": frame})
    lines = fig.axes[0].lines
    assert len(lines) == 2 and list(lines[1].get_ydata()) == [2.0, 2.5]
    with pytest.raises(ValueError, match="value must be one of"):
        plotting.training_information({"run": frame}, value="sigma")


def test_information_per_layer_different_depths():
    short = make()
    deep = make(
        layers=["embeddings", "layer 0", "layer 1", "layer 2"],
        sigma=torch.full((4, 4), 0.5),
        objective=torch.zeros(4),
        converged=torch.ones(4, dtype=torch.bool),
        at_bound=torch.zeros(4, 4, dtype=torch.bool),
        regularization=torch.ones(4),
    )
    ax = plotting.information_per_layer({"small": [short, short], "deep": deep})
    assert [t.get_text() for t in ax.get_xticklabels()] == deep.layers
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["small", "deep"]
    assert list(lines[1].get_ydata()) == pytest.approx([math.log(2.0)] * 4)
    assert ax.get_ylabel() == "information (nats/dim)"


def test_training_curves_one_column_per_task_and_held_out_only_runs() -> None:
    from mi_explain.plotting import training_curves

    run = {"name": "LSTM", "color": "#2ca02c", "epochs": [0.5, 1.0], "validation": [0.7, 0.8], "heldout": [0.72, 0.79],
           "score": 0.81, "target": 0.82, "train_loss": [0.6, 0.4]}
    qqp = {**run, "name": "CNN", "validation": None, "score": None}
    fig = training_curves([{"title": "SST-2", "ylabel": "accuracy", "runs": [run]},
                           {"title": "QQP", "ylabel": "accuracy", "runs": [qqp]}], title="curves")
    axes = fig.axes
    assert len(axes) == 4  # 2 rows × 2 tasks
    top_sst2, top_qqp = axes[0], axes[1]
    assert [t.get_text() for t in top_sst2.get_legend().get_texts()] == ["LSTM"]
    assert [t.get_text() for t in top_qqp.get_legend().get_texts()] == ["CNN (held-out only)"]
    # validation, held-out, the reported score (star) and the target line on the SST-2 panel
    assert len(top_sst2.lines) == 4 and len(top_qqp.lines) == 2
    assert list(top_sst2.lines[0].get_ydata()) == [0.7, 0.8] and top_sst2.get_title(loc="left") == "SST-2"
    import matplotlib.pyplot as plt

    plt.close(fig)
