"""mi_explain.methods.base: word aggregation (special tokens and padding dropped), read-outs and reductions, the
per-read-out combination, and how a baseline's result is built from the driver's ResultInfo."""

from __future__ import annotations

import math

import pytest
import torch

from mi_explain import SaliencyExplanation
from mi_explain.methods.base import (
    Attribution,
    SaliencyMethod,
    combine,
    resolve_reduction,
    words_mean,
    words_sum,
)
from mi_explain.results import ResultInfo


def test_words_sum_and_mean_drop_special_tokens_and_padding():
    tok = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 100.0]], [[5.0, 6.0, 7.0, 200.0, 300.0]]])  # [P=2, L=1, T=5]
    index = torch.tensor([[-1, 0, 0, 1, -1], [0, 1, 1, -1, -1]])  # -1: [CLS]/[SEP]/padding
    assert words_sum(tok, index, 3).tolist() == [[[5.0, 4.0, 0.0]], [[5.0, 13.0, 0.0]]]
    assert words_mean(tok, index, 3).tolist() == [[[2.5, 4.0, 0.0]], [[5.0, 6.5, 0.0]]]  # no tokens: 0


def test_reductions_and_read_outs():
    s = torch.tensor([[3.0, -4.0]])
    assert resolve_reduction("sum").reduce(s).tolist() == [-1.0]
    assert resolve_reduction("norm").reduce(s).tolist() == [5.0]
    vector = resolve_reduction("vector", projections=8)
    assert vector.reduce is None and vector.projections == 8
    custom = resolve_reduction(lambda x: x[:, 0])
    assert custom.projections == 1 and custom.reduce(s).tolist() == [3.0]
    with pytest.raises(ValueError, match="unknown reduction 'max'"):
        resolve_reduction("max")
    with pytest.raises(ValueError, match="projections must be ≥ 1, got 0"):
        resolve_reduction("vector", projections=0)


def test_combine_is_the_root_mean_square_over_read_outs():
    readout = resolve_reduction("vector", projections=4)
    squares = torch.tensor([[4.0, 16.0], [36.0, 0.0], [1.0, 1.0], [64.0, 4.0]])  # [P·L = 4, W = 2], summed over R
    out = combine(squares, readout, p=2, n_states=2)
    assert out.shape == (2, 2, 2) and out[0, 1].tolist() == [3.0, 0.0] and out[1, 1].tolist() == [4.0, 1.0]


def test_the_vector_read_out_estimates_the_norm_of_the_unit_scores():
    """E_v[(vᵀa)²] = ‖a‖² for random ±1 v: the "vector" reduction's score is ‖(a_d)_d‖₂ in expectation."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, generator=g)
    v = torch.randint(0, 2, (20000, 32), generator=g).float() * 2 - 1
    estimate = float(((v @ a) ** 2).mean().sqrt())
    assert estimate == pytest.approx(float(a.norm()), rel=0.02)


class _Toy(SaliencyMethod):
    name = "toy"
    description = "a test score"
    saliency_label = "toy score"

    def options(self) -> dict:
        return {"alpha": 1}


def test_a_baseline_result_carries_the_result_info():
    info = ResultInfo(words=["a", "cat"], layers=["l0", "l1"], tokens=["[CLS]", "a", "cat"],
                      token_to_word=[-1, 0, 1], pieces=[1, 1], embedding_dim=4, prior_scale=float("nan"),
                      text="a cat", options={"seed": 3}, diagnostics={"seconds": 1.0})
    values = torch.arange(2 * 2 * 3, dtype=torch.float32).view(2, 2, 3)  # [P, L, W_max]: text 1 has 2 words
    attr = Attribution(values=values, diagnostics=[{}, {"ig_delta": 0.5}])
    e = _Toy().result(attr, 1, info)
    assert isinstance(e, SaliencyExplanation) and e.method == "toy"
    assert torch.equal(e.scores, values[1, :, :2])
    assert e.prior_scale == 1.0  # a non-finite spread falls back to 1
    assert math.isnan(float(e.objective[0])) and bool(e.converged.all())
    assert e.options == {"method": "toy", "saliency": "a test score", "saliency_label": "toy score", "alpha": 1,
                         "seed": 3}
    assert e.diagnostics == {"seconds": 1.0, "ig_delta": 0.5} and e.text == "a cat" and e.tokens == info.tokens


def test_vector_readout_of_a_one_unit_state_collapses_to_one_projection(tiny_bert, bert_tokenizer):
    """target="prediction" explains one unit: the R ±1 projections of "vector" all have the same square, so the
    batch runs one (Batch.readout_for) and the scores equal those of the plain scalar read-out."""
    from mi_explain import explain
    from mi_explain.methods.base import Batch, Readout

    text = "the film is funny , sad and surprisingly tender"
    for method, opts in (("gradient", {}), ("integrated_gradients", {"n_steps": 4}), ("lrp", {})):
        vec = explain(tiny_bert, bert_tokenizer, text, method=method, target="prediction", progress=False, **opts)
        one = explain(tiny_bert, bert_tokenizer, text, method=method, target="prediction", reduction="sum",
                      progress=False, **opts)
        assert torch.allclose(vec.scores, one.scores, rtol=1e-4, atol=1e-7), method
    x = torch.zeros(1, 2, 3)
    wi = torch.zeros(1, 2, dtype=torch.long)
    vector = Readout("vector", None, 16)
    assert Batch(fn=None, x=x, word_index=wi, n_words=1, n_states=1, target="prediction").readout_for(vector) \
        == Readout("vector", None, 1)
    assert Batch(fn=None, x=x, word_index=wi, n_words=1, n_states=1, target="tokens").readout_for(vector) == vector
