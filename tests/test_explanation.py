import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mi_explain.plotting import MARK_HATCH, information_per_layer  # noqa: E402
from mi_explain.results import FORMAT, Explanation  # noqa: E402

LAYERS = ["embeddings", "layer 0", "layer 1"]
LOG_2PI_E = math.log(2 * math.pi * math.e)


def make(**overrides) -> Explanation:
    """3 layers x 4 words; "flies" is two word pieces; [CLS]/[SEP] are not perturbed."""
    sigma = torch.tensor(
        [[0.1, 0.2, 0.3, 0.4], [0.5, 1.5, 0.25, 2.0], [3.0, 0.05, 1.0, 0.75]], dtype=torch.float32
    )
    kwargs = dict(
        words=["a", "rare", "bird", "flies"],
        layers=list(LAYERS),
        sigma=sigma,
        tokens=["[CLS]", "a", "rare", "bird", "fl", "##ies", "[SEP]"],
        token_to_word=[-1, 0, 1, 2, 3, 3, -1],
        pieces=[1, 1, 1, 2],
        embedding_dim=4,
        prior_scale=1.0,
        objective=torch.tensor([0.5, 0.25, -0.125]),
        converged=torch.tensor([True, True, False]),
        at_bound=sigma >= 2.0,
        steps=120,
        regularization=torch.tensor([0.7, float("nan"), 1.25]),
        text="a rare bird flies",
        options={"rate": 0.1, "samples": 8, "seed": 0, "model": "tiny"},
        diagnostics={"stderr": [0.01, 0.02, 0.03], "seconds": 1.5},
    )
    kwargs.update(overrides)
    return Explanation(**kwargs)


def make_pair() -> Explanation:
    """Text pair: ("a cat", "it sleeps") with [CLS] a cat [SEP] it sleeps [SEP]."""
    g = torch.Generator().manual_seed(0)
    sigma = torch.rand(3, 4, generator=g) * 2 + 0.01
    return make(
        words=["a", "cat", "it", "sleeps"],
        sigma=sigma,
        tokens=["[CLS]", "a", "cat", "[SEP]", "it", "sleeps", "[SEP]"],
        token_to_word=[-1, 0, 1, -1, 2, 3, -1],
        pieces=[1, 1, 1, 1],
        at_bound=torch.zeros(3, 4, dtype=torch.bool),
        text=("a cat", "it sleeps"),
        segments=[0, 0, 1, 1],
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"sigma": torch.ones(3, 5)}, "sigma must be 2-D"),
        ({"sigma": torch.ones(12)}, "sigma must be 2-D"),
        ({"sigma": torch.ones(2, 4)}, "sigma must be 2-D"),
        ({"pieces": [1, 1, 2]}, "pieces"),
        ({"token_to_word": [-1, 0, 1, 2, 3, 3]}, "one entry per token"),
        ({"token_to_word": [-1, 0, 1, 2, 4, 4, -1]}, r"\[-1, 4\)"),
        ({"token_to_word": [-1, 0, 1, 2, 3, 2, -1]}, "disagree"),
        ({"converged": torch.tensor([True, False])}, "converged"),
        ({"objective": torch.zeros(4)}, "objective"),
        ({"at_bound": torch.zeros(3, 3, dtype=torch.bool)}, "at_bound"),
        ({"regularization": torch.zeros(2)}, "regularization"),
        ({"segments": [0, 1]}, "segments"),
        ({"segments": [0, 1, 2, 2]}, "segments"),
    ],
)
def test_shape_validation(overrides, match):
    with pytest.raises(ValueError, match=match):
        make(**overrides)


def test_lists_become_tensors():
    e = make(
        sigma=[[1, 2, 3, 4]] * 3,
        objective=[0.0, 1.0, 2.0],
        converged=[1, 0, 1],
        at_bound=[[False] * 4] * 3,
        regularization=[1.0, 1.0, 1.0],
    )
    assert e.sigma.dtype == torch.float32 and e.sigma.shape == (3, 4)
    assert e.converged.dtype == torch.bool and e.converged.tolist() == [True, False, True]
    assert e.at_bound.dtype == torch.bool
    assert (e.n_layers, e.n_words) == (3, 4)


# ---------------------------------------------------------------- derived quantities
def test_entropy_matches_eq6():
    e = make()
    h = e.entropy
    assert h.shape == (3, 4)
    # word 1 ("rare"): K = 1 * 4, sigma = 1.5 in layer 0
    k = 4
    assert h[1, 1].item() == pytest.approx(k / 2 * LOG_2PI_E + k * math.log(1.5), rel=1e-6)
    # word 3 ("flies", two pieces): K = 2 * 4, sigma = 0.4 in the embeddings layer
    k = 8
    assert h[0, 3].item() == pytest.approx(k / 2 * LOG_2PI_E + k * math.log(0.4), rel=1e-6)


