"""The three families by name, their registration with the ``transformers`` Auto classes, ``build_model``."""

from __future__ import annotations

from typing import NamedTuple

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

from .cnn import MiCNNConfig, MiCNNForSequenceClassification, MiCNNModel
from .lstm import MiLSTMConfig, MiLSTMForSequenceClassification, MiLSTMModel
from .transformer import MiTransformerConfig, MiTransformerForSequenceClassification, MiTransformerModel

__all__ = ["FAMILIES", "Family", "build_model", "register"]


class Family(NamedTuple):
    """The classes of one model family."""

    config: type[PretrainedConfig]
    base: type[PreTrainedModel]
    classifier: type[PreTrainedModel]


#: family name → its classes, in the paper's order.
FAMILIES: dict[str, Family] = {
    "transformer": Family(MiTransformerConfig, MiTransformerModel, MiTransformerForSequenceClassification),
    "lstm": Family(MiLSTMConfig, MiLSTMModel, MiLSTMForSequenceClassification),
    "cnn": Family(MiCNNConfig, MiCNNModel, MiCNNForSequenceClassification),
}


def register() -> None:
    """Make AutoConfig / AutoModel / AutoModelForSequenceClassification know the three model types."""
    for fam in FAMILIES.values():
        AutoConfig.register(fam.config.model_type, fam.config, exist_ok=True)
        AutoModel.register(fam.config, fam.base, exist_ok=True)
        AutoModelForSequenceClassification.register(fam.config, fam.classifier, exist_ok=True)


def build_model(family: str, vocab_size: int, num_labels: int = 2, pad_token_id: int = 0,
                **config_kwargs: object) -> PreTrainedModel:
    """A randomly initialised ``<family>ForSequenceClassification``; config_kwargs override the config's
    sizes (e.g. ``hidden_size=128``).  Unknown families and unknown config keys raise ValueError."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    fam = FAMILIES[family]
    defaults = fam.config()
    unknown = sorted(k for k in config_kwargs if not hasattr(defaults, k))
    if unknown:
        raise ValueError(f"unknown {fam.config.__name__} option(s) {unknown}")
    config = fam.config(vocab_size=vocab_size, num_labels=num_labels, pad_token_id=pad_token_id, **config_kwargs)
    return fam.classifier(config)
