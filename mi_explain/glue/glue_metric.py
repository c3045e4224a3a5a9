"""GLUE metrics for SST-2, CoLA and QQP as a local ``evaluate`` module (works offline).

``evaluate.load("glue", ...)`` needs the Hub.  This file is a self-contained evaluate metric script:
load it with ``evaluate.load(path_to_this_file, "qqp")`` or instantiate ``GlueMetric(config_name="qqp")``.
It imports nothing from ``mi_explain`` because ``evaluate.load`` copies it into its module cache.

sst2: accuracy.  cola: Matthews correlation.  qqp: accuracy and F1 of the positive (duplicate) class.
Values follow the definitions used by GLUE (scikit-learn's ``accuracy_score``, ``f1_score``,
``matthews_corrcoef``; 0.0 where a denominator is zero).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "GLUE metrics (accuracy; F1 for QQP; Matthews correlation for CoLA) that work offline."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted labels (0/1), list of int.
    references: gold labels (0/1), list of int.
Returns:
    sst2: {"accuracy"}; cola: {"matthews_correlation"}; qqp: {"accuracy", "f1"}.
"""
_CITATION = "Wang et al., GLUE: A Multi-Task Benchmark and Analysis Platform for NLU, ICLR 2019."

_CONFIGS = ("sst2", "cola", "qqp")


def accuracy(pred: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of predictions equal to the references."""
    return float((pred == ref).mean()) if len(ref) else 0.0


def f1_positive(pred: np.ndarray, ref: np.ndarray) -> float:
    """F1 of class 1: 2·TP / (2·TP + FP + FN); 0.0 when there is no positive at all."""
    tp = int(((pred == 1) & (ref == 1)).sum())
    fp = int(((pred == 1) & (ref != 1)).sum())
    fn = int(((pred != 1) & (ref == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def matthews(pred: np.ndarray, ref: np.ndarray) -> float:
    """Matthews correlation (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)); 0.0 if undefined."""
    p, r = pred == 1, ref == 1
    tp, tn = float((p & r).sum()), float((~p & ~r).sum())
    fp, fn = float((p & ~r).sum()), float((~p & r).sum())
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(den)) if den > 0 else 0.0


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GlueMetric(evaluate.Metric):
    """evaluate.Metric for the GLUE tasks sst2, cola and qqp (config_name)."""

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in _CONFIGS:
            raise KeyError(f"unknown GLUE config {self.config_name!r}: choose one of {', '.join(_CONFIGS)}")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}),
            format="numpy",
        )

    def _compute(self, predictions, references) -> dict[str, float]:  # noqa: ANN001
        pred, ref = np.asarray(predictions).astype(int), np.asarray(references).astype(int)
        if self.config_name == "cola":
            return {"matthews_correlation": matthews(pred, ref)}
        if self.config_name == "qqp":
            return {"accuracy": accuracy(pred, ref), "f1": f1_positive(pred, ref)}
        return {"accuracy": accuracy(pred, ref)}
