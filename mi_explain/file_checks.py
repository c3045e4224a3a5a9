"""Reading saved explanations with errors that name the file, the line (JSON lines) and what is wrong.

``Explanation.load`` reads one JSON document written by ``Explanation.save``; ``read_jsonl`` reads a JSON
lines file of many (``append_jsonl``).  Given the other format, the error says which function to use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ExplanationFileError", "REQUIRED_FIELDS", "check_fields", "decode", "jsonl_decode_error",
           "read_explanation"]

T = TypeVar("T")

#: fields every saved result has (the maps depend on the method: sigma/at_bound/regularization for information,
#: scores for baselines; text, segments, target, options, diagnostics are optional)
REQUIRED_FIELDS = ("format", "words", "layers", "tokens", "token_to_word", "pieces", "embedding_dim", "prior_scale",
                   "steps", "objective", "converged")
_MAPS = ("sigma", "at_bound", "scores")  # [n_layers, n_words]
_PER_LAYER = ("objective", "converged", "regularization")  # [n_layers]
_LOAD_HINT = "a file of one explanation (Explanation.save) is read with Explanation.load(path)"
_JSONL_HINT = ("this looks like a JSON-lines file of several explanations: read it with "
               "mi_explain.results.read_jsonl(path)")


class ExplanationFileError(ValueError):
    """A saved explanation that cannot be read; the message names the file (and line) and the problem."""


def _rows(value: Any) -> list | None:
    return value if isinstance(value, list) else None


def check_fields(d: Any, where: str) -> None:
    """Check that ``d`` (a decoded JSON value) has every required field with the right shape.

    where: the file (and line) for messages.  Raises :class:`ExplanationFileError`.
    """
    if not isinstance(d, dict):
        raise ExplanationFileError(f"{where}: expected a JSON object (one explanation), got a JSON "
                                   f"{type(d).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in d]
    if missing:
        raise ExplanationFileError(f"{where}: missing field(s) {', '.join(repr(k) for k in missing)}; "
                                   "not a complete file written by Explanation.save")
    for key in ("words", "layers", "tokens"):
        if not isinstance(d[key], list):
            raise ExplanationFileError(f"{where}: field {key!r} must be a list, got {type(d[key]).__name__}")
    n_layers, n_words = len(d["layers"]), len(d["words"])
    for key in (k for k in _MAPS if k in d):
        rows = _rows(d[key])
        got = ("not a list" if rows is None else
               f"{len(rows)} rows of lengths {sorted({len(r) if isinstance(r, list) else -1 for r in rows})}")
        if rows is None or len(rows) != n_layers or any(not isinstance(r, list) or len(r) != n_words for r in rows):
            raise ExplanationFileError(
                f"{where}: field {key!r} must be {n_layers} rows (one per layer) of {n_words} values "
                f"(one per word), got {got}")
    for key in (k for k in _PER_LAYER if k in d):
        rows = _rows(d[key])
        if rows is None or len(rows) != n_layers:
            got = "not a list" if rows is None else f"{len(rows)} values"
            raise ExplanationFileError(f"{where}: field {key!r} must hold {n_layers} values (one per layer), "
                                       f"got {got}")


def decode(from_dict: Callable[[dict], T], d: Any, where: str) -> T:
    """``from_dict(d)`` after :func:`check_fields`; any remaining error is re-raised naming ``where``."""
    check_fields(d, where)
    try:
        return from_dict(d)
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise ExplanationFileError(f"{where}: {err}") from err


def jsonl_decode_error(path: str | os.PathLike, number: int, err: json.JSONDecodeError) -> ExplanationFileError:
    """The error for a line of a JSON-lines file that is not valid JSON."""
    msg = f"{path}, line {number}: not valid JSON ({err.msg}, column {err.colno})"
    if Path(path).suffix.lower() == ".json" or number == 1:
        msg += f"; {_LOAD_HINT}"
    return ExplanationFileError(msg)


def read_explanation(path: str | os.PathLike, from_dict: Callable[[dict], T]) -> T:
    """Read one explanation written by ``Explanation.save`` from ``path``."""
    path = Path(path)
    if path.is_dir():
        raise ExplanationFileError(f"{path} is a folder; give the explanation's .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: no such file") from err
    except UnicodeDecodeError as err:
        raise ExplanationFileError(f"{path}: not a UTF-8 text file (a saved explanation is JSON)") from err
    if not text.strip():
        raise ExplanationFileError(f"{path} is empty")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        if err.msg == "Extra data" or path.suffix.lower() == ".jsonl":
            msg += f"; {_JSONL_HINT}"
        raise ExplanationFileError(msg) from err
    return decode(from_dict, d, str(path))
