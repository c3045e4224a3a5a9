"""Transformer encoder trained from scratch (Guan et al. 2019, Sec. 4.3; Vaswani et al. 2017).

Random word embeddings + learned positions (+ segment embeddings for pairs), post-LayerNorm self-attention
layers, first-token pooling and a linear classifier.  Each layer maps [B, T, H] → [B, T, H].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from ._common import (
    FirstTokenPool,
    base_output,
    classify,
    embed,
    reject_unused_kwargs,
    run_layers,
    wants_hidden_states,
    zero_padding_row,
)

__all__ = ["MiTransformerConfig", "MiTransformerForSequenceClassification", "MiTransformerModel"]


class MiTransformerConfig(PretrainedConfig):
    """Sizes of the paper's Transformer (3 layers, 4 heads, hidden 256, feed-forward 1024) by default."""

    model_type = "mi_transformer"

    vocab_size: int = 30522
    hidden_size: int = 256
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "relu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int | None = 0


class MiTransformerEmbeddings(nn.Module):
    """word [B, T, H] (or given inputs_embeds) + position + segment, LayerNorm, dropout → [B, T, H]."""

    def __init__(self, config: MiTransformerConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        n_types = config.type_vocab_size
        self.token_type_embeddings = nn.Embedding(n_types, config.hidden_size) if n_types > 0 else None
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, words: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        n_tok = words.shape[1]
        if n_tok > self.position_embeddings.num_embeddings:
            raise ValueError(f"input has {n_tok} tokens, over max_position_embeddings="
                             f"{self.position_embeddings.num_embeddings}")
        x = words + self.position_embeddings(torch.arange(n_tok, device=words.device))[None]
        if self.token_type_embeddings is not None and token_type_ids is not None:
            x = x + self.token_type_embeddings(token_type_ids.to(words.device))
        return self.dropout(self.LayerNorm(x))


class MiSelfAttention(nn.Module):
    """Multi-head self-attention over real keys only: x [B, T, H], mask bool [B, T] → [B, T, H]."""

    def __init__(self, config: MiTransformerConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not divisible by "
                             f"num_attention_heads {config.num_attention_heads}")
        self.heads = config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)  # 3 × [B, heads, T, d]
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :],
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out(ctx.transpose(1, 2).reshape(b, t, h))


class MiTransformerLayer(nn.Module):
    """Post-LN encoder layer: x [B, T, H] → LN(x + attn) → LN(· + FFN) [B, T, H]."""

    def __init__(self, config: MiTransformerConfig) -> None:
        super().__init__()
        self.attention = MiSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.attention_norm(hidden_states + self.dropout(self.attention(hidden_states, mask)))
        return self.output_norm(h + self.dropout(self.output(self.act(self.intermediate(h)))))


class MiTransformerPreTrainedModel(PreTrainedModel):
    """Weight init (normal(0, initializer_range), zero padding row) and loading for the family."""

    config_class = MiTransformerConfig
    base_model_prefix = "transformer"
    accepts_loss_kwargs = False  # the loss is a plain mean: let the Trainer scale it for gradient accumulation

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, std=std)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=std)
            zero_padding_row(module, init)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class MiTransformerModel(MiTransformerPreTrainedModel):
    """Embeddings, the encoder layers (``layers``, a ModuleList) and ``pooler`` (first token → [B, H], the
    classifier's input)."""

    def __init__(self, config: MiTransformerConfig) -> None:
        super().__init__(config)
        self.embeddings = MiTransformerEmbeddings(config)
        self.layers = nn.ModuleList(MiTransformerLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = FirstTokenPool()
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

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
        """input_ids / attention_mask / token_type_ids [B, T] or inputs_embeds [B, T, H] → last_hidden_state
        [B, T, H], pooler_output [B, H]; hidden_states (embeddings, layer 0, …) when asked."""
        reject_unused_kwargs(kwargs)
        words, mask = embed(self.embeddings.word_embeddings, input_ids, inputs_embeds, attention_mask)
        h = self.embeddings(words, token_type_ids)
        h, all_states = run_layers(self.layers, h, mask, wants_hidden_states(self.config, output_hidden_states))
        return base_output(h, self.pooler(h, mask), all_states, return_dict)


class MiTransformerForSequenceClassification(MiTransformerPreTrainedModel):
    """MiTransformerModel → first token → dropout → linear: logits [B, num_labels]."""

    def __init__(self, config: MiTransformerConfig) -> None:
        super().__init__(config)
        self.transformer = MiTransformerModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
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
        """Inputs as MiTransformerModel; labels [B] (class ids, or floats when num_labels == 1) → loss."""
        reject_unused_kwargs(kwargs)
        return classify(self.config, self.transformer, self.dropout, self.classifier, labels, return_dict,
                        input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                        token_type_ids=token_type_ids, output_hidden_states=output_hidden_states)
