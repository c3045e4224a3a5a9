"""Baselines behind explain(..., method=...): registry, result type, exact values on linear maps, captum
agreement, LRP conservation on all four model families, and the errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mi_explain import Explanation, explain
from mi_explain.methods import (
    METHODS,
    LRPMode,
    LRPUnsupportedError,
    SaliencyExplanation,
    available_methods,
    explain_function_with,
    explain_with,
    get_method,
    load_explanation,
)

TEXT = "a rare bird has more than enough charm"
BASELINES = ["gradient", "integrated_gradients", "perturbation", "lrp"]


pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


FAST = {"gradient": {"projections": 4}, "integrated_gradients": {"projections": 4, "n_steps": 4},
        "perturbation": {"steps": 20}, "lrp": {"projections": 4}}


def test_registry_names_and_option_checks():
    assert available_methods() == ["information", *BASELINES]
    assert set(METHODS) == set(BASELINES)
    assert get_method("integrated_gradients", n_steps=8).n_steps == 8
    with pytest.raises(ValueError, match="unknown method 'saliency'"):
        get_method("saliency")
    with pytest.raises(TypeError, match="no option"):
        get_method("gradient", n_steps=3)
    with pytest.raises(ValueError, match="unknown reduction"):
        get_method("lrp", reduction="max")


@pytest.mark.parametrize("method", BASELINES)
def test_explain_method_returns_the_same_explanation(tiny_bert, bert_tokenizer, method, tmp_path):
    e = explain_with(method, tiny_bert, bert_tokenizer, "domestic tension and unhappiness", **FAST[method])
    ref = explain(tiny_bert, bert_tokenizer, "domestic tension and unhappiness", method=method, layers=[0])
    assert isinstance(e, SaliencyExplanation) and isinstance(e, Explanation) and isinstance(ref, Explanation)
    assert e.words == ["domestic", "tension", "and", "unhappiness"] and e.pieces == [1, 1, 1, 2]
    assert e.layers == ["layer 0", "layer 1", "layer 2"] and ref.layers == ["layer 0"]
    assert ref.options["method"] == method
    assert e.sigma.shape == (3, 4) and bool(torch.isfinite(e.sigma).all()) and bool((e.sigma >= 0).all())
    assert e.sigma.abs().sum() > 0
    assert e.options["method"] == method and e.options["saliency"]
    assert bool(torch.isnan(e.information).all()) and bool(torch.isnan(e.entropy).all())
    with pytest.raises(ValueError, match="not defined"):
        e.values("information")
    e.save(tmp_path / "e.json")
    back = load_explanation(tmp_path / "e.json")
    assert isinstance(back, SaliencyExplanation) and torch.equal(back.sigma, e.sigma)
    assert not isinstance(load_explanation(explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[0],
                                                   progress=False).save(tmp_path / "i.json")), SaliencyExplanation)
    assert "saliency" in e.to_dataframe().columns and "<table" in e.to_html()
    e.save_plot(tmp_path / "e.png")


def test_baselines_batch_like_one_by_one_and_keep_the_model(tiny_bert, bert_tokenizer):
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    texts = ["a rare bird", "the film is funny , sad and surprisingly tender"]
    for method in ("gradient", "lrp"):  # the random read-outs do not depend on the batch's padding
        both = explain(tiny_bert, bert_tokenizer, texts, method=method, layers=[1])
        for text, b in zip(texts, both):
            one = explain(tiny_bert, bert_tokenizer, text, method=method, layers=[1])
            assert torch.allclose(b.sigma, one.sigma, rtol=1e-3, atol=1e-6), (method, text)
    assert all(torch.equal(v, tiny_bert.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in tiny_bert.parameters()) and not tiny_bert.training


def test_information_options_are_refused_for_baselines(tiny_bert, bert_tokenizer):
    with pytest.raises(ValueError, match="rate"):
        explain(tiny_bert, bert_tokenizer, TEXT, method="gradient", rate=0.5)
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
    g = explain_function_with("gradient", _linear_phi(a), x, reduction="sum")
    assert torch.allclose(g.sigma[0], a3.sum(0).abs().mean(-1), atol=1e-5)
    ig = explain_function_with("integrated_gradients", _linear_phi(a), x, reduction="sum", n_steps=2)
    assert torch.allclose(ig.sigma[0], (a3.sum(0) * x).sum(-1).abs(), atol=1e-4)
    assert max(ig.diagnostics["ig_delta"]) < 1e-4
    # "vector": the norm over the D units, from random ±1 read-outs (unbiased for the square)
    gv = explain_function_with("gradient", _linear_phi(a), x, projections=512)
    assert torch.allclose(gv.sigma[0], a3.norm(dim=0).mean(-1), rtol=0.12)
    iv = explain_function_with("integrated_gradients", _linear_phi(a), x, projections=512, n_steps=2)
    assert torch.allclose(iv.sigma[0], (a3 * x).sum(-1).norm(dim=0), rtol=0.12)
    lv = explain_function_with("lrp", _linear_phi(a), x, projections=512, epsilon=0.0)
    assert torch.allclose(lv.sigma[0], iv.sigma[0], rtol=1e-4)  # linear map: LRP-0 = IG = gradient × input


def test_perturbation_keeps_exactly_the_words_the_state_reads():
    torch.manual_seed(0)
    w = torch.randn(3, 8)

    def phi(xt):
        return {"reads word 1": torch.tanh(xt[:, 1] @ w), "reads words 0, 3": torch.tanh((xt[:, 0] + xt[:, 3]) @ w)}

    e = explain_function_with("perturbation", phi, torch.randn(4, 3), steps=150)
    assert e.layers == ["reads word 1", "reads words 0, 3"]
    assert e.sigma[0, 1] > 0.6 and bool((e.sigma[0, [0, 2, 3]] < 0.05).all()), e.sigma
    assert bool((e.sigma[1, [0, 3]] > 0.5).all()) and bool((e.sigma[1, [1, 2]] < 0.05).all()), e.sigma
    # the early stop: same mask (to the tolerance's order) in fewer steps; tol=0 runs every step
    x = torch.randn(4, 3)
    full = explain_function_with("perturbation", phi, x, steps=400, tol=0.0)
    early = explain_function_with("perturbation", phi, x, steps=400, tol=1e-3)
    assert full.steps == 400 and early.steps < 400 and early.steps % 10 == 0
    assert torch.allclose(early.sigma, full.sigma, atol=0.05)
    with pytest.raises(ValueError, match="tol"):
        explain_function_with("perturbation", phi, x, tol=-1.0)


# --------------------------------------------------------------------------------------- LRP

def test_lrp_matches_captum_on_a_relu_network():
    from captum.attr import LRP as CaptumLRP

    torch.manual_seed(0)
    n, k = 5, 4

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.r1, self.l2 = nn.Linear(n * k, 16), nn.ReLU(), nn.Linear(16, 8)
            self.r2, self.l3 = nn.ReLU(), nn.Linear(8, 1)

        def forward(self, v):
            return self.l3(self.r2(self.l2(self.r1(self.l1(v)))))

    mlp = MLP().eval()
    x = torch.randn(n, k)
    ours = explain_function_with("lrp", lambda xt: mlp(xt.reshape(xt.shape[0], -1)), x, reduction="sum", epsilon=1e-9)
    theirs = CaptumLRP(mlp).attribute(x.reshape(1, -1).clone().requires_grad_(True), target=0)
    assert torch.allclose(ours.sigma[0], theirs.detach().view(n, k).sum(-1).abs(), rtol=1e-4, atol=1e-6)


def _zero_biases(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "bias_" in name or "position_embeddings" in name or "token_type" in name:
                p.zero_()
    return model


def _families(vocab: int):
    from transformers import BertConfig, BertModel

    from mi_explain.models import build_model

    torch.manual_seed(0)
    return {
        "bert": BertModel(BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64)).eval(),
        "transformer": build_model("transformer", vocab, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                                   num_hidden_layers=2, max_position_embeddings=64).eval(),
        "lstm": build_model("lstm", vocab, embedding_size=8, hidden_size=8, num_hidden_layers=2).eval(),
        "cnn": build_model("cnn", vocab, embedding_size=8, num_filters=6, kernel_sizes=[1, 3]).eval(),
    }


@pytest.mark.parametrize("family", ["bert", "transformer", "lstm", "cnn"])
def test_lrp_is_conservative_on_all_four_families(bert_tokenizer, family):
    """ε = 0, no biases, no position embeddings, special tokens as words: Σ_words R = ‖s‖ exactly (R_in = s²/‖s‖)."""
    model = _zero_biases(_families(len(bert_tokenizer))[family])
    texts = ["a rare bird has charm", "domestic tension"]
    out = explain_with("lrp", model, bert_tokenizer, texts, reduction="norm", epsilon=0.0, perturb_special=True)
    for e in out:
        assert e.sigma.shape == (len(e.layers), len(e.words)) and bool(torch.isfinite(e.sigma).all())
        assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0] * len(e.layers), abs=2e-3), family
    # with biases the relevance is partly absorbed, never created from nothing
    full = explain_with("lrp", _families(len(bert_tokenizer))[family], bert_tokenizer, texts[0], projections=4)
    assert bool(torch.isfinite(full.sigma).all()) and full.sigma.sum() > 0


def test_lrp_mode_keeps_the_forward_pass_of_an_lstm():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(3, 6, 3, requires_grad=True)
    h0 = (torch.randn(4, 3, 4), torch.randn(4, 3, 4))
    lengths = torch.tensor([6, 2, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_p, (ref_h, ref_c) = lstm(packed)
    ref_u, (ref_hu, _) = lstm(x, h0)
    with LRPMode(1e-3):
        got_p, (got_h, got_c) = lstm(packed)
        got_u, (got_hu, _) = lstm(x, h0)
    assert torch.allclose(pad_packed_sequence(got_p, batch_first=True)[0], pad_packed_sequence(ref_p, True)[0],
                          atol=1e-5)
    assert torch.allclose(got_h, ref_h, atol=1e-5) and torch.allclose(got_c, ref_c, atol=1e-5)
    assert torch.allclose(got_u, ref_u, atol=1e-5) and torch.allclose(got_hu, ref_hu, atol=1e-5)
    # …and of a BERT layer stack (LayerNorm, attention, GELU rewritten)
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32)).eval()
    e = torch.randn(2, 5, 16, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    ref = bert(inputs_embeds=e, attention_mask=mask).last_hidden_state
    with LRPMode(1e-3):
        got = bert(inputs_embeds=e, attention_mask=mask).last_hidden_state
    assert torch.allclose(got, ref, atol=1e-5)


def test_lrp_names_unsupported_layers(tiny_models):
    x = torch.randn(4, 3)
    gru = nn.GRU(3, 5, batch_first=True)
    with pytest.raises(LRPUnsupportedError, match=r"nn\.GRU"):
        explain_function_with("lrp", lambda xt: gru(xt)[0], x, projections=2)
    mha = nn.MultiheadAttention(3, 1, batch_first=True).eval()
    with pytest.raises(LRPUnsupportedError, match="MultiheadAttention"):
        explain_function_with("lrp", lambda xt: mha(xt, xt, xt)[0], x, projections=2)

    class Odd(nn.Module):
        def forward(self, v):
            return torch.exp(v)

    odd = Odd()
    with pytest.raises(LRPUnsupportedError, match=r"torch\.exp .*Odd"):
        explain_function_with("lrp", odd, x, projections=2)
    # GPT-2's tanh-approximated GELU is written with pow and tanh, but inside an activation module: supported
    gpt2, tok, _ = tiny_models["gpt2"]
    e = explain(gpt2, tok, "a rare bird", method="lrp")
    assert bool(torch.isfinite(e.sigma).all())


class _Gated(nn.Module):
    """A GLU-family block without biases: out = act(x W_g) ⊙ (x W_s), act = SiLU (SwiGLU), GELU (GeGLU) or None."""

    def __init__(self, k: int, d: int, act: nn.Module | None, functional: bool = False) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.gate = nn.Linear(k, d, bias=False)
        self.signal = nn.Linear(k, d, bias=False)
        self.act, self.functional = act, functional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act is None:
            return self.gate(x) * self.signal(x)
        g = torch.nn.functional.silu(self.gate(x)) if self.functional else self.act(self.gate(x))
        return self.signal(x) * g  # the gate on either side of the product


@pytest.mark.parametrize("act,functional", [(nn.SiLU(), False), (nn.GELU(), False), (None, True)])
def test_lrp_product_rule_conserves_relevance_through_a_gate(act, functional):
    block = _Gated(4, 3, act or nn.SiLU(), functional).eval()
    for p in block.parameters():
        p.requires_grad_(False)
    x = torch.randn(5, 4)
    e = explain_function_with("lrp", lambda xt: block(xt).sum(1), x, reduction="sum", epsilon=0.0)
    assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)
    # the same numbers by hand: the gate is a constant weight, the signal takes all the relevance
    xr = x.clone().requires_grad_(True)
    with torch.no_grad():
        g = torch.nn.functional.silu(block.gate(x)) if functional or isinstance(block.act, nn.SiLU) \
            else block.act(block.gate(x))
    out = (block.signal(xr) * g).sum()
    (grad,) = torch.autograd.grad(out, xr)
    assert torch.allclose(e.sigma[0], (xr * grad).sum(-1).abs().detach(), atol=1e-5)
    # with trainable (unfrozen) weights the weights are not factors: the rule still applies
    block.requires_grad_(True)
    e2 = explain_function_with("lrp", lambda xt: block(xt).sum(1), x, reduction="sum", epsilon=0.0)
    assert e2.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)


def test_lrp_refuses_a_product_without_a_gate():
    block = _Gated(4, 3, None).eval().requires_grad_(False)
    x = torch.randn(5, 4)
    # the plain gradient would give relevance 2·(a·b): conservation 2.0; the product rule cannot tell the gate
    with pytest.raises(LRPUnsupportedError, match=r"elementwise product .*_Gated"):
        explain_function_with("lrp", lambda xt: block(xt).sum(1), x, reduction="sum", epsilon=0.0)
    # …while a product whose relevance is never used (q·k under a detached softmax) is harmless
    q, v = nn.Linear(4, 4, bias=False).requires_grad_(False), nn.Linear(4, 4, bias=False).requires_grad_(False)

    def attention_like(xt: torch.Tensor) -> torch.Tensor:
        w = torch.softmax((q(xt) * q(xt)).sum(-1), -1)  # detached by the softmax rule
        return (w[..., None] * v(xt)).sum(1)

    e = explain_function_with("lrp", attention_like, x, reduction="sum", epsilon=0.0)
    assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)
