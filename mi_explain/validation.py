"""Type and value checks for the public entry points, run before any work is done.

Every message names the argument and says what was expected, e.g.
``TypeError: text must be a str, a (str, str) pair or a non-empty list of one of them, got int``.
``explain`` and ``explain_function`` call :func:`check_explain_args` / :func:`check_explain_function_args`
with ``locals()`` as their first statement; the CLI calls :func:`check_text` before it loads a model.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["TARGETS", "check_explain_args", "check_explain_function_args", "check_text", "describe"]

#: the named targets of ``explain`` (an int position is also accepted)
TARGETS = ("tokens", "cls", "first", "last", "logits", "prediction")
GRANULARITIES = ("word", "token")
_TEXT_KINDS = "a str, a (str, str) pair or a non-empty list of one of them"


def describe(value: object) -> str:
    """A short description of a value's type for messages: ``int``, ``str 'abc'``, ``bytes``."""
    name = type(value).__name__
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:29] + "…"
        return f"str {shown!r}"
    return name


# ------------------------------------------------------------------------------------------- texts

def _check_one(item: object, where: str) -> str:
    """Check one text (str or pair) at ``where``; returns its kind: "str" or "pair"."""
    if isinstance(item, str):
        if not item.strip():
            raise ValueError(f"{where} is empty or whitespace only: nothing to explain")
        return "str"
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ValueError(f"{where}: a text pair must be a tuple (first, second) of 2 strings, "
                             f"got {len(item)} elements")
        for k, part in enumerate(item):
            if not isinstance(part, str):
                raise TypeError(f"{where}[{k}] must be a str (a text pair holds two strings), got {describe(part)}")
            if not part.strip():
                which = "first" if k == 0 else "second"
                raise ValueError(f"{where}: the {which} text of the pair is empty or whitespace only; "
                                 "give a non-empty text or pass a single str instead of a pair")
        return "pair"
    if isinstance(item, (bytes, bytearray)):
        raise TypeError(f"{where} must be a str, got {type(item).__name__}: decode it first, "
                        "e.g. text.decode('utf-8')")
    if isinstance(item, list):
        raise TypeError(f"{where}: a text pair must be a tuple (first, second), not a list")
    raise TypeError(f"{where} must be a str or a (str, str) pair, got {describe(item)}")


def check_text(text: object, name: str = "text") -> None:
    """``text``: a str, a (str, str) pair, or a non-empty list (or other sequence) of only strings or only
    pairs.  Raises TypeError (wrong type) or ValueError (empty, mixed kinds), naming ``name``."""
    if isinstance(text, (str, tuple, bytes, bytearray)):
        _check_one(text, name)
        return
    if hasattr(text, "tolist") and not torch.is_tensor(text):  # numpy arrays, pandas Series
        text = text.tolist()
    if isinstance(text, (Mapping, set, frozenset)) or not isinstance(text, Sequence):
        raise TypeError(f"{name} must be {_TEXT_KINDS}, got {describe(text)}")
    if len(text) == 0:
        raise ValueError(f"{name} is an empty list: no text to explain")
    kinds: dict[str, int] = {}
    for i, item in enumerate(text):
        kinds.setdefault(_check_one(item, f"{name}[{i}]"), i)
    if len(kinds) > 1:
        raise ValueError(f"{name} mixes single texts and text pairs ({name}[{kinds['str']}] is a str, "
                         f"{name}[{kinds['pair']}] is a pair); explain them in separate calls")


# ------------------------------------------------------------------------------------------- scalars

def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(name: str, v: object, minimum: int | None = None, optional: bool = False) -> None:
    if v is None and optional:
        return
    if not _is_int(v):
        none = " or None" if optional else ""
        raise TypeError(f"{name} must be an int{none}, got {describe(v)}")
    if minimum is not None and int(v) < minimum:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be ≥ {minimum}, got {v}")


