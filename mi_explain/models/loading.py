"""Loading a saved sequence classifier of any family (BERT-style or ours) with its tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["load_classifier"]


def load_classifier(path: str | Path, fallback_tokenizer: str | None = "minilm",
                    padding_side: str | None = None) -> tuple[Any, Any]:
    """(model in eval mode, fast tokenizer) from a folder written by ``save_pretrained``.

    The model loads through ``AutoModelForSequenceClassification`` (our families are registered on import of
    :mod:`mi_explain.models`); the tokenizer from the folder, else from ``fallback_tokenizer`` (a packaged
    alias such as "minilm", a Hub id or a folder; None: the folder must hold one).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..resources import resolve_model

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a saved model folder (no config.json)")
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    try:
        tok = AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError):
        if fallback_tokenizer is None:
            raise
        tok = AutoTokenizer.from_pretrained(resolve_model(fallback_tokenizer))
    if padding_side is not None:
        tok.padding_side = padding_side
    return model, tok
