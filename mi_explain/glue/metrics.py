"""The task metric through ``evaluate``'s public API, and the Trainer's ``compute_metrics``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .tasks import get_task

__all__ = ["METRIC_SCRIPT", "compute_metrics_fn", "load_metric"]

#: the local evaluate module (``evaluate.load(METRIC_SCRIPT, task)`` works offline)
METRIC_SCRIPT = str(Path(__file__).with_name("glue_metric.py"))


def load_metric(task: str):
    """``evaluate.load`` of the local GLUE metric module for ``task`` (imports evaluate lazily: ~5 s)."""
    import evaluate

    return evaluate.load(METRIC_SCRIPT, get_task(task).name)


def compute_metrics_fn(task: str) -> Callable:
    """A Trainer ``compute_metrics``: EvalPrediction (logits [N, 2], labels [N]) → metric dict."""
    metric = load_metric(task)

    def compute(eval_pred) -> dict[str, float]:  # noqa: ANN001
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        return metric.compute(predictions=np.asarray(logits).argmax(-1), references=np.asarray(labels))

    return compute
