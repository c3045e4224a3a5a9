"""GLUE runner (paper Sec. 5): SST-2, CoLA and QQP with BERT, Transformer, LSTM and CNN.

data (local TSVs or the Hub) → train/fine-tune with the HF Trainer and evaluate with a local ``evaluate``
metric (``train``) → explain sampled validation texts at the prediction state and at every layer, sharded
with ``accelerate`` and resumable (``sweep``) → tables, figures and reports (``report``).
Entry points: ``scripts/glue_train.py`` and ``scripts/glue_sweep.py``, driven by ``configs/*.yaml``.
"""

from .data import load_glue
from .tasks import TASKS, get_task

__all__ = ["TASKS", "get_task", "load_glue"]
