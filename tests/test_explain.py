"""explain() on real tokenizers and random-weight BERT, RoBERTa, DistilBERT and GPT-2 models."""

from __future__ import annotations

import pytest
import torch

from mi_explain import Explanation, explain
from mi_explain.adapters import encode

TEXT = "domestic tension and unhappiness"


def test_word_pieces_share_one_sigma(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, TEXT, progress=False)
    assert e.words == ["domestic", "tension", "and", "unhappiness"]
    assert e.tokens == ["[CLS]", "domestic", "tension", "and", "un", "##happiness", "[SEP]"]
    assert e.token_to_word == [-1, 0, 1, 2, 3, 3, -1]
    assert e.pieces == [1, 1, 1, 2]
    assert e.layers == ["layer 0", "layer 1", "layer 2"]
    assert e.sigma.shape == (3, 4) and bool(torch.isfinite(e.sigma).all()) and bool((e.sigma > 0).all())
    assert bool(e.converged.all())
    t = explain(tiny_bert, bert_tokenizer, TEXT, granularity="token", progress=False)
    assert t.words == ["domestic", "tension", "and", "un", "##happiness"]


def test_special_tokens_can_be_perturbed(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, "a rare bird", perturb_special=True, progress=False)
    assert e.words == ["[CLS]", "a", "rare", "bird", "[SEP]"]


@pytest.mark.parametrize("name", ["bert", "roberta", "distilbert", "gpt2"])
def test_every_architecture_gives_a_map(tiny_models, name):
    model, tok, n_layers = tiny_models[name]
    e = explain(model, tok, "a rare bird has more than enough charm", progress=False)
    assert isinstance(e, Explanation)
    assert e.n_layers == n_layers
    assert [w.strip() for w in e.words] == ["a", "rare", "bird", "has", "more", "than", "enough", "charm"]
    assert bool(torch.isfinite(e.sigma).all())
    assert bool(torch.isfinite(e.objective).all())
    assert e.information.shape == (n_layers,)


@pytest.mark.parametrize("target", ["cls", "first", "last", 1, -1])
def test_targets(tiny_bert, bert_tokenizer, target):
    e = explain(tiny_bert, bert_tokenizer, "a rare bird has charm", target=target, layers=[2], progress=False)
    assert e.sigma.shape == (1, 5)
    assert e.target == str(target)


@pytest.mark.parametrize("target", ["cls", "first", "last", 1, -1])
def test_targets_pick_the_right_position(tiny_bert, bert_tokenizer, target):
    """Two texts of different lengths in one padded batch: each target is the hidden state at its position."""
    from mi_explain.driver import model_batch, state_specs
    from mi_explain.hooks import frozen

    texts = ["a rare bird has charm", "the film"]
    with frozen(tiny_bert):
        batch, _ = model_batch(tiny_bert, bert_tokenizer, texts, state_specs(tiny_bert, [2], None, target),
                               target=target)
        clean = batch.clean().states[0]  # [2, H]
    for p, text in enumerate(texts):
        enc = bert_tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = tiny_bert.bert(**enc).last_hidden_state[0]  # [T, H]; [CLS] … [SEP]
        pos = {"cls": 0, "first": 0, "last": hidden.shape[0] - 1, 1: 1, -1: hidden.shape[0] - 1}[target]
        assert torch.allclose(clean[p], hidden[pos], atol=1e-5), (target, text)
        others = [q for q in range(hidden.shape[0]) if q != pos]
        assert all(not torch.allclose(clean[p], hidden[q], atol=1e-3) for q in others)


def test_embeddings_row_is_named(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[-1, "embeddings"], progress=False)
    assert e.layers == ["embeddings", "layer 2"]


def test_text_pairs(tiny_bert, bert_tokenizer):
    pair = ("how do i learn to cook rice ?", "what is the best way to cook rice ?")
    e = explain(tiny_bert, bert_tokenizer, pair, progress=False)
    assert e.text == pair
    assert e.words[:3] == ["how", "do", "i"] and e.words[-2:] == ["rice", "?"]
    assert e.segments == [0] * 8 + [1] * 9
    with pytest.raises(TypeError, match="tuple"):
        explain(tiny_bert, bert_tokenizer, [["how", "what"]])


