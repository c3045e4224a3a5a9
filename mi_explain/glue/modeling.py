"""The four model families of the paper behind one interface: build for training, load for explaining,
and say which hidden states ``explain`` reads.

* ``bert``: any pretrained BERT-style checkpoint (``AutoModelForSequenceClassification``); ``minilm`` is the
  packaged all-MiniLM-L6-v2 (offline).  ``model_config`` overrides its config (e.g. ``num_hidden_layers: 2``
  keeps the first two pretrained layers).
* ``transformer``, ``lstm``, ``cnn``: :func:`mi_explain.models.build_model`, trained from scratch with the
  WordPiece tokenizer of the packaged MiniLM.

All are saved with ``save_pretrained`` and loaded with ``AutoModelForSequenceClassification.from_pretrained``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mi_explain.sweep.engine import PREDICTION_LABEL, classifier_input

__all__ = ["MINILM", "build_for_training", "layer_states", "load_trained", "load_tokenizer", "prediction_state",
           "resolve_path"]

MINILM = "minilm"

#: the state the classifier reads, per family (paper Sec. 5.1): the first token of the last layer for the
#: attention models, the max-pooled vector (the classifier's input) for LSTM and CNN.
PREDICTION_STATE = {"bert": "first token of the last layer ([CLS])",
                    "transformer": "first token of the last layer ([CLS])",
                    "lstm": "max-pooled output of the last layer (the classifier's input)",
                    "cnn": "max-pooled K1…K7 features, concatenated (the classifier's input)"}


def resolve_path(name: str) -> str:
    """``minilm`` → the folder of the packaged all-MiniLM-L6-v2; anything else unchanged."""
    from mi_explain.resources import resolve_model

    return resolve_model(name)


def load_tokenizer(family: str, model_name_or_path: str, tokenizer_name: str):
    """A fast tokenizer, right padding (the LSTM needs it): BERT's own, or ``tokenizer_name``'s."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_path(model_name_or_path if family == "bert" else tokenizer_name))
    tok.padding_side = "right"
    return tok


def build_for_training(family: str, model_name_or_path: str, tokenizer, config_kwargs: dict[str, Any],  # noqa: ANN001
                       label_names: tuple[str, str]):
    """A sequence classifier with 2 labels: pretrained BERT with a new head, or a new from-scratch model."""
    id2label = dict(enumerate(label_names))
    label2id = {v: k for k, v in id2label.items()}
    if family == "bert":
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(
            resolve_path(model_name_or_path), num_labels=2, id2label=id2label, label2id=label2id, **config_kwargs)
    from mi_explain.models import build_model

    model = build_model(family, vocab_size=len(tokenizer), num_labels=2, pad_token_id=tokenizer.pad_token_id,
                        **config_kwargs)
    model.config.id2label, model.config.label2id = id2label, label2id
    return model


def load_trained(path: str):
    """(model in eval mode, tokenizer) saved by the training script (any family, via the Auto classes)."""
    from mi_explain.models import load_classifier

    return load_classifier(path, fallback_tokenizer=None, padding_side="right")


def _classifier(model: nn.Module) -> nn.Linear:
    clf = classifier_input(model)
    if clf is None:
        raise ValueError(f"{type(model).__name__}: no final nn.Linear to num_labels found")
    return clf



def prediction_state(model: nn.Module, family: str) -> dict[str, Any]:
    """``explain`` options that explain the state the classifier reads (Fig. 5/6), as one row labelled
    :data:`PREDICTION_LABEL`.

    bert/transformer: the first token (``target="cls"``) of the last layer.  lstm/cnn: the input of the final
    linear layer, ``layer_modules={PREDICTION_LABEL: (classifier, "input")}`` (already pooled: [B, H]).
    """
    from mi_explain.hooks import find_layers

    if family in ("bert", "transformer"):
        return {"layer_modules": {PREDICTION_LABEL: find_layers(model)[-1][1]}, "target": "cls"}
    return {"layer_modules": {PREDICTION_LABEL: (_classifier(model), "input")}, "target": "cls"}


def layer_states(model: nn.Module) -> dict[str, Any]:
    """``explain`` options for the layer sweep: every layer, all positions; the CNN's branches are named by
    their kernel width (``K1 … K7``) through ``layer_modules={label: branch}``."""
    from mi_explain.hooks import find_layers

    sizes = getattr(getattr(model, "config", None), "kernel_sizes", None)
    layers = find_layers(model)
    if sizes and len(sizes) == len(layers):
        return {"layer_modules": {f"K{int(k)}": module for k, (_, module) in zip(sizes, layers)}, "target": "tokens"}
    return {"layers": None, "target": "tokens"}
