"""GLUE training: held-out split disjoint from validation, dynamic padding, resume from a checkpoint, curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mi_explain.glue.arguments import TrainArguments
from mi_explain.glue.data import load_glue, split_heldout
from mi_explain.glue.train import main as train_main
from mi_explain.glue.train import read_curve

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "sst2_transformer_smoke.yaml"


def _glue(tmp_path: Path, n_train: int = 40, n_val: int = 12) -> Path:
    """Tiny SST-2 files: train rows 'train i …', validation rows 'valid j …' of varied lengths."""
    folder = tmp_path / "glue" / "sst2"
    folder.mkdir(parents=True)
    words = "good bad fine awful great dull".split()
    train = [f"train {i} " + " ".join(words[: 1 + i % 6]) + f"\t{i % 2}" for i in range(n_train)]
    val = [f"valid {j} " + " ".join(words[: 1 + j % 6]) + f"\t{j % 2}" for j in range(n_val)]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(train) + "\n", encoding="utf-8")
    (folder / "validation.tsv").write_text("sentence\tlabel\n" + "\n".join(val) + "\n", encoding="utf-8")
    return tmp_path / "glue"


def test_heldout_comes_from_train_and_is_disjoint_from_validation(tmp_path: Path) -> None:
    data = load_glue("sst2", _glue(tmp_path))
    rest, held = split_heldout(data.train, 10, seed=3)
    assert len(held) == 10 and len(rest) == 30
    assert set(held["idx"]).isdisjoint(rest["idx"]) and set(held["idx"]) | set(rest["idx"]) == set(range(40))
    assert all(s.startswith("train ") for s in held["sentence"])
    assert set(held["sentence"]).isdisjoint(data.validation["sentence"])
    assert split_heldout(data.train, 10, seed=3)[1]["idx"] == held["idx"]  # seeded
    assert split_heldout(data.train, 0, seed=3) == (data.train, None)
    with pytest.raises(ValueError, match="heldout_samples must be in"):
        split_heldout(data.train, 40, seed=3)


def test_collator_pads_each_batch_to_its_own_longest_text() -> None:
    from transformers import DataCollatorWithPadding

    from mi_explain.glue.modeling import load_tokenizer

    tok = load_tokenizer("transformer", "minilm", "minilm")
    collate = DataCollatorWithPadding(tok)
    short = [tok(t, truncation=True, max_length=64) for t in ("fine .", "bad")]
    long = [tok(t, truncation=True, max_length=64) for t in ("a much longer sentence than the others here", "ok")]
    a, b = collate(short), collate(long)
    assert a["input_ids"].shape[1] == max(len(x["input_ids"]) for x in short) < 64
    assert b["input_ids"].shape[1] == max(len(x["input_ids"]) for x in long) > a["input_ids"].shape[1]
    assert (a["attention_mask"].sum(1).tolist() == [len(x["input_ids"]) for x in short])


def _args(tmp_path: Path, glue: Path, *extra: str) -> list[str]:
    return ["--config", str(SMOKE), "--output_root", str(tmp_path / "runs"), "--data_dir", str(glue),
            "--max_train_samples", "24", "--max_eval_samples", "12", "--per_device_train_batch_size", "4",
            "--heldout_samples", "8", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps",
            "--save_steps", "2", "--save_total_limit", "2", "--logging_steps", "1", "--disable_tqdm", "true",
            "--torch_threads", "1", "--train_sampling_strategy", "group_by_length", *extra]


def test_resume_continues_from_the_checkpoint(tmp_path: Path) -> None:
    glue = _glue(tmp_path)
    first = train_main(_args(tmp_path, glue, "--max_steps", "4"))
    run = tmp_path / "runs" / "sst2" / "transformer"
    assert first["train_steps"] == 4 and first["resumed_from"] is None
    assert sorted(p.name for p in (run / "trainer").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    second = train_main(_args(tmp_path, glue, "--max_steps", "6", "--resume", "true"))
    assert second["resumed_from"].endswith("checkpoint-4")
    assert second["train_steps"] == 6 and second["n_heldout"] == 8 and second["n_train"] == 24
    state = json.loads((run / "trainer" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    curve = read_curve(run / "curve.jsonl")
    train_steps = [r["step"] for r in curve if r["kind"] == "train"]
    assert train_steps == [1, 2, 3, 4, 5, 6]  # the resumed sitting logs steps 5 and 6, not 1 and 2 again
    assert [(r["step"], r["max_steps"]) for r in curve if r["kind"] == "begin"] == [(0, 4), (4, 6)]
    walls = [r["wall_s"] for r in curve if r["kind"] == "train"]
    assert walls == sorted(walls) and second["train_seconds"] >= first["train_seconds"]
    evals = [r for r in curve if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4, 6]
    assert all("eval_heldout_accuracy" in r and "eval_validation_accuracy" in r for r in evals)
    assert second == json.loads((run / "scores.json").read_text())


def test_without_resume_a_new_run_starts_at_step_zero(tmp_path: Path) -> None:
    glue = _glue(tmp_path)
    train_main(_args(tmp_path, glue, "--max_steps", "2"))
    again = train_main(_args(tmp_path, glue, "--max_steps", "2"))
    assert again["resumed_from"] is None and again["train_steps"] == 2


def test_early_stopping_reads_only_the_heldout_slice(tmp_path: Path) -> None:
    glue = _glue(tmp_path)
    base = _args(tmp_path, glue, "--max_steps", "2", "--early_stopping_patience", "1", "--load_best_model_at_end",
                 "true")
    with pytest.raises(ValueError, match="must read the held-out training slice"):
        train_main([*base, "--metric_for_best_model", "validation_accuracy"])
    with pytest.raises(ValueError, match="needs heldout_samples > 0"):
        train_main([*base, "--metric_for_best_model", "heldout_loss", "--heldout_samples", "0"])
    scores = train_main([*base, "--metric_for_best_model", "heldout_loss"])
    assert scores["best_checkpoint"].endswith("checkpoint-2")


def test_train_arguments_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="heldout_samples must be ≥ 0"):
        TrainArguments(heldout_samples=-1)
    with pytest.raises(ValueError, match="probe_every must be ≥ 1"):
        TrainArguments(probe_texts=4, probe_every=0)
    with pytest.raises(ValueError, match="probe_tol must be > 0"):
        TrainArguments(probe_tol=0.0)


def test_fig9_probe_records_every_layer_without_changing_training(tmp_path: Path) -> None:
    """probe_texts > 0: MICallback writes <run>/mi_history.csv at steps 0, every, …, last; the weights are
    bit-identical to the same run without the probe; the report's export reads the run as a Fig. 9 model."""
    from safetensors.torch import load_file

    from mi_explain.callbacks import load_history
    from mi_explain.glue.summaries import export_summaries

    glue = _glue(tmp_path)
    common = ("--max_steps", "5", "--eval_strategy", "no", "--heldout_samples", "0", "--save_strategy", "no")
    plain = train_main([*_args(tmp_path / "plain", glue), *common])
    torch.rand(3)  # a different RNG state before the second run: the weights must come from the seed alone
    probed = train_main([*_args(tmp_path / "probed", glue), *common, "--probe_texts", "3", "--probe_every", "2",
                         "--probe_steps", "6", "--probe_tol", "0.5"])
    run = tmp_path / "probed" / "runs" / "sst2" / "transformer"
    history = load_history(run / "mi_history.csv")
    n_layers = history["layer"].nunique()
    assert n_layers >= 2 and sorted(history["step"].unique()) == [0, 2, 4, 5]
    assert (history.groupby("step").size() == n_layers).all() and (history["n_sentences"] == 3).all()
    assert (run / "mi_information.png").stat().st_size > 0
    assert probed["options"]["train"]["probe_texts"] == 3 and plain["options"]["train"]["probe_texts"] == 0
    a = load_file(str(tmp_path / "plain" / "runs" / "sst2" / "transformer" / "model" / "model.safetensors"))
    b = load_file(str(run / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    written = export_summaries(None, tmp_path / "data", "t", fig9=run.parent)
    import pandas as pd

    fig9 = pd.read_csv(written["fig9"])
    assert set(fig9["model"]) == {"transformer"} and (fig9["n_probe"] == 3).all() and (fig9["every"] == 2).all()
    assert (fig9["train_steps"] == 5).all() and fig9["dev_accuracy"].between(0, 1).all()


def test_glue_cpu_script_trains_every_cpu_config() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    script = (root / "scripts" / "glue_cpu.sh").read_text(encoding="utf-8")
    chains = re.findall(r"^CHAIN_[AB]=\(([^)]*)\)", script, re.M)
    items = [tuple(i.split(":")) for chain in chains for i in chain.split()]
    configs = {tuple(p.name.removesuffix("_cpu.yaml").split("_")) for p in (root / "configs").glob("*_cpu.yaml")}
    assert len(items) == len(set(items)) == 12 and set(items) == configs
