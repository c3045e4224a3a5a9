"""Results of a sweep that survive being killed: per-process JSONL part files, merged atomically.

Every process appends finished explanations to its own ``sweep_parts/rank<r>.jsonl`` with
:func:`mi_explain.results.io.append_jsonl` (whole lines, flushed and fsynced).  A kill can only cut the
last line of a part short; :meth:`ResultStore.repair` drops such a tail before anyone appends again.
:meth:`ResultStore.merge` writes ``results.jsonl`` (every line of the old results file and of the parts,
one per key, in the plan's order) to a temporary file and renames it into place, then deletes the parts.
A line's key is ``(kind, idx)``, read from its ``meta``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mi_explain.results import Explanation, append_jsonl

__all__ = ["Key", "ResultStore"]

Key = tuple[str, int]


def _lines(path: Path) -> list[str]:
    """Complete lines of a JSONL file (a last line without its newline is an interrupted write: skipped)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]  # lines[-1] is "" or a cut-short tail


def _key(line: str, path: Path, number: int) -> Key:
    try:
        meta = json.loads(line).get("meta") or {}
        return str(meta["kind"]), int(meta["idx"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}, line {number}: not a sweep result line ({err})") from err


class ResultStore:
    """``results.jsonl`` and the part files of one run directory."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.dir = Path(run_dir)
        self.results = self.dir / "results.jsonl"
        self.parts_dir = self.dir / "sweep_parts"

    def part(self, rank: int) -> Path:
        return self.parts_dir / f"rank{int(rank)}.jsonl"

    def parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("rank*.jsonl")) if self.parts_dir.is_dir() else []

    def repair(self) -> int:
        """Truncate every part file after its last newline (an interrupted append); returns bytes dropped."""
        dropped = 0
        for path in self.parts():
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                with open(path, "r+b") as fh:
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
                dropped += len(data) - keep
        return dropped

    def _all_lines(self) -> dict[Key, str]:
        found: dict[Key, str] = {}
        for path in [self.results, *self.parts()]:
            for number, line in enumerate(_lines(path), 1):
                found.setdefault(_key(line, path, number), line)
        return found

    def done(self) -> set[Key]:
        """Keys of every finished explanation (results file and parts)."""
        return set(self._all_lines())

    def append(self, rank: int, explanations: Sequence[Explanation], metas: Sequence[dict]) -> None:
        """Append finished explanations (one line each, ``meta`` holding at least kind and idx)."""
        for m in metas:
            if "kind" not in m or "idx" not in m:
                raise ValueError(f"meta needs 'kind' and 'idx', got {sorted(m)}")
        append_jsonl(self.part(rank), list(explanations), list(metas))

    def merge(self, order: Iterable[Key] | None = None) -> int:
        """Write ``results.jsonl`` atomically from the results and parts (``order`` first, then the rest
        sorted), delete the parts; returns the number of lines."""
        found = self._all_lines()
        keys = [k for k in (order or []) if k in found]
        seen = set(keys)
        keys += sorted(k for k in found if k not in seen)
        tmp = self.results.with_name(f".{self.results.name}.{os.getpid()}.tmp")
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(found[k] + "\n" for k in keys))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.results)
        for path in self.parts():
            path.unlink()
        if self.parts_dir.is_dir() and not any(self.parts_dir.iterdir()):
            self.parts_dir.rmdir()
        return len(keys)

    def clear(self) -> None:
        """Delete the results file and every part (``--overwrite``)."""
        for path in [self.results, *self.parts()]:
            path.unlink(missing_ok=True)
