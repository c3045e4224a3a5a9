"""Baselines beside the information measure, behind one API and one result type.

``explain(model, tokenizer, text, method=NAME)`` (or :func:`explain_with` with method options) and
:func:`explain_function_with` (any ``phi``, like :func:`mi_explain.explain_function`) return an
:class:`~mi_explain.Explanation` for every method in :data:`METHODS`:

================================  ==========================================================================
``"information"`` (default)       ours: σ per word and layer (Guan et al. 2019), ``mi_explain.explain``
``"gradient"``                    Li et al. (2015): mean over embedding dims of |∂S/∂x|  (captum Saliency)
``"integrated_gradients"``        Sundararajan et al. (2017), zero-embedding baseline   (captum IG)
``"perturbation"``                Fong & Vedaldi (2017) learned preservation mask over words
``"lrp"``                         LRP-ε as a modified gradient (Bach et al. 2015; Arras et al. 2017 for LSTMs;
                                  Ali et al. 2022 for attention and LayerNorm)
================================  ==========================================================================

Baselines return a :class:`SaliencyExplanation` (a subclass of Explanation): ``.sigma`` holds the saliency
(higher = more important), ``options["method"]`` names the method, ``options["saliency"]`` says what the
number is, and ``information`` / ``entropy`` are NaN (they are formulas of a noise scale σ; see
:class:`SaliencyExplanation`).  How gradient methods treat a whole layer (or any vector state) is set by
``reduction``: ``"vector"`` (default: per-unit scores, Euclidean norm over the units, from ``projections``
random read-outs), ``"sum"`` or ``"norm"`` — see :mod:`mi_explain.methods.base`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..validation import check_explain_args, check_explain_function_args
from .base import Batch, SaliencyExplanation, SaliencyMethod, load_explanation, run_on_function, run_on_model
from .gradient import Gradient, IntegratedGradients
from .lrp import LRP, LRPMode, LRPUnsupportedError
from .perturbation import Perturbation

__all__ = ["Batch", "Gradient", "INFORMATION", "IntegratedGradients", "LRP", "LRPMode", "LRPUnsupportedError",
           "METHODS", "Perturbation", "SaliencyExplanation", "SaliencyMethod", "available_methods",
           "dispatch_explain", "explain_function_with", "explain_with", "get_method", "load_explanation",
           "register_method"]

INFORMATION = "information"

#: name → baseline class (constructor keyword arguments are the method's options).
METHODS: dict[str, type[SaliencyMethod]] = {
    "gradient": Gradient,
    "integrated_gradients": IntegratedGradients,
    "perturbation": Perturbation,
    "lrp": LRP,
}


def available_methods() -> list[str]:
    """All method names, ours first."""
    return [INFORMATION, *METHODS]


def register_method(cls: type[SaliencyMethod], name: str | None = None) -> type[SaliencyMethod]:
    """Add a baseline (a :class:`SaliencyMethod` subclass) to the registry; usable as a decorator."""
    key = name or cls.name
    if key == INFORMATION:
        raise ValueError(f"{INFORMATION!r} is the information method itself and cannot be replaced")
    METHODS[key] = cls
    return cls


def get_method(name: str | SaliencyMethod, **options: Any) -> SaliencyMethod:
    """A configured baseline: ``get_method("integrated_gradients", n_steps=64, reduction="norm")``."""
    if isinstance(name, SaliencyMethod):
        if options:
            raise ValueError("options given together with a method instance")
        return name
    if name == INFORMATION:
        raise ValueError("'information' is run by mi_explain.explain / explain_function, not as a baseline")
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {available_methods()}")
    cls = METHODS[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"method {name!r} has no option(s) {unknown}; its options are {allowed}")
    return cls(**options)


_COMMON = ("layers", "target", "granularity", "seed", "device", "progress", "max_batch", "batch_size",
           "layer_modules", "perturb_special", "truncation")


def explain_with(
    method: str | SaliencyMethod, model: torch.nn.Module, tokenizer: Any, text: Any, **kwargs: Any,
):
    """``explain`` with any method.  kwargs: the common options of :func:`mi_explain.explain` (layers, target,
    granularity, seed, device, progress, max_batch, batch_size, layer_modules, perturb_special,
    truncation); for ``"information"`` also its own options; for a baseline its options (e.g.
    ``reduction``, ``n_steps``, ``epsilon``, ``area``).  Returns an Explanation or a list of them."""
    if method == INFORMATION:
        from ..api import explain

        return explain(model, tokenizer, text, **kwargs)
    check_explain_args({"model": model, "tokenizer": tokenizer, "text": text, **kwargs})
    common = {k: kwargs.pop(k) for k in list(kwargs) if k in _COMMON}
    m = get_method(method, **kwargs)
    single = isinstance(text, (str, tuple))
    texts = [text] if single else list(text)
    if not texts:
        raise ValueError("no text given: nothing to explain")
    out = run_on_model(m, model, tokenizer, texts, **common)
    return out[0] if single else out


def dispatch_explain(method: str, model: torch.nn.Module, tokenizer: Any, text: Any, *,
                     information_options: dict[str, Any], **common: Any):
    """Called by ``mi_explain.explain(..., method=...)`` for a method other than "information"; refuses
    information-only options that a baseline would silently ignore."""
    from ..api import explain

    defaults = {k: p.default for k, p in inspect.signature(explain).parameters.items()}
    def same(v: Any, d: Any) -> bool:
        return v is d or (isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(d, (int, float))
                          and v == d)

    changed = sorted(k for k, v in information_options.items() if k in defaults and not same(v, defaults[k]))
    if changed:
        raise ValueError(f"option(s) {changed} belong to the information method and do not apply to {method!r}; "
                         "pass method options through mi_explain.methods.explain_with")
    return explain_with(method, model, tokenizer, text, **common)


def explain_function_with(method: str | SaliencyMethod, phi: Callable, x: torch.Tensor, *,
                          words: Sequence[str] | None = None, **kwargs: Any):
    """:func:`mi_explain.explain_function` with any method: phi maps [B, n, K] to one state or a
    list/dict of states (one map row each).  Baseline kwargs: seed, max_batch, progress, prior_scale and
    the method's options."""
    if method == INFORMATION:
        from ..api import explain_function

        return explain_function(phi, x, words=words, **kwargs)
    check_explain_function_args({"phi": phi, "x": x, "words": words, **kwargs})
    common = {k: kwargs.pop(k) for k in list(kwargs) if k in ("seed", "max_batch", "progress", "prior_scale")}
    return run_on_function(get_method(method, **kwargs), phi, x, words=words, **common)
