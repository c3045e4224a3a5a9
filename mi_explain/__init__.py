"""mi_explain: how much of each input word every layer of a model keeps (Guan et al., ICML 2019)."""

from .api import explain, explain_function
from .estimator import EstimatorConfig, NonFiniteError
from .explanation import Explanation

__all__ = ["EstimatorConfig", "Explanation", "MICallback", "NonFiniteError", "explain", "explain_function",
           "plot_training_information"]


def __getattr__(name: str):  # lazy: the callback imports transformers' Trainer machinery
    if name in ("MICallback", "plot_training_information"):
        from . import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'mi_explain' has no attribute {name!r}")
__version__ = "0.1.0"
