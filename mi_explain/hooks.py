"""Where hidden states are captured: layer discovery, forward hooks, and a model guard.

``find_layers`` finds the repeated layer modules of any ``transformers`` model (the encoder/decoder
``ModuleList``: ``bert.encoder.layer``, ``transformer.h``, ``distilbert.transformer.layer`` …).
``layer_specs`` turns the user's ``layers`` / ``layer_modules`` (a module's output, or its input with
``(module, "input")``) into capture specs; ``output_spec`` captures the model's own output (its logits).
``LayerCapture`` records the states during a forward pass and stops the pass once every requested
state has been seen.  ``frozen`` puts a model in eval mode without parameter gradients and restores
``requires_grad``, train/eval flags and hooks exactly, also when an error is raised.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["EMBEDDINGS", "LayerSpec", "LayerCapture", "StopForward", "find_input_embeddings", "find_layers",
           "frozen", "hidden_from_output", "layer_position", "layer_specs", "output_spec"]

#: label of the extra row "input of the first layer" (embeddings after position/type/LayerNorm).
EMBEDDINGS = "embeddings"


class StopForward(Exception):
    """Raised inside a hook to end a forward pass once the deepest requested layer has run."""


@dataclass(frozen=True)
class LayerSpec:
    """One explained state: a module and whether its input (``pre``) or output is captured; ``key``: the
    field of the output to take (e.g. ``"logits"`` of a model's output), None: the hidden-state tensor."""

    label: str
    name: str
    module: nn.Module
    pre: bool = False
    key: str | None = None


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


def _field(output: object, key: str) -> torch.Tensor:
    value = output.get(key) if isinstance(output, dict) else getattr(output, key, None)
    if not torch.is_tensor(value):
        raise TypeError(f"the model's output ({type(output).__name__}) has no tensor field {key!r}: "
                        "does the model have a head (e.g. *ForSequenceClassification)?")
    return value


ModuleChoice = nn.Module | tuple[nn.Module, str]


def _resolve_modules(model: nn.Module, layer_modules: Sequence[ModuleChoice] | Mapping[str, ModuleChoice]
                     ) -> list[tuple[str, nn.Module, bool, str | None]]:
    """(qualified name, module, capture its input?, label or None) for each entry of ``layer_modules``."""
    labels: list[str | None]
    if isinstance(layer_modules, Mapping):
        labels, mods = [str(k) for k in layer_modules], list(layer_modules.values())
    else:
        mods = list(layer_modules)
        labels = [None] * len(mods)
    if not mods:
        raise ValueError("layer_modules must be a non-empty list of torch.nn.Module or (module, 'input'|'output')")
    names = {id(m): n for n, m in model.named_modules()}
    found = []
    for i, item in enumerate(mods):
        module, where = (item if isinstance(item, tuple) else (item, "output"))
        if not isinstance(module, nn.Module):
            raise ValueError(f"layer_modules[{i}] must be a torch.nn.Module or (module, 'input'|'output'), "
                             f"got {type(module).__name__}")
        if where not in ("input", "output"):
            raise ValueError(f"layer_modules[{i}]: capture {where!r} is neither 'input' nor 'output'")
        if id(module) not in names:
            raise ValueError(f"layer_modules[{i}] ({type(module).__name__}) is not a submodule of the model")
        found.append((names[id(module)], module, where == "input", labels[i]))
    return found


def layer_position(label: str) -> int | None:
    """Depth of a row label made by :func:`layer_specs`: ``EMBEDDINGS`` → -1, ``"layer N"`` → N; None for any
    other label (a named module, the prediction state)."""
    label = str(label)
    if label == EMBEDDINGS:
        return -1
    if label.startswith("layer ") and label[6:].isdigit():
        return int(label[6:])
    return None


def layer_specs(
    model: nn.Module,
    layers: Sequence[int | str] | int | str | None = None,
    layer_modules: Sequence[ModuleChoice] | Mapping[str, ModuleChoice] | None = None,
) -> list[LayerSpec]:
    """Resolve ``layers`` (None: all; ints index the layer modules from 0, negatives from the end;
    ``"embeddings"`` is the input of the first layer) into capture specs, in forward order.

    layer_modules: the modules to index instead of :func:`find_layers`' list; an entry ``(module,
    "input")`` captures what the module receives (e.g. a classifier's input), a bare module its output;
    a dict ``{label: module or (module, "input")}`` also names the rows.
    """
    if layer_modules is not None:
        found = _resolve_modules(model, layer_modules)
    else:
        found = [(name, m, False, None) for name, m in find_layers(model)]
    n = len(found)
    if layers is None:
        wanted: list[int | str] = list(range(n))
    elif isinstance(layers, (int, str)):
        wanted = [layers]
    else:
        wanted = list(layers)
    if not wanted:
        raise ValueError("layers is empty: nothing to explain")
    specs, seen = [], set()
    for item in wanted:
        if isinstance(item, str):
            if item != EMBEDDINGS:
                raise ValueError(f"unknown layer {item!r}: use an int in [-{n}, {n}) or {EMBEDDINGS!r}")
            key: int = -1
            spec = LayerSpec(EMBEDDINGS, f"{found[0][0]} (input)", found[0][1], pre=True)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -n <= item < n:
                raise IndexError(f"layer index {item} out of range: the model has {n} layers (0…{n - 1})")
            key = item % n
            name, module, pre, given = found[key]
            label = given or (f"{name} (input)" if pre else f"layer {key}")
            spec = LayerSpec(label, f"{name} (input)" if pre else name, module, pre=pre)
        else:
            raise TypeError(f"layers must hold ints or {EMBEDDINGS!r}, got {item!r}")
        if key in seen:
            raise ValueError(f"layer {item!r} requested twice")
        seen.add(key)
        specs.append((key, spec))
    return [s for _, s in sorted(specs, key=lambda t: t[0])]


def output_spec(model: nn.Module, label: str = "logits") -> LayerSpec:
    """Capture the model's own output field ``logits`` (models with a head: *ForSequenceClassification,
    *ForCausalLM, ...)."""
    return LayerSpec(label, "(model output).logits", model, pre=False, key="logits")


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
                def hook(_m, _args, output, idx=idx, key=spec.key):  # noqa: ANN001
                    self._record(idx, hidden_from_output(output) if key is None else _field(output, key))
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
