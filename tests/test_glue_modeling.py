"""mi_explain.glue.modeling: which states the sweep explains, named where they are captured (no relabelling)."""

from __future__ import annotations

import pytest
import torch

from mi_explain.driver import model_batch, state_specs
from mi_explain.glue.modeling import PREDICTION_LABEL, layer_states, prediction_state
from mi_explain.hooks import frozen
from mi_explain.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "the film is funny"


def _specs(model, options):  # noqa: ANN001, ANN202
    opts = dict(options)
    return state_specs(model, opts.pop("layers", None), opts.pop("layer_modules", None), opts["target"]), opts


@pytest.mark.parametrize("family", ["lstm", "cnn"])
def test_the_prediction_state_is_the_classifiers_input(family, bert_tokenizer):
    torch.manual_seed(0)
    model = build_model(family, vocab_size=len(bert_tokenizer), num_labels=2, pad_token_id=0,
                        **({"hidden_size": 8, "num_hidden_layers": 1, "embedding_size": 8} if family == "lstm"
                           else {"embedding_size": 8, "num_filters": 4})).eval()
    specs, opts = _specs(model, prediction_state(model, family))
    assert [s.label for s in specs] == [PREDICTION_LABEL] and specs[0].pre
    seen = {}
    handle = model.classifier.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        model(**{k: v for k, v in bert_tokenizer(TEXT, return_tensors="pt").items() if k != "token_type_ids"})
    handle.remove()
    with frozen(model):
        batch, _ = model_batch(model, bert_tokenizer, [TEXT], specs, **opts)
        assert torch.allclose(batch.clean().states[0][0], seen["x"][0], atol=1e-6)


def test_bert_prediction_state_and_cnn_layer_names(tiny_bert, bert_tokenizer):
    specs, opts = _specs(tiny_bert, prediction_state(tiny_bert, "bert"))
    assert [s.label for s in specs] == [PREDICTION_LABEL] and opts["target"] == "cls"
    assert specs[0].module is tiny_bert.bert.encoder.layer[-1]
    assert layer_states(tiny_bert) == {"layers": None, "target": "tokens"}
    cnn = build_model("cnn", vocab_size=len(bert_tokenizer), num_labels=2, pad_token_id=0, embedding_size=8,
                      num_filters=4, kernel_sizes=[1, 3])
    specs, _ = _specs(cnn, layer_states(cnn))
    assert [s.label for s in specs] == ["K1", "K3"]