def _real(name: str, v: object, optional: bool, positive: bool) -> None:
    """A finite real number, > 0 (positive) or ≥ 0; None is accepted when optional."""
    if v is None and optional:
        return
    if not _is_real(v):
        none = " or None" if optional else ""
        raise TypeError(f"{name} must be a number{none}, got {describe(v)}")
    x = float(v)  # type: ignore[arg-type]
    if positive and not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {v}")
    if not positive and not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {v}")


def _nonnegative(name: str, v: object, optional: bool = False) -> None:
    _real(name, v, optional, positive=False)


def _positive(name: str, v: object, optional: bool = False) -> None:
    _real(name, v, optional, positive=True)


def _flag(name: str, v: object, optional: bool = False) -> None:
    if v is None and optional:
        return
    if not isinstance(v, bool):
        none = ", or None" if optional else ""
        raise TypeError(f"{name} must be True or False{none}, got {describe(v)}")


def _device(v: object) -> None:
    if v is None or isinstance(v, torch.device):
        return
    if not isinstance(v, (str, int)) or isinstance(v, bool):
        raise TypeError(f"device must be a str such as 'cpu' or 'cuda:0', a torch.device or None, got {describe(v)}")
    try:
        torch.device(v)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"device {v!r} is not a device torch knows (e.g. 'cpu', 'cuda', 'cuda:1'): {err}") from err


def _normalization(v: object) -> None:
    from .estimator import NORMALIZATIONS

    if not isinstance(v, str):
        raise TypeError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {describe(v)}")
    if v not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {v!r}")


def _regularization(v: object) -> None:
    if v is None or _is_real(v) or torch.is_tensor(v) or isinstance(v, Mapping) or hasattr(v, "sigma_s"):
        return
    if isinstance(v, (str, bytes, bool)) or not isinstance(v, Sequence):
        raise TypeError("regularization (σ_s) must be a number, one value per layer/state (list, tensor or "
                        f"dict) or None, got {describe(v)}")


def _common(a: Mapping[str, Any]) -> None:
    """Options shared by explain and explain_function (those present in ``a``)."""
    checks = {
        "rate": lambda v: _positive("rate", v),
        "scale": lambda v: _positive("scale", v, optional=True),
        "steps": lambda v: _int("steps", v, 1, optional=True),
        "samples": lambda v: _int("samples", v, 2, optional=True),
        # ≥ 0 here: 0 means "no early stop" for the perturbation mask; the information method's own config
        # refuses tol ≤ 0 with a message naming tol
        "tol": lambda v: _nonnegative("tol", v, optional=True),
        "seed": lambda v: _int("seed", v),
        "max_batch": lambda v: _int("max_batch", v, 1, optional=True),
        "batch_size": lambda v: _int("batch_size", v, 1),
        "n_reference": lambda v: _int("n_reference", v, 2, optional=True),
        "max_length": lambda v: _int("max_length", v, 1, optional=True),
        "device": _device,
        "progress": lambda v: _flag("progress", v, optional=True),
        "regularization": _regularization,
        "prior_scale": lambda v: _positive("prior_scale", v, optional=True),
        "normalization": _normalization,
    }
    for key, check in checks.items():
        if key in a:
            check(a[key])


# ------------------------------------------------------------------------------------------- entry points

def _check_model(model: object, tokenizer: object) -> None:
    if not isinstance(model, torch.nn.Module):
        hint = (" (this looks like a tokenizer: the order is explain(model, tokenizer, text))"
                if hasattr(model, "convert_ids_to_tokens") else
                " — load it first, e.g. AutoModel.from_pretrained(name)" if isinstance(model, str) else "")
        raise TypeError(f"model must be a torch.nn.Module{hint}, got {describe(model)}")
    if isinstance(tokenizer, torch.nn.Module):
        raise TypeError("tokenizer is a torch module: the order is explain(model, tokenizer, text)")
    if isinstance(tokenizer, str):
        raise TypeError(f"tokenizer must be a tokenizer object, e.g. AutoTokenizer.from_pretrained({tokenizer!r}), "
                        "not its name")
    if tokenizer is None or isinstance(tokenizer, (bytes, int, float, list, tuple, dict)):
        raise TypeError(f"tokenizer must be a transformers tokenizer (AutoTokenizer.from_pretrained(name)), "
                        f"got {describe(tokenizer)}")


