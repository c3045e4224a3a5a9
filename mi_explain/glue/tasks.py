"""The three GLUE tasks of the paper's Sec. 5: columns, metrics and how to read their scores."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TASKS", "TaskSpec", "get_task"]


@dataclass(frozen=True)
class TaskSpec:
    """One binary GLUE classification task.

    text_columns: one column (single sentences) or two (sentence pairs, explained as (q1, q2) tuples).
    metrics: what the task's GLUE metric reports; headline: the column of the paper's Table 2.
    label_names: label 0 and label 1.
    """

    name: str
    text_columns: tuple[str, ...]
    metrics: tuple[str, ...]
    headline: str
    label_names: tuple[str, str]
    title: str

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns of a local TSV file, in file order."""
        return (*self.text_columns, "label")

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec("sst2", ("sentence",), ("accuracy",), "accuracy", ("negative", "positive"), "SST-2"),
    "cola": TaskSpec("cola", ("sentence",), ("matthews_correlation",), "matthews_correlation",
                     ("unacceptable", "acceptable"), "CoLA"),
    "qqp": TaskSpec("qqp", ("question1", "question2"), ("accuracy", "f1"), "accuracy",
                    ("not_duplicate", "duplicate"), "QQP"),
}

#: printed next to every QQP score computed on the local files (see shared/data/glue/SOURCES.md next to the checkout)
QQP_LOCAL_NOTE = ("QQP scores on the local files use a seeded 90/10 split of the Quora release, not GLUE's dev "
                  "split: do not compare them with published GLUE-dev numbers as if they were the same set.")


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``name`` (case-insensitive; "sst-2" works too)."""
    key = name.lower().replace("-", "")
    if key not in TASKS:
        raise ValueError(f"unknown GLUE task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[key]
