"""The offline GLUE metric: values against hand-computed ones, through evaluate's public API."""

from __future__ import annotations

import numpy as np
import pytest

from mi_explain.glue import glue_metric
from mi_explain.glue.metrics import METRIC_SCRIPT, compute_metrics_fn, load_metric

# TP = 2 (rows 0, 4), TN = 2 (rows 2, 5), FP = 1 (row 1), FN = 1 (row 3)
PRED = [1, 1, 0, 0, 1, 0]
REF = [1, 0, 0, 1, 1, 0]


def test_formulas_by_hand() -> None:
    p, r = np.array(PRED), np.array(REF)
    assert glue_metric.accuracy(p, r) == pytest.approx(4 / 6)
    assert glue_metric.f1_positive(p, r) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2/3
    assert glue_metric.matthews(p, r) == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))  # 1/3
    ones = np.ones(4, dtype=int)
    assert glue_metric.matthews(ones, np.array([1, 0, 1, 0])) == 0.0  # undefined → 0, as GLUE
    assert glue_metric.f1_positive(np.zeros(3, int), np.zeros(3, int)) == 0.0
    assert glue_metric.matthews(np.array([1, 0, 1]), np.array([0, 1, 0])) == pytest.approx(-1.0)


def test_evaluate_load_of_the_local_module() -> None:
    qqp = load_metric("qqp").compute(predictions=PRED, references=REF)
    assert qqp == pytest.approx({"accuracy": 4 / 6, "f1": 2 / 3})
    assert load_metric("cola").compute(predictions=PRED, references=REF) == pytest.approx(
        {"matthews_correlation": 1 / 3})
    assert load_metric("sst2").compute(predictions=PRED, references=REF) == pytest.approx({"accuracy": 4 / 6})
    assert METRIC_SCRIPT.endswith("glue_metric.py")


def test_direct_instance_and_unknown_config() -> None:
    m = glue_metric.GlueMetric(config_name="cola")
    m.add_batch(predictions=PRED[:3], references=REF[:3])
    m.add_batch(predictions=PRED[3:], references=REF[3:])
    assert m.compute() == pytest.approx({"matthews_correlation": 1 / 3})
    with pytest.raises(KeyError, match="unknown GLUE config 'mnli'"):
        glue_metric.GlueMetric(config_name="mnli")


def test_trainer_compute_metrics() -> None:
    from transformers import EvalPrediction

    logits = np.array([[0.0, 1.0] if p else [1.0, 0.0] for p in PRED])
    out = compute_metrics_fn("qqp")(EvalPrediction(predictions=logits, label_ids=np.array(REF)))
    assert out == pytest.approx({"accuracy": 4 / 6, "f1": 2 / 3})
