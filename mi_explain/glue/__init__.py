"""GLUE runner (paper Sec. 5): SST-2, CoLA and QQP with BERT, Transformer, LSTM and CNN.

data (local TSVs or the Hub) → train/fine-tune with the HF Trainer and evaluate with a local ``evaluate``
metric (``train``) → explain sampled validation texts at the prediction state and at every layer, sharded
with ``accelerate`` and resumable (``sweep``: the GLUE preset of :mod:`mi_explain.sweep`) → tables, figures
and reports (``report``) → compact summaries in ``docs/data`` (``summaries``) → ``docs/results.md`` from them
alone (``results_page``).  Entry points: ``scripts/glue_train.py``, ``scripts/glue_sweep.py`` (or
``mi-explain sweep --config``), driven by ``configs/*.yaml``, and ``python -m mi_explain.glue.report``.
"""

from .data import load_glue
from .tasks import TASKS, get_task

__all__ = ["TASKS", "get_task", "load_glue"]
