"""Kept so that ``from mi_explain.explanation import ...`` still works: results live in :mod:`mi_explain.results`."""

from .results.io import FORMAT, append_jsonl, read_jsonl
from .results.result import Explanation, Result, SaliencyExplanation

__all__ = ["FORMAT", "Explanation", "Result", "SaliencyExplanation", "append_jsonl", "read_jsonl"]
