"""Saving and loading results of every method: JSON (one file) and JSON lines (many, appended safely).

Format ``mi_explain.result/2``: a JSON object with ``"format"``, ``"method"`` (which class reads it
back), the common fields of :class:`~mi_explain.results.result.Result` and the tensor fields of the
method's class as nested lists (non-finite floats as the strings "nan", "inf", "-inf").  Files of the
previous format ``mi_explain.explanation/1`` (σ for every method, a baseline's saliency in ``sigma``)
are still read, into the right class.  :func:`load` / :func:`from_dict` return the class of the method
recorded in the file: :class:`Explanation` for "information", :class:`SaliencyExplanation` otherwise.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from .result import Explanation, Result, SaliencyExplanation

__all__ = ["FORMAT", "append_jsonl", "from_dict", "jsonable", "load", "read_jsonl", "save", "to_dict"]

FORMAT = "mi_explain.result/2"
_LEGACY = "mi_explain.explanation/1"
_COMMON = ("words", "layers", "tokens", "token_to_word", "pieces", "embedding_dim", "steps", "segments", "target")


def _encode_float(x: float) -> float | str:
    """JSON has no NaN/inf: store them as the strings "nan", "inf", "-inf"."""
    return x if math.isfinite(x) else str(x)


def _encode_tensor(t: torch.Tensor) -> list:
    """Nested lists; floats exact (float32 → Python float is lossless), bools stay bools."""
    if t.dtype == torch.bool:
        return t.tolist()
    if t.dim() == 1:
        return [_encode_float(x) for x in t.tolist()]
    return [_encode_tensor(row) for row in t]


def _decode_floats(data: Any) -> Any:
    if isinstance(data, list):
        return [_decode_floats(x) for x in data]
    return float(data)  # also turns "nan", "inf", "-inf" back into floats


def jsonable(obj: Any) -> Any:
    """Best-effort conversion of options/diagnostics to JSON (non-finite floats → None)."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def to_dict(result: Result) -> dict:
    """A JSON-serializable dict of any method's result."""
    d: dict[str, Any] = {"format": FORMAT, "method": result.method}
    for name in _COMMON:
        value = getattr(result, name)
        d[name] = list(value) if isinstance(value, list) else value
    d["prior_scale"] = _encode_float(result.prior_scale)
    d["text"] = list(result.text) if isinstance(result.text, tuple) else result.text
    d["options"] = jsonable(result.options)
    d["diagnostics"] = jsonable(result.diagnostics)
    for name in result.TENSOR_FIELDS:
        d[name] = _encode_tensor(getattr(result, name))
    return d


def _class_for(method: str) -> type[Result]:
    return Explanation if method == "information" else SaliencyExplanation


def from_dict(d: dict) -> Result:
    """Inverse of :func:`to_dict` (also reads the previous format); raises ValueError naming the format."""
    fmt = d.get("format") if isinstance(d, dict) else None
    if fmt not in (FORMAT, _LEGACY):
        raise ValueError(f"not an mi_explain result: format={fmt!r}, expected {FORMAT!r}")
    d = dict(d)
    options = d.get("options") or {}
    method = d.get("method") or str(options.get("method", "information"))
    if fmt == _LEGACY and method != "information":
        d["scores"] = d.pop("sigma")  # the old format kept a baseline's saliency in "sigma"
    cls = _class_for(method)
    n_layers, n_words = len(d["layers"]), len(d["words"])
    shapes = {"objective": (n_layers,), "converged": (n_layers,), "regularization": (n_layers,)}
    tensors = {}
    for name in cls.TENSOR_FIELDS:
        if name not in d:
            raise ValueError(f"a {method!r} result needs the field {name!r}, which the file lacks")
        shape = shapes.get(name, (n_layers, n_words))
        if name in ("converged", "at_bound"):
            tensors[name] = torch.tensor(d[name], dtype=torch.bool).reshape(shape)
        else:
            tensors[name] = torch.tensor(_decode_floats(d[name]), dtype=torch.float32).reshape(shape)
    text = d.get("text")
    return cls(
        words=d["words"], layers=d["layers"], tokens=d["tokens"], token_to_word=d["token_to_word"],
        pieces=d["pieces"], embedding_dim=d["embedding_dim"], prior_scale=float(d["prior_scale"]),
        steps=d["steps"], text=tuple(text) if isinstance(text, list) else text, segments=d.get("segments"),
        target=d.get("target", "tokens"), method=method, options=options, diagnostics=d.get("diagnostics") or {},
        **tensors,
    )


def save(result: Result, path: str | os.PathLike) -> Path:
    """Write strict UTF-8 JSON (no pickle); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(result), ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path


def load(path: str | os.PathLike) -> Result:
    """Read a file written by :func:`save` for any method: the class of the method recorded in it."""
    from ..file_checks import read_explanation  # errors name the file, the field, and the other format

    return read_explanation(path, from_dict)


def append_jsonl(path: str | os.PathLike, results: Result | list[Result],
                 extra: dict | list[dict] | None = None) -> None:
    """Append results to a JSON-lines file, one per line, each line written and flushed whole (a run killed
    mid-way leaves every finished line intact).  ``extra``: JSON-safe fields stored beside each result under
    ``"meta"`` (e.g. the sentence's index in its dataset)."""
    items = [results] if isinstance(results, Result) else list(results)
    metas = extra if isinstance(extra, list) else [extra] * len(items)
    if len(metas) != len(items):
        raise ValueError(f"{len(metas)} meta entries for {len(items)} explanations")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for e, meta in zip(items, metas):
        d = to_dict(e)
        if meta is not None:
            d["meta"] = jsonable(meta)
        lines.append(json.dumps(d, ensure_ascii=False, allow_nan=False))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike, with_meta: bool = False) -> list:
    """Read a file written by :func:`append_jsonl` → list of results (or (result, meta) pairs).
    A last line cut short by a killed writer is ignored; any other bad line raises with its number."""
    from ..file_checks import decode, jsonl_decode_error

    raw = Path(path).read_text(encoding="utf-8")
    lines = raw.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines) and not raw.endswith("\n"):
                break  # an interrupted final write
            raise jsonl_decode_error(path, number, err) from err
        meta = d.pop("meta", None) if isinstance(d, dict) else None
        e = decode(from_dict, d, f"{path}, line {number}")
        out.append((e, meta) if with_meta else e)
    return out
