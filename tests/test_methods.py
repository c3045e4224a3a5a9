"""Baselines behind explain(..., method=...): registry, result type, exact values on linear maps and the
errors (LRP's own tests: test_lrp.py)."""

from __future__ import annotations

import pytest
import torch

from mi_explain import Explanation, SaliencyExplanation, explain, explain_function, load
from mi_explain.methods import METHODS, available_methods, get_method

TEXT = "a rare bird has more than enough charm"
BASELINES = ["gradient", "integrated_gradients", "perturbation", "lrp"]


pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


FAST = {"gradient": {"projections": 4}, "integrated_gradients": {"projections": 4, "n_steps": 4},
        "perturbation": {"steps": 20}, "lrp": {"projections": 4}}


def test_registry_names_and_option_checks():
    assert available_methods() == ["information", *BASELINES]
    assert list(METHODS) == ["information", *BASELINES]
    assert get_method("integrated_gradients", n_steps=8).n_steps == 8
    with pytest.raises(ValueError, match="unknown method 'saliency'"):
        get_method("saliency")
    with pytest.raises(TypeError, match="no option"):
        get_method("gradient", n_steps=3)
    with pytest.raises(ValueError, match="unknown reduction"):
        get_method("lrp", reduction="max")


@pytest.mark.parametrize("method", BASELINES)
def test_explain_method_returns_the_same_explanation(tiny_bert, bert_tokenizer, method, tmp_path):
    e = explain(tiny_bert, bert_tokenizer, "domestic tension and unhappiness", method=method, **FAST[method])
    ref = explain(tiny_bert, bert_tokenizer, "domestic tension and unhappiness", method=method, layers=[0])
    assert isinstance(e, SaliencyExplanation) and isinstance(ref, SaliencyExplanation)
    assert not isinstance(e, Explanation)
    assert e.words == ["domestic", "tension", "and", "unhappiness"] and e.pieces == [1, 1, 1, 2]
    assert e.layers == ["layer 0", "layer 1", "layer 2"] and ref.layers == ["layer 0"]
    assert ref.method == method and ref.options["method"] == method
    assert e.scores.shape == (3, 4) and bool(torch.isfinite(e.scores).all()) and bool((e.scores >= 0).all())
    assert e.scores.abs().sum() > 0
    assert e.method == method and e.options["saliency"]
    for absent in ("sigma", "information", "entropy"):  # formulas of a noise scale: not on a baseline's result
        assert not hasattr(e, absent)
    with pytest.raises(ValueError, match="unknown value 'information'"):
        e.values("information")
    e.save(tmp_path / "e.json")
    back = Explanation.load(tmp_path / "e.json")  # one load for every method: the class written
    assert isinstance(back, SaliencyExplanation) and torch.equal(back.scores, e.scores) and back.method == method
    info = explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[0], progress=False)
    assert type(load(info.save(tmp_path / "i.json"))) is Explanation
    assert "scores" in e.to_dataframe().columns and "<table" in e.to_html()
    e.save_plot(tmp_path / "e.png")