def test_a_list_is_explained_in_padded_batches_like_one_by_one(tiny_bert, bert_tokenizer):
    texts = ["a rare bird", "the film is funny , sad and surprisingly tender", "it is not a good movie"]
    batched = explain(tiny_bert, bert_tokenizer, texts, batch_size=2, progress=False)
    assert isinstance(batched, list) and len(batched) == 3
    for text, b in zip(texts, batched):
        one = explain(tiny_bert, bert_tokenizer, text, progress=False)
        assert b.words == one.words
        assert torch.allclose(b.sigma, one.sigma, rtol=2e-3), (text, b.sigma, one.sigma)


def test_gpt2_batches_without_pad_token(tiny_models):
    model, tok, _ = tiny_models["gpt2"]
    out = explain(model, tok, ["a rare bird", "the film is funny"], progress=False)
    assert [len(e.words) for e in out] == [3, 4]
    assert tok.pad_token is None  # the tokenizer was not modified


def test_reference_texts_and_explicit_regularization(tiny_bert, bert_tokenizer):
    from tests.conftest import CORPUS

    a = explain(tiny_bert, bert_tokenizer, "a rare bird", reference_texts=CORPUS, progress=False)
    assert a.options["regularization"] == "reference_texts"
    b = explain(tiny_bert, bert_tokenizer, "a rare bird", regularization=a.regularization.tolist(), progress=False)
    assert torch.allclose(a.sigma, b.sigma)
    with pytest.raises(ValueError, match="3 states"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", regularization=[1.0, 2.0])


def test_bad_text_inputs(tiny_bert, bert_tokenizer):
    for bad in ["", "   \n"]:
        with pytest.raises(ValueError, match="empty"):
            explain(tiny_bert, bert_tokenizer, bad)
    with pytest.raises(ValueError, match="no text"):
        explain(tiny_bert, bert_tokenizer, [])
    long_text = " ".join(["bird"] * 80)
    with pytest.raises(ValueError, match="maximum of 64.*truncation=True"):
        explain(tiny_bert, bert_tokenizer, long_text)
    e = explain(tiny_bert, bert_tokenizer, long_text, truncation=True, layers=[0], steps=3, progress=False)
    assert len(e.tokens) == 64
    with pytest.raises(ValueError, match="granularity"):
        encode(bert_tokenizer, ["a"], granularity="char")
    with pytest.raises(ValueError, match="target"):
        explain(tiny_bert, bert_tokenizer, "a rare bird", target="mean")


def test_slow_tokenizer_is_refused(tiny_bert):
    class SlowTokenizer:  # what a python-only tokenizer looks like to explain(): no word_ids()
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        explain(tiny_bert, SlowTokenizer(), "a rare bird")


def test_real_pretrained_model(minilm):
    """The packaged all-MiniLM-L6-v2 (real BERT weights): information decreases through the layers."""
    model, tok, _ = minilm
    e = explain(model, tok, "a rare bird has more than enough charm to make it memorable .", progress=False)
    assert e.n_layers == 6 and len(e.words) == 13
    assert bool(e.converged.all())
    info = e.information
    assert float(info[0]) > float(info[-1])
    assert float(e.diagnostics["stderr_max"][0]) < 0.05


@pytest.mark.slow
def test_minilm_cls_target_is_seed_stable(minilm):
    """The real MiniLM, target="cls" (the state a classifier reads), every layer: three seeds agree within
    their reported Monte-Carlo errors, with the same words at the bound, and every layer converges."""
    model, tok, _ = minilm
    es = [explain(model.eval(), tok, "domestic tension and unhappiness", target="cls", rate=0.01, tol=0.05, seed=s,
                  progress=False) for s in (0, 1, 2)]
    for e in es:
        assert bool(e.converged.all()), e.diagnostics["stderr_max"]
    for a, b in [(es[0], es[1]), (es[0], es[2]), (es[1], es[2])]:
        assert torch.equal(a.at_bound, b.at_bound)
        se = (torch.tensor(a.diagnostics["stderr"]) ** 2 + torch.tensor(b.diagnostics["stderr"]) ** 2).sqrt()
        gap = (a.sigma / b.sigma).log().abs()
        assert bool((gap <= 4 * se + 1e-6).all()), (gap, se)
        # the layer-level information agrees to a fraction of a nat
        assert float((a.information - b.information).abs().max()) < 0.25
