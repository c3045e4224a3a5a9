"""The texts a sweep explains: a ``datasets.Dataset`` or a CSV / TSV / JSONL file with a text column (or two,
for pairs), checked row by row.

Every row gets an id: its position in the table (0-based), or the integer value of ``id_column``.  A missing
column, an empty file, an empty or non-text cell, or a repeated id raises ``ValueError`` naming the source, the
column and the row; nothing is skipped silently.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TextTable", "load_table", "read_file", "text_table"]

Text = str | tuple[str, str]
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclass
class TextTable:
    """Rows to explain: ``ids[i]`` names ``texts[i]`` (a string or a (first, second) pair); ``labels[i]`` is
    the row's label (None without ``label_column``); ``source`` says where they came from."""

    ids: list[int]
    texts: list[Text]
    labels: list[Any] = field(default_factory=list)
    source: str = ""
    columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_pair(self) -> bool:
        return bool(self.texts) and isinstance(self.texts[0], tuple)

    def digest(self) -> str:
        """sha256 of the ids and texts (a changed file must not resume an old sweep)."""
        h = hashlib.sha256()
        for i, t in zip(self.ids, self.texts):
            h.update(f"{i}\x1f{t[0] + chr(30) + t[1] if isinstance(t, tuple) else t}\x1e".encode())
        return h.hexdigest()

    def by_id(self) -> dict[int, int]:
        return {i: p for p, i in enumerate(self.ids)}


def read_file(path: str | os.PathLike):
    """A CSV (``,``), TSV (tab) or JSONL file as a pandas DataFrame of strings as written (no NA parsing)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .jsonl "
                         "(one JSON object a line)")
    if not path.read_bytes().strip():
        raise ValueError(f"{path}: the file is empty")
    try:
        if kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", keep_default_na=False, na_filter=False,
                                dtype=str, encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    except ValueError as err:  # pandas' parser errors (ParserError, bad JSON) are ValueErrors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot be read as {kind.upper()} ({first})") from err
    if len(frame) == 0:
        raise ValueError(f"{path}: no rows (only a header)" if len(frame.columns) else f"{path}: no rows")
    return frame


def load_table(data: Any) -> tuple[dict[str, list], str]:
    """(columns as lists, source name) of a ``datasets.Dataset``, a pandas DataFrame or a file path."""
    if isinstance(data, (str, os.PathLike)):
        frame = read_file(data)
        return {str(c): frame[c].tolist() for c in frame.columns}, str(data)
    if hasattr(data, "column_names") and hasattr(data, "to_dict"):  # datasets.Dataset
        if len(data) == 0:
            raise ValueError("the dataset has no rows")
        return data.to_dict(), f"datasets.Dataset ({len(data)} rows)"
    if hasattr(data, "columns") and hasattr(data, "to_dict"):  # pandas.DataFrame
        if len(data) == 0:
            raise ValueError("the DataFrame has no rows")
        return {str(c): data[c].tolist() for c in data.columns}, f"DataFrame ({len(data)} rows)"
    raise TypeError(f"data must be a datasets.Dataset, a pandas DataFrame or a .csv/.tsv/.jsonl path, "
                    f"got {type(data).__name__}")


def _column(columns: dict[str, list], name: str, what: str, source: str) -> list:
    if name not in columns:
        raise ValueError(f"{source}: no column {name!r} for the {what}; its columns are {sorted(columns)}")
    return columns[name]


def _text(value: Any, column: str, row: int, source: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{source}, row {row}: column {column!r} holds {type(value).__name__} {value!r}, not text")
    if not value.strip():
        raise ValueError(f"{source}, row {row}: empty text in column {column!r}")
    return value


def text_table(data: Any, text_column: str = "text", pair_column: str | None = None,
               label_column: str | None = None, id_column: str | None = None) -> TextTable:
    """The checked rows of ``data`` (see the module docstring); rows are numbered from 0 in messages."""
    columns, source = load_table(data)
    first = _column(columns, text_column, "text (text_column)", source)
    second = _column(columns, pair_column, "second text of a pair (pair_column)", source) if pair_column else None
    if pair_column is not None and pair_column == text_column:
        raise ValueError(f"pair_column and text_column are both {text_column!r}: a pair needs two columns")
    texts: list[Text] = []
    for row, value in enumerate(first):
        a = _text(value, text_column, row, source)
        texts.append((a, _text(second[row], pair_column, row, source)) if second is not None else a)
    labels = list(_column(columns, label_column, "labels (label_column)", source)) if label_column else []
    labels = [v.item() if hasattr(v, "item") else v for v in labels]  # numpy scalars → JSON-safe
    if id_column is None:
        ids = list(range(len(texts)))
    else:
        ids = []
        for row, v in enumerate(_column(columns, id_column, "row ids (id_column)", source)):
            try:
                ids.append(int(v))
            except (TypeError, ValueError):
                raise ValueError(f"{source}, row {row}: id {v!r} in column {id_column!r} is not an integer") from None
        seen: dict[int, int] = {}
        for row, i in enumerate(ids):
            if i in seen:
                raise ValueError(f"{source}, rows {seen[i]} and {row}: the same id {i} in column {id_column!r}")
            seen[i] = row
    used: Sequence[str] = tuple(c for c in (text_column, pair_column, label_column, id_column) if c)
    return TextTable(ids, texts, labels, source, tuple(used))
