"""Pieces shared by the three model families: input checks, the layer stack and base output, masked pooling, the
classification head.

Shapes: B batch, T tokens, H hidden units, E embedding size, C classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

__all__ = ["FirstTokenPool", "MaskedMaxPool", "base_output", "classification_loss", "classify", "embed", "first_real",
           "masked_max", "reject_unused_kwargs", "run_layers", "wants_hidden_states", "zero_padding_row"]


def embed(
    embeddings: nn.Embedding,
    input_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word vectors [B, T, E] from exactly one of input_ids [B, T] / inputs_embeds [B, T, E], and the
    attention mask as bool [B, T] (all True when None)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds "
                         f"(got {'both' if input_ids is not None else 'neither'})")
    x = embeddings(input_ids) if inputs_embeds is None else inputs_embeds
    if x.ndim != 3:
        raise ValueError(f"expected input_ids [batch, seq] or inputs_embeds [batch, seq, dim], got {tuple(x.shape)}")
    if attention_mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    else:
        mask = attention_mask.to(x.device).bool()
        if mask.shape != x.shape[:2]:
            raise ValueError(f"attention_mask {tuple(mask.shape)} does not match the input {tuple(x.shape[:2])}")
    return x, mask


def run_layers(layers: nn.ModuleList, h: torch.Tensor, mask: torch.Tensor, keep: bool,
               before: nn.Module | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """h [B, T, E] through each layer ``layer(before(h), mask)`` → (last state [B, T, H], (h, state of layer
    0, …) when ``keep``, else None)."""
    states = [h] if keep else None
    for layer in layers:
        h = layer(h if before is None else before(h), mask)
        if states is not None:
            states.append(h)
    return h, tuple(states) if states is not None else None


def base_output(h: torch.Tensor, pooled: torch.Tensor, all_states: tuple[torch.Tensor, ...] | None,
                return_dict: bool | None) -> BaseModelOutputWithPooling | tuple:
    """A base model's output: last_hidden_state h [B, T, H], pooler_output [B, H], hidden_states (or a tuple
    of them when return_dict is False)."""
    if return_dict is False:
        return (h, pooled) if all_states is None else (h, pooled, all_states)
    return BaseModelOutputWithPooling(last_hidden_state=h, pooler_output=pooled, hidden_states=all_states)


def wants_hidden_states(config: PretrainedConfig, output_hidden_states: bool | None) -> bool:
    """The forward's ``output_hidden_states``, else the config's."""
    return bool(output_hidden_states if output_hidden_states is not None else config.output_hidden_states)


def masked_max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over the real positions: hidden [B, T, H], mask bool [B, T] → [B, H] (0 for an empty row)."""
    filled = hidden.masked_fill(~mask[..., None], float("-inf")).amax(1)
    return torch.where(mask.any(1, keepdim=True), filled, torch.zeros_like(filled))


def first_real(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The state at the first real position (left padding safe): hidden [B, T, H] → [B, H]."""
    first = mask.to(torch.uint8).argmax(1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]


class MaskedMaxPool(nn.Module):
    """The pooling as a module (so hooks can capture the classifier's input): [B, T, H], mask → [B, H]."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_max(hidden, mask)


class FirstTokenPool(nn.Module):
    """The first real position as a module: [B, T, H], mask → [B, H]."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return first_real(hidden, mask)


def zero_padding_row(module: nn.Embedding, init) -> None:  # noqa: ANN001
    """Zero the padding row of a freshly initialised embedding (not of loaded weights)."""
    if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
        init.zeros_(module.weight[module.padding_idx])


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Cross-entropy for num_labels ≥ 2 (labels [B] class ids), MSE for 1 (labels [B] floats)."""
    if num_labels == 1:
        return F.mse_loss(logits.squeeze(-1).float(), labels.to(logits.device).float().view(-1))
    return F.cross_entropy(logits.float().view(-1, num_labels), labels.to(logits.device).long().view(-1))


def reject_unused_kwargs(kwargs: dict) -> None:
    """Raise on a tensor argument the model would silently ignore (a misspelt input); other extras
    (use_cache, output_attentions, num_items_in_batch …) are accepted and ignored."""
    tensors = sorted(k for k, v in kwargs.items() if torch.is_tensor(v) and k != "num_items_in_batch")
    if tensors:
        raise TypeError(f"unexpected model input(s) {tensors}")


def classify(
    config: PretrainedConfig,
    base: nn.Module,
    dropout: nn.Module,
    classifier: nn.Linear,
    labels: torch.Tensor | None,
    return_dict: bool | None,
    **inputs: torch.Tensor | bool | None,
) -> SequenceClassifierOutput | tuple:
    """Run ``base`` (→ pooler_output [B, H]), then dropout and ``classifier`` (→ logits [B, C]) and the loss."""
    out: BaseModelOutputWithPooling = base(**inputs, return_dict=True)
    logits = classifier(dropout(out.pooler_output))
    loss = None if labels is None else classification_loss(logits, labels, config.num_labels)
    if return_dict is None:
        return_dict = getattr(config, "return_dict", True)
    if not return_dict:
        rest = (logits,) if out.hidden_states is None else (logits, out.hidden_states)
        return rest if loss is None else (loss, *rest)
    return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
