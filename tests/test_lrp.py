"""mi_explain.methods.lrp: LRP-ε agrees with captum's LRP, is conservative on all four model families, keeps
the forward pass, and names the operations it has no rule for."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mi_explain import explain, explain_function
from mi_explain.methods import LRPMode, LRPUnsupportedError

pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


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
    ours = explain_function(lambda xt: mlp(xt.reshape(xt.shape[0], -1)), x, method="lrp", reduction="sum", epsilon=1e-9)
    theirs = CaptumLRP(mlp).attribute(x.reshape(1, -1).clone().requires_grad_(True), target=0)
    assert torch.allclose(ours.scores[0], theirs.detach().view(n, k).sum(-1).abs(), rtol=1e-4, atol=1e-6)


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
    out = explain(model, bert_tokenizer, texts, method="lrp", reduction="norm", epsilon=0.0, perturb_special=True)
    for e in out:
        assert e.scores.shape == (len(e.layers), len(e.words)) and bool(torch.isfinite(e.scores).all())
        assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0] * len(e.layers), abs=2e-3), family
    # with biases the relevance is partly absorbed, never created from nothing
    full = explain(_families(len(bert_tokenizer))[family], bert_tokenizer, texts[0], method="lrp", projections=4)
    assert bool(torch.isfinite(full.scores).all()) and full.scores.sum() > 0


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
        explain_function(lambda xt: gru(xt)[0], x, method="lrp", projections=2)
    mha = nn.MultiheadAttention(3, 1, batch_first=True).eval()
    with pytest.raises(LRPUnsupportedError, match="MultiheadAttention"):
        explain_function(lambda xt: mha(xt, xt, xt)[0], x, method="lrp", projections=2)

    class Odd(nn.Module):
        def forward(self, v):
            return torch.exp(v)

    odd = Odd()
    with pytest.raises(LRPUnsupportedError, match=r"torch\.exp .*Odd"):
        explain_function(odd, x, method="lrp", projections=2)
    # GPT-2's tanh-approximated GELU is written with pow and tanh, but inside an activation module: supported
    gpt2, tok, _ = tiny_models["gpt2"]
    e = explain(gpt2, tok, "a rare bird", method="lrp")
    assert bool(torch.isfinite(e.scores).all())


class _Gated(nn.Module):
    """A GLU-family block without biases: out = act(x W_g) ⊙ (x W_s), act = SiLU (SwiGLU) or GELU (GeGLU)."""

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
        return self.signal(x) * g  # the gate on the right of the product


@pytest.mark.parametrize("act,functional", [(nn.SiLU(), False), (nn.GELU(), False), (nn.SiLU(), True)])
def test_lrp_product_rule_conserves_relevance_through_a_gate(act, functional):
    """Arras et al.'s product rule: the gate (the activation's output) is a weight, the signal takes all the
    relevance; the plain gradient would count the product twice (conservation 2.0)."""
    block = _Gated(4, 3, act, functional).eval().requires_grad_(False)
    x = torch.randn(5, 4)
    e = explain_function(lambda xt: block(xt).sum(1), x, method="lrp", reduction="sum", epsilon=0.0)
    assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)
    xr = x.clone().requires_grad_(True)  # the same numbers by hand: gate constant, relevance = x ⊙ ∂/∂x
    with torch.no_grad():
        g = torch.nn.functional.silu(block.gate(x)) if functional else block.act(block.gate(x))
    (grad,) = torch.autograd.grad((block.signal(xr) * g).sum(), xr)
    assert torch.allclose(e.scores[0], (xr * grad).sum(-1).abs().detach(), atol=1e-5)
    block.requires_grad_(True)  # trainable weights are weights, not factors: the rule still applies
    e2 = explain_function(lambda xt: block(xt).sum(1), x, method="lrp", reduction="sum", epsilon=0.0)
    assert e2.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)


def test_lrp_refuses_a_product_without_a_gate():
    block = _Gated(4, 3, None).eval().requires_grad_(False)
    x = torch.randn(5, 4)
    with pytest.raises(LRPUnsupportedError, match=r"elementwise product .*_Gated"):
        explain_function(lambda xt: block(xt).sum(1), x, method="lrp", reduction="sum", epsilon=0.0)
    # …while a product whose relevance is never used (q·q under a detached softmax) is harmless
    q = nn.Linear(4, 4, bias=False).requires_grad_(False)
    v = nn.Linear(4, 4, bias=False).requires_grad_(False)

    def attention_like(xt: torch.Tensor) -> torch.Tensor:
        w = torch.softmax((q(xt) * q(xt)).sum(-1), -1)  # detached by the softmax rule
        return (w[..., None] * v(xt)).sum(1)

    e = explain_function(attention_like, x, method="lrp", reduction="sum", epsilon=0.0)
    assert e.diagnostics["lrp_conservation"] == pytest.approx([1.0], abs=1e-4)
