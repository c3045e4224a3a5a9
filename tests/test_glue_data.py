"""GLUE data: local TSVs checked line by line, no quote handling, source resolution, subsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mi_explain.glue import data as gdata
from mi_explain.glue.data import check_tsv, load_glue, resolve_source, subset, texts_of
from mi_explain.glue.tasks import get_task

SHARED = gdata.default_local_dir()


def _write(folder: Path, task: str, split: str, text: str) -> Path:
    path = folder / task / f"{split}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def glue_dir(tmp_path: Path) -> Path:
    _write(tmp_path, "sst2", "train", 'sentence\tlabel\na "quoted" word \t1\nNA\t0\nnull\t1\n')
    _write(tmp_path, "sst2", "validation", "sentence\tlabel\nit 's fine . \t1\nbad\t0\n")
    _write(tmp_path, "qqp", "train", "question1\tquestion2\tlabel\nwhy ?\twhy not ?\t0\nhow ?\thow so ?\t1\n")
    _write(tmp_path, "qqp", "validation", 'question1\tquestion2\tlabel\nwhat does ""x"" mean?\twhat is x?\t1\n')
    return tmp_path


@pytest.mark.parametrize("body, line, message", [
    ("sentence\tlabel\ngood\t1\nbad\t0\textra\n", 3, "expected 2 tab-separated fields"),
    ("sentence\tlabel\ngood\t1\nno label here\n", 3, "got 1"),
    ("sentence\tlabel\ngood\t1\n\t0\n", 3, "empty sentence"),
    ("sentence\tlabel\ngood\t2\n", 2, "label must be 0 or 1"),
    ("sentence\tlabel\ngood\t1\n\nbad\t0\n", 3, "empty line"),
    ("text\tlabel\ngood\t1\n", 1, "header"),
])
def test_malformed_file_names_file_and_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = _write(tmp_path, "sst2", "train", body)
    with pytest.raises(ValueError, match=message) as err:
        check_tsv(path, get_task("sst2").columns)
    assert f"{path}, line {line}:" in str(err.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "cola", "train", "sentence\tlabel\nok\t1\n")
    with pytest.raises(FileNotFoundError, match=r"cola/validation\.tsv: GLUE file not found"):
        load_glue("cola", tmp_path)


def test_local_files_keep_quotes_and_na_strings(glue_dir: Path) -> None:
    d = load_glue("sst2", glue_dir)
    assert d.train["sentence"] == ['a "quoted" word ', "NA", "null"]
    assert d.train["label"] == [1, 0, 1] and d.validation["idx"] == [0, 1]
    assert d.source == str(glue_dir.resolve()) and d.note == ""
    q = load_glue("qqp", glue_dir)
    assert texts_of(q.validation, q.task) == [('what does ""x"" mean?', "what is x?")]
    assert "not GLUE's dev split" in q.note


def test_shared_files_load_with_glue_counts() -> None:
    assert SHARED.is_dir(), f"the shared GLUE files are missing: {SHARED}"
    d = load_glue("cola", SHARED)
    assert (len(d.train), len(d.validation)) == (8551, 1043)
    with_quote = [s for s in d.train["sentence"] if '"' in s]
    assert with_quote and all(s.count('"') >= 1 for s in with_quote)  # not eaten by quote handling
    assert len(load_glue("sst2", SHARED).validation) == 872


def test_source_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gdata.ENV_VAR, raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_source(None) == "hub"
    assert resolve_source(tmp_path) == tmp_path and resolve_source("hub") == "hub"
    monkeypatch.setenv(gdata.ENV_VAR, str(tmp_path / "env"))
    assert resolve_source(None) == tmp_path / "env"
    assert resolve_source(tmp_path) == tmp_path  # the option wins over the environment
    monkeypatch.delenv(gdata.ENV_VAR)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(gdata, "default_local_dir", lambda: tmp_path)
    assert resolve_source(None) == tmp_path
    monkeypatch.setattr(gdata, "default_local_dir", lambda: tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=gdata.ENV_VAR):
        resolve_source(None)


def test_subset_is_seeded(glue_dir: Path) -> None:
    d = load_glue("sst2", glue_dir).train
    a, b = subset(d, 2, seed=3), subset(d, 2, seed=3)
    assert a["idx"] == b["idx"] and len(a) == 2
    assert subset(d, None, 0)["idx"] == [0, 1, 2] and subset(d, 10, 0)["idx"] == [0, 1, 2]


def test_unknown_task() -> None:
    with pytest.raises(ValueError, match="unknown GLUE task 'mnli'"):
        get_task("mnli")
    assert get_task("SST-2").name == "sst2"
