"""GLUE data: local TSV files (checked line by line) or the Hub, loaded with ``datasets``.

Where the data comes from (first that applies):

1. ``data_dir`` given: a folder holding ``<task>/{train,validation}.tsv``; the value ``"hub"`` forces the Hub;
2. the environment variable ``MI_EXPLAIN_GLUE_DIR``;
3. offline (``HF_DATASETS_OFFLINE`` or ``HF_HUB_OFFLINE`` set) and ``<repo>/../shared/data/glue`` exists: that;
4. the Hub's GLUE (``nyu-mll/glue``, configs sst2, cola, qqp).

Local files are tab-separated with a header (``sentence, label`` or ``question1, question2, label``), no
quoting (``csv.QUOTE_NONE``) and no NA parsing; any malformed line raises an error naming file and line.
Every split gets an ``idx`` column: the row's position in its file (or GLUE's own idx on the Hub).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .tasks import QQP_LOCAL_NOTE, TaskSpec, get_task

__all__ = ["ENV_VAR", "HUB_DATASET", "GlueData", "check_tsv", "default_local_dir", "load_glue", "resolve_source",
           "split_heldout", "subset", "texts_of"]

ENV_VAR = "MI_EXPLAIN_GLUE_DIR"
HUB_DATASET = "nyu-mll/glue"
SPLITS = ("train", "validation")


def default_local_dir() -> Path:
    """``<repo>/../shared/data/glue`` (the shared files next to this checkout; :mod:`mi_explain.resources`)."""
    from ..resources import shared_glue_dir

    return shared_glue_dir()


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def resolve_source(data_dir: str | os.PathLike | None = None) -> str | Path:
    """The local GLUE folder to read, or ``"hub"`` (see the module docstring for the order)."""
    if data_dir is not None and str(data_dir) != "":
        return "hub" if str(data_dir) == "hub" else Path(data_dir)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if _offline():
        if default_local_dir().is_dir():
            return default_local_dir()
        raise FileNotFoundError(
            f"offline and no local GLUE files: pass --data_dir or set {ENV_VAR} to a folder holding "
            f"<task>/train.tsv and <task>/validation.tsv (looked for {default_local_dir()})")
    return "hub"


def check_tsv(path: str | os.PathLike, columns: tuple[str, ...]) -> int:
    """Check a GLUE TSV file line by line; return its number of rows (header excluded).

    Raises FileNotFoundError for a missing file and ValueError naming the file and the 1-based line
    for a wrong header, a wrong number of tab-separated fields, an empty text or a label not 0/1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GLUE file not found (expected a TSV with header "
                                f"{chr(9).join(columns)!r})")
    n = 0
    with open(path, encoding="utf-8", newline="") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.rstrip("\n").rstrip("\r")
            fields = line.split("\t")
            if number == 1:
                if tuple(fields) != columns:
                    raise ValueError(f"{path}, line 1: header is {fields}, expected {list(columns)}")
                continue
            if not line and raw in ("\n", "\r\n", ""):
                raise ValueError(f"{path}, line {number}: empty line")
            if len(fields) != len(columns):
                raise ValueError(f"{path}, line {number}: expected {len(columns)} tab-separated fields "
                                 f"({', '.join(columns)}), got {len(fields)}")
            for name, value in zip(columns[:-1], fields[:-1]):
                if not value.strip():
                    raise ValueError(f"{path}, line {number}: empty {name}")
            if fields[-1] not in ("0", "1"):
                raise ValueError(f"{path}, line {number}: label must be 0 or 1, got {fields[-1]!r}")
            n += 1
    if n == 0:
        raise ValueError(f"{path}: no rows after the header")
    return n


class GlueData:
    """A task's train and validation splits (``datasets.Dataset``s) and where they came from."""

    def __init__(self, task: TaskSpec, splits: dict, source: str) -> None:
        self.task = task
        self.splits = splits
        self.source = source

    @property
    def train(self):
        return self.splits["train"]

    @property
    def validation(self):
        return self.splits["validation"]

    @property
    def note(self) -> str:
        """What a reader must know next to a score (the local QQP split is ours, not GLUE's)."""
        return QQP_LOCAL_NOTE if self.task.name == "qqp" and self.source != "hub" else ""


def _features(task: TaskSpec):
    from datasets import ClassLabel, Features, Value

    return Features({**{c: Value("string") for c in task.text_columns},
                     "label": ClassLabel(names=list(task.label_names))})


def load_glue(task: str, data_dir: str | os.PathLike | None = None) -> GlueData:
    """Load the train and validation splits of ``task`` (local TSVs or the Hub) with ``datasets``."""
    import datasets

    spec = get_task(task)
    source = resolve_source(data_dir)
    if source == "hub":
        ds = datasets.load_dataset(HUB_DATASET, spec.name)
        splits = {s: ds[s].select_columns([*spec.columns, "idx"]) for s in SPLITS}
        return GlueData(spec, splits, "hub")
    files = {s: Path(source) / spec.name / f"{s}.tsv" for s in SPLITS}
    for path in files.values():
        check_tsv(path, spec.columns)
    ds = datasets.load_dataset("csv", data_files={s: str(p) for s, p in files.items()}, delimiter="\t",
                               quoting=csv.QUOTE_NONE, keep_default_na=False, na_filter=False,
                               features=_features(spec))
    splits = {s: ds[s].add_column("idx", list(range(len(ds[s])))) for s in SPLITS}
    return GlueData(spec, splits, str(Path(source).resolve()))


def subset(dataset, n: int | None, seed: int):  # noqa: ANN001
    """A seeded random subset of ``n`` rows (all rows, in file order, if n is None or ≥ len)."""
    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise ValueError(f"subset size must be ≥ 1, got {n}")
    return dataset.shuffle(seed=seed).select(range(n)).flatten_indices()


def split_heldout(train, n: int, seed: int):  # noqa: ANN001
    """(rest, held-out): ``n`` seeded rows of the TRAIN split set aside for early stopping and model selection.

    The held-out rows come only from ``train`` (never from the validation split that scores are reported on);
    the two parts are disjoint and keep their ``idx`` (row in the train file).  ``n = 0``: (train, None).
    """
    if n == 0:
        return train, None
    if not 0 < n < len(train):
        raise ValueError(f"heldout_samples must be in [0, {len(train) - 1}] for a train split of {len(train)} rows, "
                         f"got {n}")
    order = train.shuffle(seed=seed).flatten_indices()
    return order.select(range(n, len(order))).flatten_indices(), order.select(range(n)).flatten_indices()


def texts_of(dataset, task: TaskSpec) -> list[str | tuple[str, str]]:  # noqa: ANN001
    """The explainable texts of a split: strings, or (question1, question2) tuples for pair tasks."""
    cols = [dataset[c] for c in task.text_columns]
    return [(a, b) for a, b in zip(*cols)] if task.is_pair else list(cols[0])
