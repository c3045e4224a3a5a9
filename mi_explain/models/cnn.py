"""Kim (2014) CNN for sentence classification (Guan et al. 2019, Sec. 5: layers K1, K3, K5, K7).

Random word embeddings; parallel 1-D convolutions with "same" padding, one per kernel width, each with a
ReLU — the four branches are the model's "layers" (independent, not stacked) and each maps
[B, T, E] → [B, T, num_filters]; max pooling over real positions, concatenation, dropout, linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from ._common import (
    MaskedMaxPool,
    base_output,
    classify,
    embed,
    reject_unused_kwargs,
    wants_hidden_states,
    zero_padding_row,
)

__all__ = ["MiCNNConfig", "MiCNNForSequenceClassification", "MiCNNModel"]


class MiCNNConfig(PretrainedConfig):
    """Kim's CNN with the paper's kernel widths 1, 3, 5, 7; 300-d embeddings, 100 filters per width."""

    model_type = "mi_cnn"

    vocab_size: int = 30522
    embedding_size: int = 300
    num_filters: int = 100
    kernel_sizes: list[int] | tuple[int, ...] = (1, 3, 5, 7)
    dropout: float = 0.5  # before the classifier (Kim 2014)
    embedding_init_std: float = 1.0
    initializer_range: float = 0.02  # classifier weights
    pad_token_id: int | None = 0


class MiCNNBranch(nn.Module):
    """One kernel width: x [B, T, E], mask bool [B, T] → ReLU(conv) [B, T, filters] (zeros at padding)."""

    def __init__(self, embedding_size: int, num_filters: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(embedding_size, num_filters, kernel_size, padding="same")

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = hidden_states.masked_fill(~mask[..., None], 0.0)  # padding reads like the zero border
        out = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return out.masked_fill(~mask[..., None], 0.0)


class MiCNNPreTrainedModel(PreTrainedModel):
    """Weight init (embeddings normal(0, embedding_init_std), convolutions He-uniform, zero biases)."""

    config_class = MiCNNConfig
    base_model_prefix = "cnn"
    accepts_loss_kwargs = False  # the loss is a plain mean: let the Trainer scale it for gradient accumulation

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=self.config.embedding_init_std)
            zero_padding_row(module, init)


class MiCNNModel(MiCNNPreTrainedModel):
    """Embeddings, the branches (``layers``, a ModuleList in kernel_sizes order, all run on the same input)
    and ``pooler``; last_hidden_state: the branches concatenated [B, T, n·filters]; pooler_output: its max
    over real positions [B, n·filters], the classifier's input."""

    def __init__(self, config: MiCNNConfig) -> None:
        super().__init__(config)
        if not config.kernel_sizes:
            raise ValueError("kernel_sizes is empty: the CNN needs at least one kernel width")
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(MiCNNBranch(config.embedding_size, config.num_filters, int(k))
                                    for k in config.kernel_sizes)
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
        """input_ids / attention_mask [B, T] or inputs_embeds [B, T, E] → last_hidden_state [B, T, n·filters],
        pooler_output [B, n·filters]; hidden_states (embeddings, branch 0, …) when asked.  token_type_ids
        is accepted and ignored."""
        reject_unused_kwargs(kwargs)
        x, mask = embed(self.embeddings, input_ids, inputs_embeds, attention_mask)
        outs = [branch(x, mask) for branch in self.layers]  # every branch, in ModuleList order
        h = torch.cat(outs, -1)
        pooled = self.pooler(h, mask)  # channel-wise max: the branches' pooled vectors, concatenated
        all_states = (x, *outs) if wants_hidden_states(self.config, output_hidden_states) else None
        return base_output(h, pooled, all_states, return_dict)


class MiCNNForSequenceClassification(MiCNNPreTrainedModel):
    """MiCNNModel → pooled branches → dropout → linear: logits [B, num_labels]."""

    def __init__(self, config: MiCNNConfig) -> None:
        super().__init__(config)
        self.cnn = MiCNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(len(config.kernel_sizes) * config.num_filters, config.num_labels)
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
        """Inputs as MiCNNModel; labels [B] (class ids, or floats when num_labels == 1) → loss."""
        reject_unused_kwargs(kwargs)
        return classify(self.config, self.cnn, self.dropout, self.classifier, labels, return_dict,
                        input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                        output_hidden_states=output_hidden_states)