def _check_layers(layers: object) -> None:
    if layers is None or isinstance(layers, str) or _is_int(layers):
        return
    if isinstance(layers, (Sequence, range)) and not isinstance(layers, (bytes, bytearray)):
        for i, item in enumerate(layers):
            if not (isinstance(item, str) or _is_int(item)):
                raise TypeError(f"layers[{i}] must be an int or 'embeddings', got {describe(item)}")
        return
    raise TypeError(f"layers must be None (all), an int, 'embeddings' or a list of them, got {describe(layers)}")


def _check_target(target: object) -> None:
    if _is_int(target):
        return
    if not isinstance(target, str):
        raise TypeError(f"target must be one of {', '.join(TARGETS)} or an int position, got {describe(target)}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)} or an int position, got {target!r}")


def _check_method(a: Mapping[str, Any]) -> None:
    if "method" not in a or isinstance(a["method"], str):
        return
    from .methods import Method

    if not isinstance(a["method"], Method):
        raise TypeError(f"method must be a name such as 'information' or 'lrp', or a configured "
                        f"mi_explain.methods.Method, got {describe(a['method'])}")


def check_explain_args(a: Mapping[str, Any]) -> None:
    """Check the arguments of :func:`mi_explain.explain` (``a``: its ``locals()``; missing keys are skipped)."""
    if "model" in a:
        _check_model(a["model"], a.get("tokenizer"))
    if "text" in a:
        check_text(a["text"], "text")
    if a.get("reference_texts") is not None:
        ref = a["reference_texts"]
        if isinstance(ref, (str, tuple)):
            raise TypeError("reference_texts must be a list of texts (at least 2), not a single text")
        check_text(ref, "reference_texts")
    _check_layers(a.get("layers"))
    if "target" in a:
        _check_target(a["target"])
    if "granularity" in a and a["granularity"] not in GRANULARITIES:
        raise ValueError(f"granularity must be 'word' or 'token', got {a['granularity']!r}")
    _check_method(a)
    lm = a.get("layer_modules")
    if lm is not None and (isinstance(lm, torch.nn.Module) or not isinstance(lm, (Sequence, Mapping))):
        raise TypeError(f"layer_modules must be a list of torch.nn.Module (or (module, 'input') pairs) or a dict "
                        f"{{label: module}} (wrap a single module in a list), got {describe(lm)}")
    for key in ("perturb_special", "truncation"):
        if key in a:
            _flag(key, a[key])
    if "autocast" in a:
        _flag("autocast", a["autocast"], optional=True)
    _common(a)


def check_explain_function_args(a: Mapping[str, Any]) -> None:
    """Check the arguments of :func:`mi_explain.explain_function` (``a``: its ``locals()``)."""
    if "phi" in a and not callable(a["phi"]):
        raise TypeError(f"phi must be a callable mapping a batch [B, n, K] to state(s), got {describe(a['phi'])}")
    if "x" in a and not torch.is_tensor(a["x"]):
        raise TypeError(f"x must be a torch.Tensor [n_words, K] of word embeddings, got {describe(a['x'])}")
    words = a.get("words")
    if words is not None:
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise TypeError(f"words must be a list of str (one per row of x) or None, got {describe(words)}")
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise TypeError(f"words[{i}] must be a str, got {describe(w)}")
    _check_method(a)
    ref = a.get("reference_inputs")
    if ref is not None and not torch.is_tensor(ref):
        raise TypeError(f"reference_inputs must be a torch.Tensor [M, n, K] or None, got {describe(ref)}")
    _common(a)
