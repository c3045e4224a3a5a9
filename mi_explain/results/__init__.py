"""Results of every method: data (:mod:`.result`), saving/loading (:mod:`.io`), views (:mod:`.views`)."""

from .io import FORMAT, append_jsonl, load, read_jsonl
from .result import Explanation, Result, ResultInfo, SaliencyExplanation

__all__ = ["FORMAT", "Explanation", "Result", "ResultInfo", "SaliencyExplanation", "append_jsonl", "load",
           "read_jsonl"]
