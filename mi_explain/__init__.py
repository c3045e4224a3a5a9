"""mi_explain: how much of each input word every layer of a model keeps (Guan et al., ICML 2019)."""

from .driver import estimate_regularization, explain, explain_function
from .estimator import EstimatorConfig, NonFiniteError
from .methods import Regularization, available_methods
from .methods.information import UnconvergedWarning
from .results import Explanation, Result, SaliencyExplanation, load

__all__ = ["EstimatorConfig", "Explanation", "MICallback", "NonFiniteError", "Regularization", "Result",
           "SaliencyExplanation", "UnconvergedWarning", "available_methods", "estimate_regularization", "explain",
           "explain_function", "load", "plot_training_information"]


def __getattr__(name: str):  # lazy: the callback imports transformers' Trainer machinery
    if name in ("MICallback", "plot_training_information"):
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'mi_explain' has no attribute {name!r}")


__version__ = "0.1.0"