def test_baselines_batch_like_one_by_one_and_keep_the_model(tiny_bert, bert_tokenizer):
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    texts = ["a rare bird", "the film is funny , sad and surprisingly tender"]
    for method in ("gradient", "lrp"):  # the random read-outs do not depend on the batch's padding
        both = explain(tiny_bert, bert_tokenizer, texts, method=method, layers=[1])
        for text, b in zip(texts, both):
            one = explain(tiny_bert, bert_tokenizer, text, method=method, layers=[1])
            assert torch.allclose(b.scores, one.scores, rtol=1e-3, atol=1e-6), (method, text)
    assert all(torch.equal(v, tiny_bert.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in tiny_bert.parameters()) and not tiny_bert.training


def test_information_options_are_refused_for_baselines(tiny_bert, bert_tokenizer):
    with pytest.raises(TypeError, match=r"method 'gradient' has no option\(s\) \['rate'\]"):
        explain(tiny_bert, bert_tokenizer, TEXT, method="gradient", rate=0.5)
    with pytest.raises(ValueError, match="reference_texts .* does not apply to 'lrp'"):
        explain(tiny_bert, bert_tokenizer, TEXT, method="lrp", reference_texts=["a b", "c d"])
    with pytest.raises(ValueError, match="unknown method"):
        explain(tiny_bert, bert_tokenizer, TEXT, method="nope")


# --------------------------------------------------------------------------------------- exact values

def _linear_phi(a: torch.Tensor):
    """s = A·vec(x): A [D, n·K]."""
    return lambda xt: xt.reshape(xt.shape[0], -1) @ a.T


def test_gradient_and_ig_are_exact_on_a_linear_map():
    torch.manual_seed(0)
    n, k, d = 4, 3, 5
    a, x = torch.randn(d, n * k), torch.randn(n, k)
    a3 = a.view(d, n, k)
    g = explain_function(_linear_phi(a), x, method="gradient", reduction="sum")
    assert torch.allclose(g.scores[0], a3.sum(0).abs().mean(-1), atol=1e-5)
    ig = explain_function(_linear_phi(a), x, method="integrated_gradients", reduction="sum", n_steps=2)
    assert torch.allclose(ig.scores[0], (a3.sum(0) * x).sum(-1).abs(), atol=1e-4)
    assert max(ig.diagnostics["ig_delta"]) < 1e-4
    # "vector": the norm over the D units, from random ±1 read-outs (unbiased for the square)
    gv = explain_function(_linear_phi(a), x, method="gradient", projections=512)
    assert torch.allclose(gv.scores[0], a3.norm(dim=0).mean(-1), rtol=0.12)
    iv = explain_function(_linear_phi(a), x, method="integrated_gradients", projections=512, n_steps=2)
    assert torch.allclose(iv.scores[0], (a3 * x).sum(-1).norm(dim=0), rtol=0.12)
    lv = explain_function(_linear_phi(a), x, method="lrp", projections=512, epsilon=0.0)
    assert torch.allclose(lv.scores[0], iv.scores[0], rtol=1e-4)  # linear map: LRP-0 = IG = gradient × input


def test_signed_ig_and_lrp_are_the_signed_shares_on_a_linear_map():
    """signed=True keeps each word's share of S with its sign (closed form on a linear map: Σ_k a_{ik} x_{ik});
    its magnitude is the unsigned score, the shares add up to S(x) − S(0), and only a scalar read-out is
    accepted."""
    torch.manual_seed(1)
    n, k, d = 5, 3, 4
    a, x = torch.randn(d, n * k), torch.randn(n, k)
    share = (a.view(d, n, k).sum(0) * x).sum(-1)
    assert (share > 0).any() and (share < 0).any()  # both signs occur, so the test can tell them apart
    for method, opts in (("integrated_gradients", {"n_steps": 2}), ("lrp", {"epsilon": 0.0})):
        signed = explain_function(_linear_phi(a), x, method=method, reduction="sum", signed=True, **opts)
        plain = explain_function(_linear_phi(a), x, method=method, reduction="sum", **opts)
        assert torch.allclose(signed.scores[0], share, atol=1e-4), method
        assert torch.allclose(plain.scores[0], share.abs(), atol=1e-4), method
        assert float(signed.scores[0].sum()) == pytest.approx(float((x.flatten() @ a.T).sum()), abs=1e-3)
        assert signed.options["signed"] is True and "signed" in signed.options["saliency_label"]
        with pytest.raises(ValueError, match="signed=True needs a scalar read-out"):
            explain_function(_linear_phi(a), x, method=method, signed=True, **opts)  # "vector": random signs
        with pytest.raises(TypeError, match="signed must be"):
            explain_function(_linear_phi(a), x, method=method, reduction="sum", signed="yes", **opts)


def test_perturbation_keeps_exactly_the_words_the_state_reads():
    torch.manual_seed(0)
    w = torch.randn(3, 8)

    def phi(xt):
        return {"reads word 1": torch.tanh(xt[:, 1] @ w), "reads words 0, 3": torch.tanh((xt[:, 0] + xt[:, 3]) @ w)}

    e = explain_function(phi, torch.randn(4, 3), method="perturbation", steps=150)
    assert e.layers == ["reads word 1", "reads words 0, 3"]
    assert e.scores[0, 1] > 0.6 and bool((e.scores[0, [0, 2, 3]] < 0.05).all()), e.scores
    assert bool((e.scores[1, [0, 3]] > 0.5).all()) and bool((e.scores[1, [1, 2]] < 0.05).all()), e.scores
    # the early stop: same mask (to the tolerance's order) in fewer steps; tol=0 runs every step
    x = torch.randn(4, 3)
    full = explain_function(phi, x, method="perturbation", steps=400, tol=0.0)
    early = explain_function(phi, x, method="perturbation", steps=400, tol=1e-3)
    assert full.steps == 400 and early.steps < 400 and early.steps % 10 == 0
    assert torch.allclose(early.scores, full.scores, atol=0.05)
    with pytest.raises(ValueError, match="tol"):
        explain_function(phi, x, method="perturbation", tol=-1.0)


def test_signed_perturbation_drops_the_words_that_argue_against_the_score():
    """A linear score with contributions c = +2, −1.5, 0, +0.8 (score 1.3): the two-sided preservation mask only
    reproduces the score's value (Σ m·c ≈ 1.3, here with part of the first word), the score game
    (signed=True) keeps the positive words whole and drops the one that argues against the score."""
    x = torch.zeros(4, 3)
    x[:, 0] = torch.tensor([2.0, -1.5, 0.0, 0.8])

    def phi(xt):
        return xt[:, :, 0].sum(1, keepdim=True)  # one unit: the score

    plain = explain_function(phi, x, method="perturbation", steps=300).scores[0]
    signed = explain_function(phi, x, method="perturbation", steps=300, signed=True)
    m = signed.scores[0]
    c = x[:, 0]
    assert abs(float((plain * c).sum()) - 1.3) < 0.15, plain
    assert m[1] < 0.1 and float((m * c).sum()) > 2.6, m
    assert m[0] > 0.9 and m[3] > 0.9 and m[2] < 0.1, m
    assert signed.options["signed"] is True
    with pytest.raises(ValueError, match="one-unit states"):
        explain_function(lambda xt: xt[:, :, 0], x, method="perturbation", steps=5, signed=True)
    with pytest.raises(TypeError, match="signed must be"):
        explain_function(phi, x, method="perturbation", signed=1)


# --------------------------------------------------------------------------------------- LRP


def _toy_explanation(sigma):
    from mi_explain import Explanation

    sigma = torch.tensor(sigma)
    n_layers, n_words = sigma.shape
    return Explanation(words=[f"w{i}" for i in range(n_words)], layers=[f"layer {i}" for i in range(n_layers)],
                       sigma=sigma, tokens=[f"w{i}" for i in range(n_words)], token_to_word=list(range(n_words)),
                       pieces=[1] * n_words, embedding_dim=4, prior_scale=1.0, objective=torch.zeros(n_layers),
                       converged=torch.ones(n_layers, dtype=torch.bool),
                       at_bound=torch.zeros(n_layers, n_words, dtype=torch.bool), steps=1,
                       regularization=torch.ones(n_layers), text="t", target="tokens", options={}, diagnostics={})


def test_consistency_flags_a_sharp_rise_and_nothing_else():
    from mi_explain.methods.information import consistency_flags
    from mi_explain.sweep.report import consistency_lines

    falling = _toy_explanation([[0.1, 0.2], [0.2, 0.3], [0.5, 0.5]])  # information falls layer by layer
    assert consistency_flags(falling) == []
    rising = _toy_explanation([[0.1, 0.9], [0.1, 0.1], [0.2, 0.2]])  # w1: log(1/0.9) → log(1/0.1), +2.1 nats
    flags = consistency_flags(rising)
    assert len(flags) == 1 and flags[0]["from"] == "layer 0" and flags[0]["to"] == "layer 1"
    assert flags[0]["words"] == ["w1"] and flags[0]["information_rise"] > 0.5
    rising.diagnostics["consistency"] = flags
    text = "\n".join(consistency_lines([rising, falling]))
    assert "| layer 0 | layer 1 | 1 |" in text
    assert "No sharp rise" in "\n".join(consistency_lines([falling]))
