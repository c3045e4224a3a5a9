"""Stacked bidirectional LSTM classifier (Guan et al. 2019, Sec. 4.2 and 5).

Random word embeddings, ``num_hidden_layers`` single-layer bidirectional LSTMs (one module each, so each
layer's output [B, T, 2·hidden_size] can be explained), max pooling over real positions, a linear classifier.
Padded sequences are packed, so padding never reaches the backward direction.  Right padding is required.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from ._common import (
    MaskedMaxPool,
    base_output,
    classify,
    embed,
    reject_unused_kwargs,
    run_layers,
    wants_hidden_states,
    zero_padding_row,
)

__all__ = ["MiLSTMConfig", "MiLSTMForSequenceClassification", "MiLSTMModel"]


class MiLSTMConfig(PretrainedConfig):
    """Sizes of the paper's LSTM (4 bidirectional layers, 768 per direction, 768-d embeddings) by default."""

    model_type = "mi_lstm"

    vocab_size: int = 30522
    embedding_size: int = 768
    hidden_size: int = 768  # per direction; layer outputs are 2 · hidden_size wide
    num_hidden_layers: int = 4
    dropout: float = 0.1  # on the embeddings, between layers and before the classifier
    embedding_init_std: float = 1.0
    initializer_range: float = 0.02  # classifier weights
    pad_token_id: int | None = 0


class MiLSTMLayer(nn.Module):
    """One bidirectional LSTM layer over the real positions: x [B, T, D], mask bool [B, T] → [B, T, 2·hidden]
    (zeros at padding)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(hidden_states, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=hidden_states.shape[1])
        return out


def check_right_padded(mask: torch.Tensor) -> None:
    """Raise unless every row of mask [B, T] is real tokens followed by padding."""
    if not bool((mask[:, 1:] <= mask[:, :-1]).all()):
        raise ValueError("the LSTM needs right padding (attention_mask = 1…1 0…0 in every row); "
                         "set tokenizer.padding_side = 'right'")


class MiLSTMPreTrainedModel(PreTrainedModel):
    """Weight init (embeddings normal(0, embedding_init_std), LSTM Xavier with forget-gate bias 1)."""

    config_class = MiLSTMConfig
    base_model_prefix = "lstm"
    accepts_loss_kwargs = False  # the loss is a plain mean: let the Trainer scale it for gradient accumulation

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=self.config.embedding_init_std)
            zero_padding_row(module, init)
        elif isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                if name.startswith("weight"):
                    init.xavier_uniform_(param)
                elif name.startswith("bias_ih"):  # gates i, f, g, o: forget gate starts open
                    h = param.shape[0] // 4
                    value = torch.zeros_like(param)
                    value[h:2 * h] = 1.0
                    init.copy_(param, value)
                else:
                    init.zeros_(param)


class MiLSTMModel(MiLSTMPreTrainedModel):
    """Embeddings, the LSTM layers (``layers``, a ModuleList) and ``pooler`` (max over the real positions of
    the last layer → [B, 2·hidden], the classifier's input)."""

    def __init__(self, config: MiLSTMConfig) -> None:
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        sizes = [config.embedding_size] + [2 * config.hidden_size] * (config.num_hidden_layers - 1)
        self.layers = nn.ModuleList(MiLSTMLayer(d, config.hidden_size) for d in sizes)
        self.dropout = nn.Dropout(config.dropout)
        self.pooler = MaskedMaxPool()
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: object,
    ) -> BaseModelOutputWithPooling | tuple:
        """input_ids / attention_mask [B, T] or inputs_embeds [B, T, E] → last_hidden_state [B, T, 2·hidden],
        pooler_output [B, 2·hidden]; hidden_states (embeddings, layer 0, …) when asked.  token_type_ids
        is accepted and ignored."""
        reject_unused_kwargs(kwargs)
        h, mask = embed(self.embeddings, input_ids, inputs_embeds, attention_mask)
        check_right_padded(mask)
        h, all_states = run_layers(self.layers, h, mask, wants_hidden_states(self.config, output_hidden_states),
                                   before=self.dropout)
        return base_output(h, self.pooler(h, mask), all_states, return_dict)


class MiLSTMForSequenceClassification(MiLSTMPreTrainedModel):
    """MiLSTMModel → max pool → dropout → linear: logits [B, num_labels]."""

    def __init__(self, config: MiLSTMConfig) -> None:
        super().__init__(config)
        self.lstm = MiLSTMModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: object,
    ) -> SequenceClassifierOutput | tuple:
        """Inputs as MiLSTMModel; labels [B] (class ids, or floats when num_labels == 1) → loss."""
        reject_unused_kwargs(kwargs)
        return classify(self.config, self.lstm, self.dropout, self.classifier, labels, return_dict,
                        input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                        output_hidden_states=output_hidden_states)
