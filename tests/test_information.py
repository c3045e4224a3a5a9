"""mi_explain.information: corpus-level information per layer (Eq. 1–2) from several explanations."""

from __future__ import annotations

import pytest
import torch
from test_results import make

from mi_explain import Explanation, explain
from mi_explain.information import layer_information

pytestmark = pytest.mark.usefixtures("one_thread")


def test_corpus_information(tmp_path):
    from mi_explain.information import corpus_information, sentence_entropy

    a = make()
    b = Explanation.from_dict({**a.to_dict(), "sigma": (a.sigma * torch.tensor([[0.5], [2.0], [1.0]])).tolist()})
    assert not torch.equal(a.information, b.information)
    df = corpus_information([a, b])
    assert list(df["layer"]) == a.layers and df["n_sentences"].tolist() == [2] * a.n_layers
    both = torch.stack([a.information, b.information])
    assert torch.allclose(torch.tensor(df["information"].tolist()), both.mean(0))
    assert torch.allclose(torch.tensor(df["information_sem"].tolist()), both.std(0) / 2 ** 0.5)
    assert torch.allclose(torch.tensor(df["conditional_entropy"].tolist()),
                          (sentence_entropy(a) + sentence_entropy(b)) / 2)
    with pytest.raises(ValueError, match="no explanations"):
        corpus_information([])


def test_layer_information_explains_the_texts_alike(tiny_bert, bert_tokenizer):
    from mi_explain.information import corpus_information

    texts = ["a rare bird", "the film is funny , sad and surprisingly tender"]
    opts = {"layers": [0, 2], "steps": 30, "samples": 4, "progress": False}
    df = layer_information(tiny_bert, bert_tokenizer, texts, **opts)
    ref = corpus_information(explain(tiny_bert, bert_tokenizer, texts, **opts))
    assert df.equals(ref) and list(df["layer"]) == ["layer 0", "layer 2"]
    with pytest.raises(ValueError, match="no texts"):
        layer_information(tiny_bert, bert_tokenizer, [])
