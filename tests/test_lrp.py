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