def test_word_information_clamps_at_zero():
    e = make(prior_scale=1.0)
    info = e.word_information
    assert info[1, 1].item() == 0.0  # sigma 1.5 > prior: fully discarded
    assert info[2, 0].item() == 0.0  # sigma 3.0
    assert info[2, 2].item() == 0.0  # sigma == prior
    assert info[0, 0].item() == pytest.approx(math.log(1.0 / 0.1), rel=1e-6)
    assert info[1, 2].item() == pytest.approx(math.log(4.0), rel=1e-6)
    assert e.information[1].item() == pytest.approx((math.log(2.0) + math.log(4.0)) / 4, rel=1e-6)
    assert torch.all(make(prior_scale=2.0).word_information >= info)


def test_layer_lookup():
    e = make()
    assert torch.equal(e.layer("layer 0"), e.sigma[1])
    assert torch.equal(e.layer(-1), e.sigma[2])
    with pytest.raises(KeyError, match="embeddings"):
        e.layer("layer 7")
    with pytest.raises(IndexError, match="layer 1"):
        e.layer(3)


# ---------------------------------------------------------------- serialization
def test_save_load_round_trip_exact(tmp_path):
    g = torch.Generator().manual_seed(1)
    sigma = torch.rand(3, 4, generator=g) ** 3  # float32 values with many digits
    e = make(sigma=sigma, at_bound=sigma > 0.5)
    path = e.save(tmp_path / "sub" / "e.json")

    def no_nan(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_nan)
    assert raw["format"] == FORMAT

    back = Explanation.load(path)
    assert back.sigma.dtype == torch.float32 and torch.equal(back.sigma, e.sigma)
    assert torch.equal(back.objective, e.objective)
    assert torch.equal(back.converged, e.converged) and back.converged.dtype == torch.bool
    assert torch.equal(back.at_bound, e.at_bound)
    assert torch.allclose(back.regularization, e.regularization, equal_nan=True)
    assert math.isnan(back.regularization[1].item())
    for name in (
        "words",
        "layers",
        "tokens",
        "token_to_word",
        "pieces",
        "embedding_dim",
        "prior_scale",
        "steps",
        "text",
        "segments",
        "target",
        "options",
        "diagnostics",
    ):
        assert getattr(back, name) == getattr(e, name), name


def test_round_trip_pair_keeps_tuple_and_segments(tmp_path):
    e = make_pair()
    back = Explanation.load(e.save(tmp_path / "pair.json"))
    assert back.text == ("a cat", "it sleeps") and isinstance(back.text, tuple)
    assert back.segments == [0, 0, 1, 1]
    assert torch.equal(back.sigma, e.sigma)


def test_load_rejects_wrong_format(tmp_path):
    d = make().to_dict()
    d["format"] = "something/else"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match="mi_explain.result/2"):
        Explanation.load(path)
    with pytest.raises(ValueError, match="format"):
        Explanation.from_dict({"words": []})


# ---------------------------------------------------------------- tables
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
        "method",
    ]
    assert len(df) == e.n_layers * e.n_words
    row = df[(df.layer == "layer 1") & (df.word == "sleeps")].iloc[0]
    assert row.layer_index == 2 and row.position == 3 and row.segment == 1
    assert row.sigma == pytest.approx(e.sigma[2, 3].item())
    wide = e.to_dataframe(wide=True)
    assert wide.shape == (3, 4)
    assert list(wide.index) == LAYERS
    assert list(wide.columns) == ["0:a", "1:cat", "2:it", "3:sleeps"]
    assert wide.loc["layer 0", "1:cat"] == pytest.approx(e.sigma[1, 1].item())


# ---------------------------------------------------------------- plots
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
    ax = information_per_layer({"small": [short, short], "deep": deep})
    assert [t.get_text() for t in ax.get_xticklabels()] == deep.layers
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["small", "deep"]
    assert list(lines[1].get_ydata()) == pytest.approx([math.log(2.0)] * 4)
    assert ax.get_ylabel() == "information (nats/dim)"


# ---------------------------------------------------------------- display
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


def test_jsonl_append_read_and_interrupted_last_line(tmp_path):
    from mi_explain.results import append_jsonl, read_jsonl

    path = tmp_path / "runs" / "sigma.jsonl"
    a, b = make(), make_pair()
    append_jsonl(path, a, {"index": 3})
    append_jsonl(path, [b], [{"index": 7}])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"format": "mi_explain.expl')  # a writer killed mid-line
    got = read_jsonl(path, with_meta=True)
    assert [m["index"] for _, m in got] == [3, 7]
    assert torch.equal(got[0][0].sigma, a.sigma) and got[1][0].text == b.text
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(ValueError, match="line 1"):
        read_jsonl(path)
