"""The layer sweep: plan, part files, resume after a kill, and two accelerate processes = one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mi_explain.glue.arguments import SweepArguments
from mi_explain.glue.sweep import main as sweep_main
from mi_explain.glue.sweep import sweep_plan
from mi_explain.results import read_jsonl
from mi_explain.sweep.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
VALIDATION = [
    "a rare bird has more than enough charm to make it memorable .",
    "the film is funny , sad and surprisingly tender",
    "domestic tension and unhappiness",
    "it is not a good movie but the actors are great",
    "the actors are funny and the film is memorable",
    "a sad film",
    "surprisingly good charm",
    "it is not tender",
]
TRAIN = VALIDATION + ["the best way to cook rice", "how do i learn to cook", "what is the best movie ?",
                      "a great bird", "not enough charm", "the rare actors are sad"]


@pytest.fixture(scope="module")
def glue_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("glue")
    for split, rows in (("train", TRAIN), ("validation", VALIDATION)):
        (root / "sst2").mkdir(exist_ok=True)
        body = "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(rows))
        (root / "sst2" / f"{split}.tsv").write_text("sentence\tlabel\n" + body)
    return root


@pytest.fixture(scope="module")
def config(glue_files, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "sst2_bert_test.yaml"
    path.write_text("\n".join([
        "task: sst2", "family: bert", f"data_dir: {glue_files}", "max_length: 32",
        "n_sentences: 6", "n_drawn: 1", "example_indices: [2]", "n_reference: 8", "explain_batch_size: 3",
        "explain_tol: 0.1", "explain_steps: 40", "explain_samples: 4", "progress: false"]) + "\n")
    return path


def _trained_run(root: Path, tiny_bert, tokenizer) -> Path:  # noqa: ANN001
    """A run folder as glue_train.py leaves it (model/ only), holding the tiny random BERT."""
    model_dir = root / "sst2" / "bert" / "model"
    tiny_bert.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return root / "sst2" / "bert"


def _sigmas(run: Path) -> dict[tuple[str, int], object]:
    return {(m["kind"], m["idx"]): e for e, m in read_jsonl(run / "results.jsonl", with_meta=True)}


def test_plan_is_seeded_and_extends() -> None:
    idx = list(range(100))
    small, drawn = sweep_plan(idx, SweepArguments(n_sentences=5, example_indices=[42], n_drawn=2))
    big, _ = sweep_plan(idx, SweepArguments(n_sentences=9, example_indices=[42]))
    assert small[0] == 42 and drawn == small[:3] and len(set(small)) == 6
    assert big[:6] == small  # a larger sample extends a smaller one
    with pytest.raises(ValueError, match=r"example_indices \[500\]"):
        sweep_plan(idx, SweepArguments(example_indices=[500]))


def test_store_repairs_cut_tail_and_merges_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path)
    store.parts_dir.mkdir()
    line = json.dumps({"meta": {"kind": "layers", "idx": 3}})
    store.part(0).write_text(line + "\n" + '{"meta": {"kind": "lay')  # killed mid-write
    store.part(1).write_text(json.dumps({"meta": {"kind": "layers", "idx": 1}}) + "\n" + line + "\n")
    assert store.done() == {("layers", 3), ("layers", 1)}
    assert store.repair() == len('{"meta": {"kind": "lay')
    assert store.part(0).read_text() == line + "\n"

    def killed(*_args) -> None:  # noqa: ANN002
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store.merge()
    assert not store.results.exists() and len(store.parts()) == 2  # nothing half-written, nothing lost
    monkeypatch.undo()
    assert store.merge(order=[("layers", 3)]) == 2
    assert [json.loads(x)["meta"]["idx"] for x in store.results.read_text().splitlines()] == [3, 1]
    assert store.parts() == [] and not store.parts_dir.exists()


def test_resume_after_kill(tmp_path: Path, config: Path, tiny_bert, bert_tokenizer, killed_sweep) -> None:
    run = _trained_run(tmp_path, tiny_bert, bert_tokenizer)
    killed_sweep.arm(lines=6, cut=100)  # three texts × two kinds on disk, then die while writing the next line
    args = ["--config", str(config), "--output_root", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        sweep_main(args)
    assert not (run / "results.jsonl").exists()
    before = (run / "sweep_parts" / "rank0.jsonl").read_text().split("\n")[:6]
    first_texts = {t for c in killed_sweep.batches[:2] for t in c}
    assert len(first_texts) == 3

    killed_sweep.disarm()
    summary = sweep_main(args)
    assert summary["resumed_with_done"] == 3 and summary["texts"] == 7
    assert not first_texts & set(killed_sweep.explained)  # finished texts were not redone
    lines = (run / "results.jsonl").read_text().split("\n")
    assert all(line in lines for line in before)  # ... and were not lost or changed
    plan = json.loads((run / "sweep_config.json").read_text())["plan_idx"]
    assert list(_sigmas(run)) == [(k, i) for k in ("prediction", "layers") for i in plan]  # each once, in order
    assert (run / "report.md").is_file() and (run / "information_per_layer.csv").is_file()
    assert (run / "figures" / "layers_2.png").is_file() and (tmp_path / "sst2" / "information_per_layer.png").is_file()

    with pytest.raises(ValueError, match=r"\(seed differ\)"):  # other options never mix with these results
        sweep_main(args + ["--explain_seed", "5"])


def _stderr(e) -> torch.Tensor:  # noqa: ANN001
    """diagnostics["stderr"] as a tensor; JSON stores an unknown (infinite) error of a word that never settled
    as null, which is read back as infinity here."""
    return torch.tensor([[float("inf") if v is None else float(v) for v in row] for row in e.diagnostics["stderr"]])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path: Path, config: Path, tiny_bert, bert_tokenizer) -> None:
    one, two = _trained_run(tmp_path / "one", tiny_bert, bert_tokenizer), _trained_run(
        tmp_path / "two", tiny_bert, bert_tokenizer)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "MPLBACKEND": "Agg", "TRANSFORMERS_VERBOSITY": "error",  # this checkout's package, not an installed one:
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), str(REPO / "scripts" / "glue_sweep.py"),
           "--config", str(config), "--output_root", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((two / "sweep.json").read_text())
    assert summary["processes"] == 2 and all(n > 0 for n in summary["explained_now_per_process"].values())

    torch.set_num_threads(1)
    sweep_main(["--config", str(config), "--output_root", str(tmp_path / "one")])
    a, b = _sigmas(one), _sigmas(two)
    assert a.keys() == b.keys() and len(a) == 14
    # the shards padded some texts in other batches: single (0,1,2) (3,4,5) (6); two (0,1,2) (3) | (4,5,6)
    assert any(a[k].diagnostics["batch_size"] != b[k].diagnostics["batch_size"] for k in a)
    worst = max(float(((a[k].sigma - b[k].sigma).abs() / a[k].sigma).max()) for k in a)
    print(f"largest relative difference of σ between 1 and 2 processes: {worst:.2e}")
    for key in a:
        assert a[key].words == b[key].words and a[key].layers == b[key].layers
        torch.testing.assert_close(a[key].regularization, b[key].regularization, rtol=1e-5, atol=0)
        # each text has its own noise, so σ differs only by floating-point effects of the padded length
        # (amplified by the optimizer's discrete decisions): within the reported Monte-Carlo error
        assert torch.equal(a[key].at_bound, b[key].at_bound), key
        se = (_stderr(a[key]) ** 2 + _stderr(b[key]) ** 2).sqrt()
        gap = (a[key].sigma / b[key].sigma).log().abs()
        assert bool((gap <= 4 * se + 1e-3).all()), (key, gap, se)
