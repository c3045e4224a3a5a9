"""Layer discovery, capture, early stop and exact model restoration."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mi_explain import explain
from mi_explain.hooks import LayerCapture, find_input_embeddings, find_layers, frozen, layer_specs


def _all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("name,expected", [("bert", "bert.encoder.layer"), ("roberta", "roberta.encoder.layer"),
                                           ("distilbert", "transformer.layer"), ("gpt2", "transformer.h")])
def test_layers_are_discovered(tiny_models, name, expected):
    model, _, n_layers = tiny_models[name]
    found = find_layers(model)
    assert [n for n, _ in found] == [f"{expected}.{i}" for i in range(n_layers)]
    assert find_input_embeddings(model) is model.get_input_embeddings()


def test_captured_states_equal_output_hidden_states(tiny_bert, bert_tokenizer):
    enc = bert_tokenizer(["a rare bird", "the film is funny and sad"], padding=True, return_tensors="pt")
    specs = layer_specs(tiny_bert, ["embeddings", 0, 1, 2])
    with torch.no_grad():
        ref = tiny_bert(**enc, output_hidden_states=True).hidden_states
        hooks_before = _all_hooks(tiny_bert)  # transformers installs hooks of its own for hidden_states
        with LayerCapture(specs, stop_early=False) as cap:
            got = cap.run(lambda: tiny_bert(**enc))
    assert len(got) == 4
    for i in range(4):
        assert torch.allclose(got[i], ref[i], atol=1e-6)
    assert _all_hooks(tiny_bert) == hooks_before


def test_forward_stops_after_the_deepest_requested_layer(tiny_bert, bert_tokenizer):
    calls = []
    handle = tiny_bert.bert.encoder.layer[2].register_forward_hook(lambda *a: calls.append(1))
    try:
        specs = layer_specs(tiny_bert, [0, 1])
        enc = bert_tokenizer("a rare bird", return_tensors="pt")
        with torch.no_grad(), LayerCapture(specs) as cap:
            got = cap.run(lambda: tiny_bert(**enc))
        assert len(got) == 2 and not calls
    finally:
        handle.remove()


def test_model_is_restored_exactly(tiny_bert, bert_tokenizer):
    model = tiny_bert
    model.train()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    modes = {n: m.training for n, m in model.named_modules()}
    hooks_before = _all_hooks(model)
    try:
        e = explain(model, bert_tokenizer, "a rare bird has charm", layers=[0, 2], progress=False)
        assert e.sigma.shape == (2, 5)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
        assert modes == {n: m.training for n, m in model.named_modules()}
        assert _all_hooks(model) == hooks_before
        assert all(p.grad is None for p in model.parameters())
        # …also when an error is raised mid-way (after the hooks are registered)
        with pytest.raises(IndexError, match="position"):
            explain(model, bert_tokenizer, "a rare bird", target=40, progress=False)
        assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
        assert modes == {n: m.training for n, m in model.named_modules()}
        assert _all_hooks(model) == hooks_before
    finally:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(True)
        model.eval()


def test_frozen_restores_after_exception():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1))
    model.train()
    with pytest.raises(RuntimeError), frozen(model):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        raise RuntimeError("boom")
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_models_without_embeddings_or_layers_get_clear_errors(bert_tokenizer):
    with pytest.raises(ValueError, match="no discoverable input embeddings"):
        explain(nn.Sequential(nn.Linear(4, 4)), bert_tokenizer, "a rare bird")

    class NoLayers(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 8)
            self.out = nn.Linear(8, 2)

    with pytest.raises(ValueError, match="layer_modules"):
        explain(NoLayers(), bert_tokenizer, "a rare bird")


def test_explicit_layer_modules(tiny_bert, bert_tokenizer):
    mods = [tiny_bert.bert.encoder.layer[1].output, tiny_bert.bert.pooler]
    e = explain(tiny_bert, bert_tokenizer, "a rare bird", layer_modules=mods, target="tokens", progress=False)
    assert e.layers == ["layer 0", "layer 1"]
    assert e.options["layer_modules"] == ["bert.encoder.layer.1.output", "bert.pooler"]
    with pytest.raises(ValueError, match="not a submodule"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", layer_modules=[nn.Linear(2, 2)])


def test_layer_index_out_of_range(tiny_bert, bert_tokenizer):
    with pytest.raises(IndexError, match="3 layers"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[5])
    with pytest.raises(ValueError, match="twice"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[1, -2])
    with pytest.raises(ValueError, match="unknown layer"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", layers=["pooler"])
