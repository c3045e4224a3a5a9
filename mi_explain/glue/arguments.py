"""Run options as dataclasses for ``HfArgumentParser``, read from a YAML config and overridden on the CLI.

One YAML file per task × model × size (``configs/<task>_<model>_<size>.yaml``) holds the keys of
:class:`DataArguments`, :class:`ModelArguments`, :class:`SweepArguments` and ``transformers.TrainingArguments``;
each script reads the dataclasses it needs, and ``--key value`` on the command line wins over the file.
A key that none of them knows is an error (a typo must not pass silently).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DataArguments", "ModelArguments", "SweepArguments", "TrainArguments", "parse_args", "run_dir",
           "yaml_config"]

FAMILIES = ("bert", "transformer", "lstm", "cnn")


@dataclass
class DataArguments:
    """Which task and how much of it."""

    task: str = field(metadata={"help": "GLUE task: sst2, cola or qqp"})
    data_dir: str | None = field(default=None, metadata={
        "help": "folder with <task>/{train,validation}.tsv, or 'hub'; default: $MI_EXPLAIN_GLUE_DIR, then "
                "<repo>/../shared/data/glue when offline, then the Hub"})
    max_train_samples: int | None = field(default=None, metadata={"help": "seeded subset of the train split"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "seeded subset of the validation split"})
    max_length: int = field(default=128, metadata={"help": "tokens per (pair of) text(s); longer ones are cut"})
    subset_seed: int = field(default=0, metadata={"help": "seed of the train/validation subsets"})


@dataclass
class ModelArguments:
    """Which model family, its sizes, and where the run lives."""

    family: str = field(metadata={"help": "bert, transformer, lstm or cnn"})
    model_name_or_path: str = field(default="minilm", metadata={
        "help": "bert: a Hub id or folder of a pretrained checkpoint, or 'minilm' (the packaged all-MiniLM-L6-v2)"})
    tokenizer_name: str = field(default="minilm", metadata={
        "help": "tokenizer of the from-scratch families: Hub id, folder or 'minilm' (its WordPiece vocabulary)"})
    model_config: str = field(default="{}", metadata={
        "help": "JSON dict of config sizes (e.g. '{\"hidden_size\": 128}'); for bert: overrides of the "
                "pretrained config such as num_hidden_layers"})
    output_root: str = field(default="runs", metadata={"help": "results go to <output_root>/<task>/<family>/"})

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}: choose one of {', '.join(FAMILIES)}")
        if isinstance(self.model_config, dict):  # given as a mapping in Python or YAML
            self.model_config = json.dumps(self.model_config)
        self.config_kwargs  # noqa: B018  (fail early on bad JSON)

    @property
    def config_kwargs(self) -> dict[str, Any]:
        """``model_config`` as a dict."""
        try:
            value = json.loads(self.model_config or "{}")
        except json.JSONDecodeError as err:
            raise ValueError(f"model_config is not a JSON dict: {self.model_config!r} ({err})") from err
        if not isinstance(value, dict):
            raise ValueError(f"model_config must be a JSON dict, got {self.model_config!r}")
        return value


@dataclass
class SweepArguments:
    """What the layer sweep explains and how (explain's options carry an ``explain_`` prefix)."""

    n_sentences: int = field(default=100, metadata={"help": "validation texts explained (seeded sample)"})
    sample_seed: int = field(default=0, metadata={"help": "seed of the sample (a permutation: larger n extends it)"})
    example_indices: list[int] = field(default_factory=list, metadata={
        "help": "validation rows always explained and drawn layer by layer (Fig. 7), e.g. 525 for SST-2"})
    n_drawn: int = field(default=2, metadata={"help": "sampled texts drawn layer by layer besides the examples"})
    n_reference: int = field(default=300, metadata={"help": "training texts that estimate σ_s of every layer"})
    reference_seed: int = field(default=0, metadata={"help": "seed of the reference sample"})
    explain_batch_size: int = field(default=8, metadata={"help": "texts per batched explain call (and per write)"})
    explain_rate: float = field(default=0.1, metadata={"help": "λ of Eq. 7"})
    explain_tol: float = field(default=0.05, metadata={"help": "stop when the standard error of log σ is below"})
    explain_steps: int = field(default=100, metadata={"help": "cap on optimisation steps"})
    explain_samples: int = field(default=8, metadata={"help": "noise draws per step"})
    explain_seed: int = field(default=0, metadata={"help": "noise seed (the same for every text)"})
    top_k: int = field(default=3, metadata={"help": "lowest-σ words per text counted as used for prediction"})
    overwrite: bool = field(default=False, metadata={"help": "discard finished results of an earlier sweep"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})

    def __post_init__(self) -> None:
        for name in ("n_sentences", "n_reference", "explain_batch_size", "top_k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")


@dataclass
class TrainArguments:
    """How a training run is held out, stopped, resumed and threaded (beside ``transformers.TrainingArguments``)."""

    heldout_samples: int = field(default=0, metadata={
        "help": "seeded rows of the TRAIN split held out for early stopping and best-checkpoint selection "
                "(never the validation split that scores are reported on); 0: none"})
    early_stopping_patience: int = field(default=0, metadata={
        "help": "stop after this many held-out evaluations without improvement of metric_for_best_model; 0: off"})
    eval_validation: bool = field(default=True, metadata={
        "help": "also score the validation split at every evaluation, for the learning curve only"})
    resume: bool = field(default=False, metadata={
        "help": "continue from the newest checkpoint in <run>/trainer (starts afresh when there is none)"})
    torch_threads: int = field(default=0, metadata={"help": "torch.set_num_threads; 0: leave torch's default"})
    probe_texts: int = field(default=0, metadata={
        "help": "information per layer during training (paper Fig. 9): MICallback on this many seeded validation "
                "texts, written to <run>/mi_history.csv; 0: off"})
    probe_every: int = field(default=500, metadata={"help": "probe every N optimizer steps (and at the start and end)"})
    probe_tol: float = field(default=0.2, metadata={"help": "the probe's tolerance on log σ (MICallback's default)"})
    probe_steps: int = field(default=50, metadata={"help": "the probe's cap on estimator iterations"})

    def __post_init__(self) -> None:
        for name in ("heldout_samples", "early_stopping_patience", "torch_threads", "probe_texts"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        for name in ("probe_every", "probe_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not float(self.probe_tol) > 0:
            raise ValueError(f"probe_tol must be > 0, got {self.probe_tol}")


def run_dir(data: DataArguments, model: ModelArguments) -> Path:
    """``<output_root>/<task>/<family>``: where a run's model, scores, results and figures live."""
    from .tasks import get_task

    return Path(model.output_root) / get_task(data.task).name / model.family


def _all_known_keys() -> set[str]:
    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    for dc in (DataArguments, ModelArguments, SweepArguments, TrainArguments):
        known |= {f.name for f in dataclasses.fields(dc)}
    return known


def yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """The flat key → value mapping of a YAML config; unknown keys raise ValueError naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping of option: value, got {type(data).__name__}")
    unknown = sorted(set(data) - _all_known_keys())
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {unknown}")
    return data


def parse_args(dataclass_types: tuple[type, ...], argv: list[str] | None = None) -> tuple[Any, ...]:
    """Parse ``[--config FILE.yaml] [--key value ...]`` into instances of ``dataclass_types``.

    The YAML file's values become the parser's defaults; options given on the command line override them.
    """
    import argparse

    from transformers import HfArgumentParser

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    parser = HfArgumentParser(dataclass_types)
    parser.add_argument("--config", default=None, help="YAML file of options (command-line options win)")
    if known.config:
        values = yaml_config(known.config)
        dests = {a.dest: a for a in parser._actions}
        mine = {k: v for k, v in values.items() if k in dests}
        for key in mine:
            dests[key].required = False
        if isinstance(mine.get("model_config"), dict):
            mine["model_config"] = json.dumps(mine["model_config"])
        parser.set_defaults(**mine)
    out = parser.parse_args_into_dataclasses(args=rest, look_for_args_file=False)
    return tuple(o for o in out if dataclasses.is_dataclass(o))
