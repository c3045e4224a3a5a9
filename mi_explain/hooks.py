"""Where hidden states are captured: layer discovery, forward hooks, and a model guard.

``find_layers`` finds the repeated layer modules of any ``transformers`` model (the encoder/decoder
``ModuleList``: ``bert.encoder.layer``, ``transformer.h``, ``distilbert.transformer.layer`` …).
``LayerCapture`` records their outputs during a forward pass and stops the pass once every requested
layer has run.  ``frozen`` puts a model in eval mode without parameter gradients and restores
``requires_grad``, train/eval flags and hooks exactly, also when an error is raised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["EMBEDDINGS", "LayerSpec", "LayerCapture", "StopForward", "find_input_embeddings", "find_layers",
           "frozen", "hidden_from_output"]

#: label of the extra row "input of the first layer" (embeddings after position/type/LayerNorm).
EMBEDDINGS = "embeddings"


class StopForward(Exception):
    """Raised inside a hook to end a forward pass once the deepest requested layer has run."""


@dataclass(frozen=True)
class LayerSpec:
    """One explained state: a module and whether its input (``pre``) or output is captured."""

    label: str
    name: str
    module: nn.Module
    pre: bool = False


def find_input_embeddings(model: nn.Module) -> nn.Embedding:
    """The word-embedding module, whose output is perturbed (clear error if there is none)."""
    emb = None
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            emb = getter()
        except (NotImplementedError, AttributeError):
            emb = None
    if emb is None:
        embs = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        emb = embs[0] if embs else None
    if emb is None or not hasattr(emb, "weight"):
        raise ValueError(
            f"{type(model).__name__} has no discoverable input embeddings: it defines no "
            "get_input_embeddings() and contains no nn.Embedding"
        )
    return emb


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def find_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layer modules in order, as (qualified name, module).

    Looks inside the base model (``base_model_prefix``) and, for encoder–decoder models, inside the
    encoder, for ``nn.ModuleList``s whose children all share one class; takes the one holding the most
    parameters.  Raises ValueError when there is none: pass ``layer_modules=`` explicitly then.
    """
    root: nn.Module = model
    prefix = getattr(model, "base_model_prefix", "")
    if prefix and isinstance(getattr(model, prefix, None), nn.Module):
        root = getattr(model, prefix)
    get_encoder = getattr(root, "get_encoder", None)
    if callable(get_encoder):
        try:
            enc = get_encoder()
            if isinstance(enc, nn.Module) and enc is not root:
                root = enc
        except (NotImplementedError, AttributeError):
            pass
    names = {id(m): n for n, m in model.named_modules()}
    best: tuple[int, str, nn.ModuleList] | None = None
    for _, mod in root.named_modules():
        if not isinstance(mod, nn.ModuleList) or len(mod) == 0:
            continue
        kinds = {type(c) for c in mod}
        if len(kinds) != 1:
            continue
        size = _param_count(mod)
        if size > 0 and (best is None or size > best[0]):
            best = (size, names.get(id(mod), ""), mod)
    if best is None:
        raise ValueError(
            f"could not find the layers of {type(model).__name__}: no nn.ModuleList of identical modules; "
            "pass layer_modules=[...] with the modules to explain"
        )
    _, list_name, mod_list = best
    return [(f"{list_name}.{i}" if list_name else str(i), m) for i, m in enumerate(mod_list)]


def hidden_from_output(output: object) -> torch.Tensor:
    """The hidden-state tensor inside a layer's output (a tensor, a tuple's first tensor, a ModelOutput)."""
    if torch.is_tensor(output):
        return output
    if isinstance(output, dict):
        for key in ("last_hidden_state", "hidden_states"):
            if torch.is_tensor(output.get(key)):
                return output[key]
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            if torch.is_tensor(item):
                return item
    raise TypeError(f"cannot find a hidden-state tensor in a layer output of type {type(output).__name__}")


class LayerCapture:
    """Forward hooks that store the hidden state of each spec and stop the pass after the last one.

    Use as a context manager; ``states`` maps spec index → tensor [B, T, H] after each forward pass.
    """

    def __init__(self, specs: Sequence[LayerSpec], stop_early: bool = True) -> None:
        self.specs = list(specs)
        self.stop_early = stop_early
        self.states: dict[int, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _record(self, idx: int, value: torch.Tensor) -> None:
        self.states[idx] = value
        if self.stop_early and len(self.states) == len(self.specs):
            raise StopForward

    def __enter__(self) -> LayerCapture:
        for idx, spec in enumerate(self.specs):
            if spec.pre:
                def pre_hook(_m, args, kwargs, idx=idx):  # noqa: ANN001
                    value = args[0] if args else kwargs.get("hidden_states")
                    self._record(idx, hidden_from_output(value))
                handle = spec.module.register_forward_pre_hook(pre_hook, with_kwargs=True)
            else:
                def hook(_m, _args, output, idx=idx):  # noqa: ANN001
                    self._record(idx, hidden_from_output(output))
                handle = spec.module.register_forward_hook(hook)
            self._handles.append(handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def run(self, forward) -> list[torch.Tensor]:  # noqa: ANN001
        """Call ``forward()`` and return the captured states in spec order."""
        self.states = {}
        try:
            forward()
        except StopForward:
            pass
        missing = [self.specs[i].label for i in range(len(self.specs)) if i not in self.states]
        if missing:
            raise RuntimeError(f"the forward pass never ran the layer(s) {missing}: are they used by this model?")
        return [self.states[i] for i in range(len(self.specs))]


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients inside; every flag restored exactly on exit (errors too)."""
    grads = [(p, p.requires_grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    try:
        for p, _ in grads:
            p.requires_grad_(False)
        model.eval()
        yield model
    finally:
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag
