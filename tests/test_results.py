"""mi_explain.results.result: the result classes' shape checks, tensors from lists, entropy (Eq. 6), the
information per word and layer lookup.  ``make`` / ``make_pair`` build the explanations other test modules use."""

import math

import pytest
import torch

from mi_explain.results import Explanation

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


def test_result_info_is_what_every_result_carries():
    from mi_explain.results import ResultInfo, SaliencyExplanation

    info = ResultInfo(words=["a", "cat"], layers=[0, 1], tokens=["a", "cat"], token_to_word=torch.tensor([0, 1]),
                      pieces=torch.tensor([1, 1]), embedding_dim=4.0, prior_scale=2, text=["a", "cat"],
                      target="cls", options={"seed": 1})
    assert info.layers == ["0", "1"] and info.pieces == [1, 1] and info.token_to_word == [0, 1]
    assert info.text == ("a", "cat") and info.embedding_dim == 4 and info.prior_scale == 2.0
    e = SaliencyExplanation(**info.info_fields(), scores=torch.ones(2, 2), objective=[0.0, 0.0],
                            converged=[True, True], steps=1, method="gradient")
    assert isinstance(e, ResultInfo) and e.info_fields() == info.info_fields()
    assert set(info.info_fields()) == {"words", "layers", "tokens", "token_to_word", "pieces", "embedding_dim",
                                       "prior_scale", "text", "segments", "target", "options", "diagnostics"}
