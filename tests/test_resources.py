"""mi_explain.resources: the packaged model and the GLUE folder, found in one place; no machine paths in the repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mi_explain.resources import GLUE_ENV_VAR, glue_data_dir, packaged_model_path, read_glue_tsv, resolve_model

REPO = Path(__file__).resolve().parents[1]


def test_packaged_model_and_aliases():
    path = Path(packaged_model_path("minilm"))
    assert (path / "config.json").is_file() and resolve_model("minilm") == str(path)
    assert resolve_model("bert-base-uncased") == "bert-base-uncased"
    with pytest.raises(ValueError, match="no packaged model 'tiny'"):
        packaged_model_path("tiny")


def test_glue_folder_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.tsv").write_text("sentence\tlabel\na fine film\t1\na dull one\t0\n")
    monkeypatch.setenv(GLUE_ENV_VAR, str(tmp_path))
    assert glue_data_dir() == tmp_path
    frame = read_glue_tsv("sst2", "train", n=1)
    assert list(frame.columns) == ["sentence", "label"] and frame.sentence.tolist() == ["a fine film"]
    with pytest.raises(FileNotFoundError, match="validation.tsv: no such GLUE file"):
        read_glue_tsv("sst2", "validation")
    monkeypatch.setenv(GLUE_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=GLUE_ENV_VAR):
        glue_data_dir()


def test_no_absolute_machine_path_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    marker = "/" + "work" + "/"  # not written out, so this file does not match itself
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in (".png", ".jpg", ".pdf") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert not hits, hits
