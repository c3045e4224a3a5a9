"""mi_explain: how much of each input word every layer of a model keeps (Guan et al., ICML 2019)."""

from .api import explain, explain_function
from .estimator import EstimatorConfig, NonFiniteError
from .explanation import Explanation

__all__ = ["EstimatorConfig", "Explanation", "NonFiniteError", "explain", "explain_function"]
__version__ = "0.1.0"
