"""The paper's non-BERT models as ``transformers`` models: Transformer, bidirectional LSTM and Kim CNN.

Importing this package registers the model types ``mi_transformer``, ``mi_lstm`` and ``mi_cnn`` with
``AutoConfig``, ``AutoModel`` and ``AutoModelForSequenceClassification``, so saved checkpoints load through
the Auto classes.  ``build_model("lstm", vocab_size=30522, hidden_size=256)`` builds a classifier by name;
``load_classifier(folder)`` loads a saved one of any family with its tokenizer.
"""

from .cnn import MiCNNConfig, MiCNNForSequenceClassification, MiCNNModel
from .loading import load_classifier
from .lstm import MiLSTMConfig, MiLSTMForSequenceClassification, MiLSTMModel
from .registry import FAMILIES, Family, build_model, register
from .transformer import MiTransformerConfig, MiTransformerForSequenceClassification, MiTransformerModel

register()

__all__ = [
    "FAMILIES",
    "Family",
    "MiCNNConfig",
    "MiCNNForSequenceClassification",
    "MiCNNModel",
    "MiLSTMConfig",
    "MiLSTMForSequenceClassification",
    "MiLSTMModel",
    "MiTransformerConfig",
    "MiTransformerForSequenceClassification",
    "MiTransformerModel",
    "build_model",
    "load_classifier",
]
