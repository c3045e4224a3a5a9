"""YAML configs + command-line overrides (HfArgumentParser); every shipped config parses and has the
paper's structure."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import TrainingArguments

from mi_explain.glue.arguments import DataArguments, ModelArguments, SweepArguments, TrainArguments, parse_args, run_dir
from mi_explain.models import FAMILIES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TASKS, FAMS, SIZES = ("sst2", "cola", "qqp"), ("bert", "transformer", "lstm", "cnn"), ("smoke", "cpu", "gpu")
TRAIN = (DataArguments, ModelArguments, TrainingArguments)
SWEEP = (DataArguments, ModelArguments, SweepArguments)


@pytest.mark.parametrize("size", SIZES)
def test_every_config_parses_for_both_scripts(size: str) -> None:
    for task in TASKS:
        for fam in FAMS:
            path = CONFIGS / f"{task}_{fam}_{size}.yaml"
            data, model, training = parse_args(TRAIN, ["--config", str(path)])
            _, model2, sweep = parse_args(SWEEP, ["--config", str(path)])
            assert (data.task, model.family) == (task, fam), path
            assert model.output_root == f"runs/{size}" and run_dir(data, model) == Path(f"runs/{size}/{task}/{fam}")
            assert sweep.n_sentences >= 1 and model2 == model
            if size == "cpu":  # resumable, early stopping on the held-out train slice, one thread
                *_, train = parse_args((*TRAIN, TrainArguments), ["--config", str(path)])
                assert training.save_strategy == "steps" and training.save_steps == training.eval_steps
                assert training.metric_for_best_model.startswith("heldout_") and training.load_best_model_at_end
                assert train.heldout_samples > 0 and train.early_stopping_patience > 0 and train.torch_threads == 1
                assert training.train_sampling_strategy == "group_by_length"
            else:
                assert training.save_strategy == "no"
            if fam != "bert":  # every size key is a real option of the family's config
                defaults = FAMILIES[fam].config()
                assert all(hasattr(defaults, k) for k in model.config_kwargs), (path, model.config_kwargs)


def test_full_size_configs_follow_the_paper() -> None:
    def model_of(task: str, fam: str) -> ModelArguments:
        return parse_args(TRAIN, ["--config", str(CONFIGS / f"{task}_{fam}_gpu.yaml")])[1]

    for task in TASKS:
        assert model_of(task, "bert").model_name_or_path == "bert-base-uncased"
        assert model_of(task, "transformer").config_kwargs == {
            "hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 1024}
        assert model_of(task, "lstm").config_kwargs == {"embedding_size": 768, "hidden_size": 768,
                                                        "num_hidden_layers": 4}
        assert model_of(task, "cnn").config_kwargs["kernel_sizes"] == [1, 3, 5, 7]
        data = parse_args(TRAIN, ["--config", str(CONFIGS / f"{task}_bert_gpu.yaml")])[0]
        assert data.max_train_samples is None and data.max_eval_samples is None  # full data


def test_command_line_overrides_yaml() -> None:
    path = str(CONFIGS / "sst2_lstm_smoke.yaml")
    data, model, training = parse_args(TRAIN, ["--config", path, "--max_train_samples", "7", "--learning_rate", "0.5",
                                               "--model_config", '{"hidden_size": 8}', "--output_root", "/tmp/x"])
    assert data.max_train_samples == 7 and training.learning_rate == 0.5
    assert model.config_kwargs == {"hidden_size": 8} and model.output_root == "/tmp/x"
    _, _, sweep = parse_args(SWEEP, ["--config", path, "--example_indices", "3", "4", "--overwrite", "true"])
    assert sweep.example_indices == [3, 4] and sweep.overwrite is True


def test_without_yaml_and_errors(tmp_path: Path) -> None:
    data, model, sweep = parse_args(SWEEP, ["--task", "cola", "--family", "cnn"])
    assert (data.task, model.family, sweep.top_k) == ("cola", "cnn", 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: sst2\nfamily: bert\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown option\(s\) \['learning_rat'\]"):
        parse_args(TRAIN, ["--config", str(bad)])
    with pytest.raises(ValueError, match="unknown family 'gru'"):
        parse_args(SWEEP, ["--task", "cola", "--family", "gru"])
    with pytest.raises(ValueError, match="model_config is not a JSON dict"):
        parse_args(SWEEP, ["--task", "cola", "--family", "cnn", "--model_config", "{hidden: 3"])


def test_option_names_do_not_collide_with_training_arguments() -> None:
    import dataclasses

    hf = {f.name for f in dataclasses.fields(TrainingArguments)}
    for dc in (DataArguments, ModelArguments, SweepArguments):
        assert not hf & {f.name for f in dataclasses.fields(dc)}, dc
