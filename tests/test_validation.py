"""Argument checks of the public entry points: the message names the argument; nothing runs before."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from mi_explain import NonFiniteError, explain, explain_function
from mi_explain.regularization import pooled_variance
from mi_explain.validation import check_explain_args, check_explain_function_args, check_text

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(("text", "error", "message"), [
    (123, TypeError, r"^text must be a str, a \(str, str\) pair or a non-empty list of one of them, got int$"),
    (None, TypeError, r"^text must be a str, .* got NoneType$"),
    (b"hello", TypeError, r"^text must be a str, got bytes: decode it first"),
    (3.5, TypeError, r"^text must be .* got float$"),
    ({"a": 1}, TypeError, r"^text must be .* got dict$"),
    ({"a", "b"}, TypeError, r"^text must be .* got set$"),
    ((t for t in ["a"]), TypeError, r"^text must be .* got generator$"),
    ("", ValueError, r"^text is empty or whitespace only"),
    ("  \n", ValueError, r"^text is empty"),
    ([], ValueError, r"^text is an empty list"),
    (["a bird", ("is it", "a bird")], ValueError, r"^text mixes single texts and text pairs \(text\[0\] is a str, "
                                                  r"text\[1\] is a pair\)"),
    (["a bird", 7], TypeError, r"^text\[1\] must be a str or a \(str, str\) pair, got int$"),
    (["a bird", ["a", "b"]], TypeError, r"^text\[1\]: a text pair must be a tuple"),
    (["a", b"b"], TypeError, r"^text\[1\] must be a str, got bytes"),
    (["a", ""], ValueError, r"^text\[1\] is empty"),
    (("a",), ValueError, r"^text: a text pair must be a tuple \(first, second\) of 2 strings, got 1"),
    (("a", "b", "c"), ValueError, r"got 3 elements"),
    (("a", 1), TypeError, r"^text\[1\] must be a str \(a text pair holds two strings\), got int$"),
    (("a", ""), ValueError, r"^text: the second text of the pair is empty"),
    ([("a", "b"), ("c", " ")], ValueError, r"^text\[1\]: the second text of the pair is empty"),
])
def test_bad_texts_are_named(tiny_bert, bert_tokenizer, text, error, message):
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    with pytest.raises(error, match=message):
        explain(tiny_bert, bert_tokenizer, text)
    assert all(torch.equal(v, tiny_bert.state_dict()[k]) for k, v in before.items())


def test_good_texts_pass():
    for ok in ["a", ("a", "b"), ["a", "b"], [("a", "b")], np.array(["a", "b"]), ("a b", "c d")]:
        check_text(ok)
    import pandas as pd

    check_text(pd.Series(["a", "b"]))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"layers": 1.5}, TypeError, r"^layers must be None \(all\), an int, 'embeddings' or a list of them, got float"),
    ({"layers": [0, 1.0]}, TypeError, r"^layers\[1\] must be an int or 'embeddings', got float"),
    ({"layers": [True]}, TypeError, r"^layers\[0\] must be an int"),
    ({"target": None}, TypeError, r"^target must be one of tokens, cls, first, last, logits, "
                                         r"prediction or an int position, got NoneType"),
    ({"target": True}, TypeError, r"^target must be"),
    ({"target": "middle"}, ValueError, r"^target must be one of .* got 'middle'"),
    ({"granularity": "char"}, ValueError, r"^granularity must be 'word' or 'token'"),
    ({"rate": "0.1"}, TypeError, r"^rate must be a number, got str '0.1'"),
    ({"rate": 0}, ValueError, r"^rate must be a positive finite number, got 0"),
    ({"rate": math.nan}, ValueError, r"^rate must be a positive finite"),
    ({"scale": -1.0}, ValueError, r"^scale must be a positive finite number"),
    ({"scale": "big"}, TypeError, r"^scale must be a number or None"),
    ({"steps": 1.5}, TypeError, r"^steps must be an int or None, got float"),
    ({"samples": 1}, ValueError, r"^samples must be ≥ 2, got 1"),
    ({"tol": "x"}, TypeError, r"^tol must be a number or None"),
    ({"seed": 1.0}, TypeError, r"^seed must be an int, got float"),
    ({"seed": None}, TypeError, r"^seed must be an int, got NoneType"),
    ({"batch_size": 0}, ValueError, r"^batch_size must be ≥ 1"),
    ({"batch_size": "8"}, TypeError, r"^batch_size must be an int"),
    ({"max_batch": True}, TypeError, r"^max_batch must be an int or None, got bool"),
    ({"n_reference": 1}, ValueError, r"^n_reference must be ≥ 2"),
    ({"normalization": "mean"}, ValueError, r"^normalization must be one of eq7, element_mean, got 'mean'"),
    ({"normalization": None}, TypeError, r"^normalization must be one of"),
    ({"device": "gpu"}, ValueError, r"^device 'gpu' is not a device torch knows"),
    ({"device": 3.0}, TypeError, r"^device must be a str"),
    ({"progress": "yes"}, TypeError, r"^progress must be True or False, or None"),
    ({"truncation": "no"}, TypeError, r"^truncation must be True or False, got str"),
    ({"perturb_special": 1}, TypeError, r"^perturb_special must be True or False"),
    ({"autocast": 1}, TypeError, r"^autocast must be True or False, or None"),
    ({"method": None}, TypeError, r"^method must be a name"),
    ({"reference_texts": "a text"}, TypeError, r"^reference_texts must be a list of texts"),
    ({"reference_texts": ["a", 1]}, TypeError, r"^reference_texts\[1\] must be a str"),
    ({"regularization": "0.5"}, TypeError, r"^regularization \(σ_s\) must be a number"),
    ({"layer_modules": torch.nn.Linear(2, 2)}, TypeError, r"^layer_modules must be a list of torch.nn.Module"),
])
def test_bad_options_are_named(tiny_bert, bert_tokenizer, kwargs, error, message):
    with pytest.raises(error, match=message):
        explain(tiny_bert, bert_tokenizer, "a rare bird", **kwargs)


def test_model_and_tokenizer_types(tiny_bert, bert_tokenizer):
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module — load it first, e.g. AutoModel"):
        explain("bert-base-uncased", bert_tokenizer, "a bird")
    with pytest.raises(TypeError, match=r"this looks like a tokenizer: the order is explain\(model, tokenizer, text\)"):
        explain(bert_tokenizer, tiny_bert, "a bird")
    with pytest.raises(TypeError, match=r"^tokenizer must be a tokenizer object, e.g. AutoTokenizer.from_pretrained"):
        explain(tiny_bert, "bert-base-uncased", "a bird")
    with pytest.raises(TypeError, match=r"^tokenizer must be a transformers tokenizer"):
        explain(tiny_bert, None, "a bird")


def test_the_defaults_pass_their_own_checks():
    for fn, check in ((explain, check_explain_args), (explain_function, check_explain_function_args)):
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        check(defaults)


def test_explain_function_arguments():
    x = torch.randn(3, 4)

    def phi(t: torch.Tensor) -> torch.Tensor:
        return t.sum(-1)

    with pytest.raises(TypeError, match=r"^phi must be a callable"):
        explain_function("phi", x)
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor \[n_words, K\] of word embeddings, got list"):
        explain_function(phi, x.tolist())
    with pytest.raises(TypeError, match=r"^words must be a list of str .* got str 'a b c'"):
        explain_function(phi, x, words="a b c")
    with pytest.raises(TypeError, match=r"^words\[1\] must be a str, got int"):
        explain_function(phi, x, words=["a", 2, "c"])
    with pytest.raises(TypeError, match=r"^reference_inputs must be a torch.Tensor"):
        explain_function(phi, x, reference_inputs=[[0.0]])
    with pytest.raises(ValueError, match=r"^prior_scale must be a positive"):
        explain_function(phi, x, prior_scale=0.0)


def test_nan_reference_states_raise_nonfinite_error():
    x = torch.randn(3, 4)
    ref = torch.randn(8, 3, 4)
    ref[2, 1, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN or infinite .* σ_s"):
        explain_function(lambda t: t.sum(-1), x, reference_inputs=ref, steps=2)
    with pytest.raises(NonFiniteError):
        pooled_variance(torch.tensor([[1.0, float("inf")], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="does not vary"):  # a constant state is still its own error
        pooled_variance(torch.ones(4, 3))


def test_nan_hidden_states_of_a_model_raise_nonfinite_error(tiny_bert, bert_tokenizer):
    """The clean pass (one row) is finite; the reference copies (32 rows) that give σ_s are NaN."""
    def nan_for_batches(module, inputs, output):  # noqa: ANN001
        h = output[0] if isinstance(output, tuple) else output
        return torch.full_like(h, float("nan")) if h.shape[0] > 1 else None

    hook = tiny_bert.bert.encoder.layer[0].register_forward_hook(nan_for_batches)
    try:
        with pytest.raises(NonFiniteError, match="reference inputs used to estimate σ_s"):
            explain(tiny_bert, bert_tokenizer, "a rare bird", layers=[0], steps=2)
    finally:
        hook.remove()


def test_baselines_check_the_same_arguments(tiny_bert, bert_tokenizer):
    with pytest.raises(TypeError, match=r"^text must be a str"):
        explain(tiny_bert, bert_tokenizer, None, method="gradient")
    with pytest.raises(TypeError, match=r"^layers must be"):
        explain(tiny_bert, bert_tokenizer, "a bird", method="lrp", layers=0.5)
    with pytest.raises(TypeError, match=r"^method must be a name"):
        explain(tiny_bert, bert_tokenizer, "a bird", method=3)
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        explain_function(lambda t: t.sum(-1), [[1.0]], method="gradient")
