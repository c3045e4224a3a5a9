"""The tests write Hugging Face caches only into the session's temporary folder (set in conftest.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def test_caches_point_into_a_temporary_folder():
    import datasets.config as datasets_config
    import evaluate.config as evaluate_config
    import huggingface_hub.constants as hub

    tmp = Path(tempfile.gettempdir()).resolve()
    home = Path(os.path.expanduser("~")).resolve()
    paths = {
        "HF_HOME": hub.HF_HOME,
        "datasets": datasets_config.HF_DATASETS_CACHE,
        "datasets modules": datasets_config.HF_MODULES_CACHE,
        "evaluate": evaluate_config.HF_EVALUATE_CACHE,
        "evaluate metrics": evaluate_config.HF_METRICS_CACHE,
        "evaluate modules": evaluate_config.HF_MODULES_CACHE,
    }
    for name, path in paths.items():
        p = Path(path).resolve()
        assert p.is_relative_to(tmp) and "mi_explain_tests_cache_" in str(p), (name, p)
        assert not p.is_relative_to(home / ".cache"), (name, p)
