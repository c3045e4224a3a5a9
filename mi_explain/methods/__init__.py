"""The method registry: every way to explain a state, found by name.

``mi_explain.explain(model, tokenizer, text, method=NAME, **options)`` and
``mi_explain.explain_function(phi, x, method=NAME, **options)`` run any method in :data:`METHODS` through
the one driver (:mod:`mi_explain.driver`); ``options`` are the method's constructor arguments.

================================  ==========================================================================
``"information"`` (default)       ours: σ per word and layer (Guan et al. 2019) → :class:`~mi_explain.Explanation`
``"gradient"``                    Li et al. (2015): mean over embedding dims of |∂S/∂x|  (captum Saliency)
``"integrated_gradients"``        Sundararajan et al. (2017), zero-embedding baseline   (captum IG)
``"perturbation"``                Fong & Vedaldi (2017) learned preservation mask over words
``"lrp"``                         LRP-ε as a modified gradient (Bach et al. 2015; Arras et al. 2017 for LSTMs;
                                  Ali et al. 2022 for attention and LayerNorm)
================================  ==========================================================================

Baselines return a :class:`~mi_explain.results.SaliencyExplanation`: ``.scores`` [layers, words] (higher =
more important), ``method`` names the method, ``options["saliency"]`` says what the number is.  How
gradient methods treat a whole layer (or any vector state) is set by ``reduction``: ``"vector"`` (default:
per-unit scores, Euclidean norm over the units, from ``projections`` random read-outs), ``"sum"`` or
``"norm"`` — see :mod:`mi_explain.methods.base`.  New methods: subclass :class:`Method` and
:func:`register_method`.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import Attribution, Batch, Method, ResultInfo, SaliencyMethod
from .gradient import Gradient, IntegratedGradients
from .information import Information, Regularization
from .lrp import LRP, LRPMode, LRPUnsupportedError
from .perturbation import Perturbation

__all__ = ["Attribution", "Batch", "Gradient", "INFORMATION", "Information", "IntegratedGradients", "LRP", "LRPMode",
           "LRPUnsupportedError", "METHODS", "Method", "Perturbation", "Regularization", "ResultInfo",
           "SaliencyMethod", "available_methods", "get_method", "method_options", "register_method"]

INFORMATION = "information"

#: name → method class (constructor keyword arguments are the method's options); ours first.
METHODS: dict[str, type[Method]] = {
    INFORMATION: Information,
    "gradient": Gradient,
    "integrated_gradients": IntegratedGradients,
    "perturbation": Perturbation,
    "lrp": LRP,
}


def available_methods() -> list[str]:
    """All method names, ours first."""
    return list(METHODS)


def register_method(cls: type[Method], name: str | None = None) -> type[Method]:
    """Add a method (a :class:`Method` subclass) to the registry; usable as a decorator."""
    key = name or cls.name
    if key == INFORMATION:
        raise ValueError(f"{INFORMATION!r} is the information method itself and cannot be replaced")
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register_method needs a Method subclass, got {cls!r}")
    METHODS[key] = cls
    return cls


def method_options(name: str) -> list[str]:
    """The option names (constructor arguments) of the method ``name``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {available_methods()}")
    return [p for p in inspect.signature(METHODS[name].__init__).parameters if p != "self"]


def get_method(name: str | Method, **options: Any) -> Method:
    """A configured method: ``get_method("integrated_gradients", n_steps=64, reduction="norm")``."""
    if isinstance(name, Method):
        if options:
            raise ValueError(f"option(s) {sorted(options)} given together with a configured {name.name!r} method")
        return name
    allowed = method_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"method {name!r} has no option(s) {unknown}; its options are {allowed}")
    return METHODS[name](**options)

