"""mi_explain.results.views: the dataframe (long and wide), the plot (labels, marks, errors, the pair
separator, PNG), the HTML fragment and the short repr."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from test_results import LAYERS, make, make_pair  # noqa: E402

from mi_explain.plotting import MARK_HATCH  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_to_dataframe_long_and_wide():
    e = make_pair()
    df = e.to_dataframe()
    assert list(df.columns) == [
        "layer",
        "layer_index",
        "position",
        "word",
        "segment",
        "sigma",
        "entropy",
        "information",
        "at_bound",
        "converged",
        "method",
    ]
    assert len(df) == e.n_layers * e.n_words
    assert df.groupby("layer_index")["converged"].first().tolist() == e.converged.tolist()
    row = df[(df.layer == "layer 1") & (df.word == "sleeps")].iloc[0]
    assert row.layer_index == 2 and row.position == 3 and row.segment == 1
    assert row.sigma == pytest.approx(e.sigma[2, 3].item())
    wide = e.to_dataframe(wide=True)
    assert wide.shape == (3, 4)
    assert list(wide.index) == LAYERS
    assert list(wide.columns) == ["0:a", "1:cat", "2:it", "3:sleeps"]
    assert wide.loc["layer 0", "1:cat"] == pytest.approx(e.sigma[1, 1].item())


def test_plot_labels_marks_and_errors():
    e = make()
    ax = e.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == e.words
    assert [t.get_text() for t in ax.get_yticklabels()] == LAYERS
    hatched = [p for p in ax.patches if p.get_hatch() == MARK_HATCH]
    assert len(hatched) == int(e.at_bound.sum()) == 2
    assert ax.figure.axes[-1].get_ylabel().startswith("σ")  # colorbar label
    assert len(ax.texts) == 12  # small map: annotated by default
    assert len(e.plot("information", annotate=False).texts) == 0
    with pytest.raises(ValueError, match="sigma, information, entropy"):
        e.plot("mutual")


def test_plot_pair_has_separator():
    ax = make_pair().plot("entropy", title="pair")
    xs = [line.get_xdata()[0] for line in ax.get_lines()]
    assert xs == [2]
    assert ax.get_title(loc="left") == "pair"


def test_save_plot_png(tmp_path):
    path = make().save_plot(tmp_path / "e.png", value="information")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert plt.get_fignums() == []


def test_to_html_escapes_words():
    e = make(words=["a", "<b>&", "bird", "flies"])
    out = e.to_html()
    assert "&lt;b&gt;&amp;" in out
    assert "<b>&" not in out
    assert "<script" not in out and out.count("<tr>") == 3
    assert "[CLS]" not in out
    assert e._repr_html_() in out and not e._repr_html_().startswith("<!DOCTYPE")  # the notebook fragment


def test_repr_compact():
    e = make()
    text = repr(e)
    first = text.splitlines()[0]
    assert "layers=3" in first and "words=4" in first and "converged=2/3" in first
    assert "'a rare bird flies'" in first
    # header, words, 3 layers, and one line naming the unconverged layer (also marked on its row)
    lines = text.splitlines()
    assert len(lines) == 2 + 3 + 1
    bad = [i for i in range(3) if not bool(e.converged[i])]
    assert len(bad) == 1 and lines[2 + bad[0]].endswith("(not converged)")
    assert lines[-1].startswith("not converged (values may be wrong): " + e.layers[bad[0]])


def test_repr_large_stays_short():
    n_layers, n_words = 40, 60
    e = make(
        words=[f"word{j}" for j in range(n_words)],
        layers=[f"layer {i}" for i in range(n_layers)],
        sigma=torch.rand(n_layers, n_words),
        tokens=[],
        token_to_word=[],
        pieces=[1] * n_words,
        objective=torch.zeros(n_layers),
        converged=torch.ones(n_layers, dtype=torch.bool),
        at_bound=torch.zeros(n_layers, n_words, dtype=torch.bool),
        regularization=torch.ones(n_layers),
        text="x" * 200,
    )
    lines = repr(e).splitlines()
    assert len(lines) < 25
    assert max(len(line) for line in lines) < 140
    assert "…" in lines[1]


def test_to_dataframe_carries_the_standard_error_of_log_sigma():
    e = make_pair()
    se = [[0.01 * (3 * l + w) for w in range(e.n_words)] for l in range(e.n_layers)]
    e.diagnostics = {**(e.diagnostics or {}), "stderr": se}
    e.converged = torch.tensor([True, False, True])
    df = e.to_dataframe()
    row = df[(df.layer_index == 1) & (df.position == 2)].iloc[0]
    assert row.log_sigma_se == pytest.approx(0.05) and not row.converged
    assert df[df.layer_index == 2]["converged"].all()
