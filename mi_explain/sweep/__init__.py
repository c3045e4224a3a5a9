"""The sweep engine: explain every text of a dataset at every layer of a model, resumably and sharded.

* :func:`sweep_dataset` — any ``transformers`` model and any ``datasets.Dataset``, DataFrame or CSV / TSV /
  JSONL file with a text column (or two, for pairs); ``mi-explain sweep --data FILE --model PATH --out DIR``
  on the command line.
* :func:`~mi_explain.sweep.engine.run_sweep` — the engine both use: σ_s estimated once per kind of state and
  reused, per-process kill-safe JSONL parts (:class:`ResultStore`) merged atomically, resume, ``accelerate
  launch`` sharding, progress bars with ETA, seconds per text.
* GLUE is a preset of it: :mod:`mi_explain.glue.sweep` (``mi-explain sweep --config FILE.yaml``).

Reports of a finished sweep folder: :func:`mi_explain.sweep.report.write_sweep_report`.
"""

from .dataset import load_model, sweep_dataset
from .engine import SweepOptions, default_states, run_sweep, sample_plan
from .inputs import TextTable, text_table
from .store import ResultStore

__all__ = ["ResultStore", "SweepOptions", "TextTable", "default_states", "load_model", "run_sweep", "sample_plan",
           "sweep_dataset", "text_table"]
