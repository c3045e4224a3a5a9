"""Kept so that ``from mi_explain.api import ...`` still works: the driver lives in :mod:`mi_explain.driver`."""

from .driver import PreparedBatch, estimator_config, explain, explain_function, layer_specs, prepare_batch

__all__ = ["PreparedBatch", "estimator_config", "explain", "explain_function", "layer_specs", "prepare_batch"]
