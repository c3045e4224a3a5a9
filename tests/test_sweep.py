"""The sweep engine for any dataset: inputs (CSV, TSV, JSONL, Dataset, pairs) and their errors, σ_s estimated
once per kind of state, resume after a kill, seconds per text, and the command line's dataset form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mi_explain
from mi_explain.cli import main
from mi_explain.results import read_jsonl
from mi_explain.sweep import SweepOptions, sweep_dataset, text_table

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["a rare bird has more than enough charm to make it memorable .",
         "the film is funny , sad and surprisingly tender",
         "domestic tension and unhappiness",
         "it is not a good movie but the actors are great",
         "how do i learn to cook rice ?"]
FAST = {"steps": 12, "samples": 4, "tol": 0.3, "n_reference": 4, "progress": False}


def _csv(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_text_table_reads_every_input_kind(tmp_path: Path) -> None:
    from datasets import Dataset

    csv = _csv(tmp_path / "a.csv", [["text", "label"], *[[t, str(i % 2)] for i, t in enumerate(TEXTS)]])
    t = text_table(csv, label_column="label")
    assert t.texts == TEXTS and t.ids == [0, 1, 2, 3, 4] and t.labels == ["0", "1", "0", "1", "0"]
    tsv = tmp_path / "a.tsv"
    tsv.write_text("sentence\tn\n" + "".join(f"{x}\t{7 + i}\n" for i, x in enumerate(TEXTS[:2])), encoding="utf-8")
    assert text_table(tsv, text_column="sentence", id_column="n").ids == [7, 8]
    pairs = _jsonl(tmp_path / "p.jsonl", [{"q1": a, "q2": b, "y": 1} for a, b in zip(TEXTS, TEXTS[1:])])
    p = text_table(pairs, text_column="q1", pair_column="q2", label_column="y")
    assert p.is_pair and p.texts[0] == (TEXTS[0], TEXTS[1]) and p.labels == [1] * 4
    d = text_table(Dataset.from_dict({"sentence": TEXTS}), text_column="sentence")
    assert d.texts == TEXTS and d.digest() == text_table(csv).digest()  # same rows, same digest


@pytest.mark.parametrize(("content", "kw", "message"), [
    ("text\nfine\n", {"text_column": "sentence"}, r"no column 'sentence' for the text \(text_column\); its columns "
                                                  r"are \['text'\]"),
    ("", {}, "the file is empty"),
    ("text\n", {}, r"no rows \(only a header\)"),
    ('text\nfine\n""\n', {}, r"row 1: empty text in column 'text'"),
    ("text,q\nfine,\n", {"pair_column": "q"}, r"row 0: empty text in column 'q'"),
    ("text,n\na,1\nb,1\n", {"id_column": "n"}, r"rows 0 and 1: the same id 1 in column 'n'"),
])
def test_text_table_errors_name_the_problem(tmp_path: Path, content: str, kw: dict, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        text_table(path, **kw)


def test_text_table_rejects_other_files_and_non_text(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown file type '.txt'"):
        (tmp_path / "a.txt").write_text("x")
        text_table(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        text_table(tmp_path / "none.csv")
    with pytest.raises(ValueError, match=r"row 1: column 'text' holds int 3, not text"):
        text_table(_jsonl(tmp_path / "n.jsonl", [{"text": "a"}, {"text": 3}]))
    with pytest.raises(ValueError, match="cannot be read as JSONL"):
        (tmp_path / "b.jsonl").write_text('{"text": "a"}\n{"text": \n')
        text_table(tmp_path / "b.jsonl")


def test_sigma_s_once_resume_after_kill_and_seconds(tmp_path: Path, tiny_bert, bert_tokenizer,
                                                    monkeypatch: pytest.MonkeyPatch, killed_sweep) -> None:
    data = _csv(tmp_path / "d.csv", [["sentence", "label"], *[[t, str(i % 2)] for i, t in enumerate(TEXTS)]])
    out = tmp_path / "sweep"
    real_estimate = mi_explain.estimate_regularization
    estimates: list[dict] = []

    def counting_estimate(model, tok, texts, **kw):  # noqa: ANN001, ANN003
        estimates.append(kw)
        return real_estimate(model, tok, texts, **kw)

    monkeypatch.setattr(mi_explain, "estimate_regularization", counting_estimate)
    killed_sweep.arm(lines=4, cut=80)  # two texts × two kinds on disk, then die in the middle of the next line
    kw = {"tokenizer": bert_tokenizer, "text_column": "sentence", "label_column": "label", "batch_size": 2, **FAST}
    with pytest.raises(KeyboardInterrupt):
        sweep_dataset(tiny_bert, data, out, **kw)
    assert len(estimates) == 2  # once per kind (prediction, layers) for the whole sweep, not per batch
    assert {e.get("target") for e in estimates} == {"cls", "tokens"}
    assert not (out / "results.jsonl").exists() and (out / "regularization.json").is_file()
    first = set(killed_sweep.explained[:2])

    estimates.clear()
    killed_sweep.disarm()
    summary = sweep_dataset(tiny_bert, data, out, **kw)
    assert estimates == []  # the second sitting reuses the saved σ_s
    assert not first & set(killed_sweep.explained)  # finished texts are not redone
    assert summary["texts"] == 5 and summary["resumed_with_done"] == 2 and summary["lines"] == 10
    lines = read_jsonl(out / "results.jsonl", with_meta=True)
    assert [(m["kind"], m["idx"]) for _, m in lines] == [(k, i) for k in ("prediction", "layers") for i in range(5)]
    assert all(m["seconds"] > 0 and m["label"] == str(m["idx"] % 2) and m["prediction"] in (0, 1) for _, m in lines)
    assert lines[0][0].layers == ["prediction state"] and len(lines[5][0].layers) == tiny_bert.config.num_hidden_layers
    reg = json.loads((out / "regularization.json").read_text())["kinds"]
    for e, m in lines:  # every batch used the one σ_s of its kind
        assert e.regularization.tolist() == pytest.approx(reg[m["kind"]]["sigma_s"])
    per = summary["seconds_per_text"]
    assert per["texts_timed"] == 5 and per["mean"] > 0 and set(per["per_kind"]) == {"prediction", "layers"}
    assert json.loads((out / "sweep.json").read_text()) == summary
    report = (out / "report.md").read_text()
    assert "s per text" in report and (out / "information_per_layer.csv").is_file()

    with pytest.raises(ValueError, match=r"\(rate differ\)"):  # other options never mix with these results
        sweep_dataset(tiny_bert, data, out, **{**kw, "rate": 0.2})
    changed = _csv(tmp_path / "d2.csv", [["sentence", "label"], *[[t, "0"] for t in reversed(TEXTS)]])
    with pytest.raises(ValueError, match="data, data_sha256 differ"):
        sweep_dataset(tiny_bert, changed, out, **kw)


def test_pairs_from_a_dataset_with_a_sample(tmp_path: Path, tiny_bert, bert_tokenizer) -> None:
    from datasets import Dataset

    data = Dataset.from_dict({"q1": TEXTS, "q2": TEXTS[1:] + TEXTS[:1]})
    options = SweepOptions(n_texts=2, sample_seed=3, batch_size=2, steps=12, samples=4, tol=0.3, n_reference=4,
                           progress=False)
    summary = sweep_dataset(tiny_bert, data, tmp_path / "pairs", tokenizer=bert_tokenizer, text_column="q1",
                            pair_column="q2", head="prediction", options=options)
    lines = read_jsonl(tmp_path / "pairs" / "results.jsonl", with_meta=True)
    assert summary["texts"] == 2 and len(lines) == 4
    assert all(isinstance(e.text, tuple) and e.segments is not None for e, _ in lines)
    assert lines[0][0].target == "prediction"
    config = json.loads((tmp_path / "pairs" / "sweep_config.json").read_text())
    assert config["plan_idx"] == [m["idx"] for _, m in lines[:2]] and config["states"]["prediction"] == {
        "target": "prediction"}


def _error(capsys, argv: list[str]) -> str:  # noqa: ANN001
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_dataset_sweep_and_its_mistakes(capsys, tmp_path: Path, tiny_bert, bert_tokenizer) -> None:
    model_dir = tmp_path / "model"
    tiny_bert.save_pretrained(model_dir)
    bert_tokenizer.save_pretrained(model_dir)
    capsys.readouterr()
    data = _jsonl(tmp_path / "d.jsonl", [{"sentence": t, "id": 10 + i} for i, t in enumerate(TEXTS)])
    base = ["sweep", "--data", str(data), "--model", str(model_dir), "--out", str(tmp_path / "out")]
    assert "or --data FILE --model PATH --out DIR" in _error(capsys, base[:1] + base[3:])
    assert "required: --out" in _error(capsys, base[:-2])
    assert f"--data {data}: no column 'text' for the text" in _error(capsys, base)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert f"--data {empty}: the file is empty" in _error(capsys, ["sweep", "--data", str(empty), *base[3:]])
    assert "either --config FILE.yaml" in _error(capsys, [*base, "--config", "c.yaml"])
    assert "--reference nope.csv: no such file" in _error(
        capsys, [*base, "--text-column", "sentence", "--reference", "nope.csv"])
    assert "--model" in _error(capsys, ["sweep", "--data", str(data), "--text-column", "sentence", "--model",
                                        str(tmp_path / "none"), "--out", str(tmp_path / "out")])
    code = main([*base, "--text-column", "sentence", "--id-column", "id", "--n-texts", "2", "--n-reference", "3",
                 "--batch-size", "2", "--steps", "12", "--samples", "4", "--tol", "0.3", "--quiet"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    lines = read_jsonl(tmp_path / "out" / "results.jsonl", with_meta=True)
    assert len(lines) == 4 and all(m["idx"] >= 10 for _, m in lines)


def test_cli_sweep_sharded_by_accelerate_launch(tmp_path: Path, tiny_bert, bert_tokenizer) -> None:
    import os
    import socket
    import subprocess
    import sys

    model_dir = tmp_path / "model"
    tiny_bert.save_pretrained(model_dir)
    bert_tokenizer.save_pretrained(model_dir)
    data = _csv(tmp_path / "d.csv", [["text"], *[[t] for t in TEXTS]])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "PYTHONPATH": os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
           "-m", "mi_explain.cli", "sweep", "--data", str(data), "--model", str(model_dir),
           "--out", str(tmp_path / "o"),
           "--n-reference", "4", "--batch-size", "2", "--steps", "12", "--samples", "4", "--tol", "0.3", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert summary["processes"] == 2 and summary["lines"] == 10
    assert sorted(summary["explained_now_per_process"].values()) == [2, 3]
    assert [m["idx"] for _, m in read_jsonl(tmp_path / "o" / "results.jsonl", with_meta=True)] == [*range(5)] * 2


def test_word_counts_order_by_count_then_word() -> None:
    """Most used first; ties in alphabetical order, whatever the string hashing (the committed GLUE summaries
    must not change between two exports of the same sweeps)."""
    import torch

    from mi_explain import Explanation
    from mi_explain.sweep.analysis import word_counts

    def one(words: list[str], sigma: list[float]) -> Explanation:
        n = len(words)
        return Explanation(words=words, layers=["prediction state"], sigma=torch.tensor([sigma]), tokens=words,
                           token_to_word=list(range(n)), pieces=[1] * n, embedding_dim=4, prior_scale=1.0,
                           objective=torch.zeros(1), converged=torch.ones(1, dtype=torch.bool),
                           at_bound=torch.zeros(1, n, dtype=torch.bool), steps=1,
                           regularization=torch.ones(1), text=" ".join(words), target="cls", options={},
                           diagnostics={})

    ex = [one(["zeta", "alpha", "the", "mid"], [0.1, 0.2, 0.3, 0.9]),
          one(["mid", "zeta", "alpha"], [0.1, 0.2, 0.3])]
    frame = word_counts(ex, top_k=2)
    assert frame["word"].tolist() == ["zeta", "alpha", "mid"] and frame["count"].tolist() == [2, 1, 1]
    assert frame["sentences"].tolist() == [2, 2, 2]
