"""Train (or fine-tune) one model family on one GLUE task with the HF Trainer, evaluate it, save it.

Writes ``<output_root>/<task>/<family>/``:

* ``model/`` (save_pretrained: weights, config, tokenizer; the best held-out checkpoint when one is selected);
* ``scores.json``: the Table 2 analog (the task's GLUE metric on the validation split), wall time over all
  sittings, the learning curve, and provenance;
* ``curve.jsonl``: one line per log/evaluation, written as training goes (``wall_s``: seconds of training
  so far, summed over sittings), so a killed run keeps its curve;
* ``trainer/checkpoint-*``: what ``--resume`` continues from (model, optimizer, scheduler, RNG, sampler);
* ``mi_history.csv`` / ``mi_information.png`` (``probe_texts`` > 0): every layer's information on a fixed
  probe set during training (:class:`mi_explain.callbacks.MICallback`; the paper's Fig. 9).  The probe
  restores every RNG state, so the trained weights are those of the same run without it.

The Trainer is :func:`mi_explain.training.make_trainer` (the one every training of the package uses).
Speed on a small CPU: batches are padded per batch (``DataCollatorWithPadding``) and grouped by length
(``train_sampling_strategy: group_by_length``); ``bf16: true`` trains under CPU bf16 autocast.  Early stopping
and best-checkpoint selection read only a held-out slice of the TRAIN split (``heldout_samples``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..sweep.io import write_json
from .arguments import DataArguments, ModelArguments, TrainArguments, parse_args, run_dir
from .data import load_glue, split_heldout, subset
from .metrics import compute_metrics_fn
from .modeling import build_for_training, load_tokenizer
from .tasks import get_task

__all__ = ["CURVE_FILE", "WallClockCallback", "last_checkpoint", "main", "probe_callback",
           "probe_texts", "read_curve", "train"]

CURVE_FILE = "curve.jsonl"
#: row kinds of a curve, in the order they happen at one step
_KINDS = ("begin", "train", "eval", "end", "final")


def _tokenized(dataset, tokenizer, task, max_length: int):  # noqa: ANN001
    cols = list(task.text_columns)

    def encode(batch: dict) -> dict:
        return tokenizer(*[batch[c] for c in cols], truncation=True, max_length=max_length)

    return dataset.map(encode, batched=True, remove_columns=[*cols, "idx"], desc="tokenizing")


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-<step>`` folder in ``output_dir`` (None when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def read_curve(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``curve.jsonl``; a row logged again after a resume replaces the earlier one.

    Rows are merged by (step, kind) where kind is ``train`` (loss, learning rate), ``eval`` (held-out and
    validation scores during training), ``end`` (the Trainer's summary), ``final`` (the score reported in
    ``scores.json``) or ``begin`` (a sitting's start: planned ``max_steps``, epochs, batch size).  Later
    lines win, so a step logged again after a resume replaces the earlier values.  A truncated line (a killed
    run) is skipped.
    """
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    path = Path(path)
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows.setdefault((int(row["step"]), row["kind"]), {}).update(row)
    order = {kind: i for i, kind in enumerate(_KINDS)}
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], order.get(k[1], len(order))))]


def _kind(logs: dict[str, Any]) -> str:
    if "eval_loss" in logs:
        return "final"
    if any(k.startswith("eval_") for k in logs):
        return "eval"
    return "end" if "train_runtime" in logs else "train"


def _wall_callback():  # noqa: ANN202  (subclass built lazily: transformers imports slowly)
    from transformers import TrainerCallback

    class _WallClock(TrainerCallback):
        """Appends every log (with cumulative training wall time ``wall_s``) to ``curve.jsonl``."""

        def __init__(self, path: Path) -> None:
            self.path = path
            self.offset = 0.0
            self.t0 = time.perf_counter()

        def elapsed(self) -> float:
            """Wall seconds of training, this sitting plus the earlier ones up to the resumed step."""
            return self.offset + time.perf_counter() - self.t0

        def on_train_begin(self, args, state, control, **kw) -> None:  # noqa: ANN001
            earlier = [r for r in read_curve(self.path) if r["step"] <= state.global_step]
            self.offset = max((float(r["wall_s"]) for r in earlier), default=0.0)
            self.t0 = time.perf_counter()
            if state.is_world_process_zero:
                self._write({"step": int(state.global_step), "kind": "begin", "wall_s": round(self.offset, 1),
                             "max_steps": int(state.max_steps), "num_train_epochs": state.num_train_epochs,
                             "train_batch_size": state.train_batch_size})

        def _write(self, row: dict[str, Any]) -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

        def on_log(self, args, state, control, logs=None, **kw) -> None:  # noqa: ANN001
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": int(state.global_step), "epoch": round(float(state.epoch or 0), 4), "kind": _kind(logs),
                   "wall_s": round(self.elapsed(), 1), **{k: v for k, v in logs.items() if k != "epoch"}}
            self._write(row)

    return _WallClock


def WallClockCallback(path: str | Path):  # noqa: N802, ANN201  (a factory that reads like a class)
    """A ``TrainerCallback`` that appends each log row and the cumulative wall time to ``path`` (JSONL)."""
    return _wall_callback()(Path(path))


def _configure(training_args, train_args: TrainArguments, task, has_heldout: bool) -> None:  # noqa: ANN001
    """Check the options that must agree (early stopping needs a held-out split and a metric)."""
    if train_args.early_stopping_patience and not has_heldout:
        raise ValueError("early_stopping_patience needs heldout_samples > 0 (early stopping reads only a held-out "
                         "slice of the training split, never the validation split)")
    if has_heldout and training_args.eval_strategy == "no":
        raise ValueError("heldout_samples > 0 needs eval_strategy 'steps' or 'epoch' to be scored during training")
    metric = training_args.metric_for_best_model
    if (has_heldout and training_args.load_best_model_at_end) or train_args.early_stopping_patience:
        if not metric:
            raise ValueError(f"set metric_for_best_model, e.g. heldout_{task.headline} or heldout_loss")
        if not metric.removeprefix("eval_").startswith("heldout_"):
            raise ValueError(f"metric_for_best_model must read the held-out training slice (heldout_…), got "
                             f"{metric!r}: model selection on the validation split would bias the reported score")


def probe_texts(validation, task, n: int, seed: int) -> list:  # noqa: ANN001
    """``n`` seeded validation texts (``(first, second)`` tuples for pair tasks) for the Fig. 9 probe; the
    seed is the data's ``subset_seed`` + 1, so the probe set differs from a ``max_eval_samples`` subset."""
    rows = subset(validation, n, seed + 1)
    cols = list(task.text_columns)
    return [tuple(r[c] for c in cols) if task.is_pair else r[cols[0]] for r in rows]


def probe_callback(tokenizer, validation, task, train_args: TrainArguments, out: Path, seed: int):  # noqa: ANN001, ANN201
    """The :class:`~mi_explain.callbacks.MICallback` of a run with ``probe_texts`` > 0: every layer's
    information on the probe texts every ``probe_every`` steps → ``<run>/mi_history.csv`` and
    ``<run>/mi_information.png`` (a resumed run keeps the rows before its first step)."""
    from ..callbacks import HISTORY_FILE, PLOT_FILE, MICallback

    texts = probe_texts(validation, task, train_args.probe_texts, seed)
    return MICallback(tokenizer, texts, every_n_steps=train_args.probe_every, history_file=out / HISTORY_FILE,
                      plot_file=out / PLOT_FILE, run_name=f"{task.title} × {out.name}",
                      tol=train_args.probe_tol, steps=train_args.probe_steps)


def train(data_args: DataArguments, model_args: ModelArguments, training_args,  # noqa: ANN001
          train_args: TrainArguments | None = None) -> dict:
    """Train, evaluate and save; returns the scores written to ``scores.json``."""
    import torch
    from transformers import EarlyStoppingCallback, set_seed

    from ..training import make_trainer

    train_args = train_args or TrainArguments()
    if train_args.torch_threads:
        torch.set_num_threads(train_args.torch_threads)
    task = get_task(data_args.task)
    out = run_dir(data_args, model_args)
    if training_args.output_dir in (None, "", "trainer_output"):
        training_args.output_dir = str(out / "trainer")
    data = load_glue(task.name, data_args.data_dir)
    rest, heldout = split_heldout(data.train, train_args.heldout_samples, data_args.subset_seed)
    train_ds = subset(rest, data_args.max_train_samples, data_args.subset_seed)
    eval_ds = subset(data.validation, data_args.max_eval_samples, data_args.subset_seed)
    _configure(training_args, train_args, task, heldout is not None)

    tok = load_tokenizer(model_args.family, model_args.model_name_or_path, model_args.tokenizer_name)
    # the new weights (a from-scratch model, a pretrained model's classifier head) come from the seed, not from
    # the process's RNG state (torch seeds its default generator at random in every new process)
    set_seed(training_args.seed)
    model = build_for_training(model_args.family, model_args.model_name_or_path, tok, model_args.config_kwargs,
                               task.label_names)
    enc_val = _tokenized(eval_ds, tok, task, data_args.max_length)
    during: dict[str, Any] = {}
    if heldout is not None:
        during["heldout"] = _tokenized(heldout, tok, task, data_args.max_length)
        if train_args.eval_validation:
            during["validation"] = enc_val
    callbacks = [WallClockCallback(out / CURVE_FILE)]
    if train_args.probe_texts:
        callbacks.append(probe_callback(tok, data.validation, task, train_args, out, data_args.subset_seed))
    if train_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=train_args.early_stopping_patience))
    trainer = make_trainer(model, tok, training_args, _tokenized(train_ds, tok, task, data_args.max_length),
                           eval_dataset=during or None, compute_metrics=compute_metrics_fn(task.name),
                           callbacks=callbacks)
    resume_from = last_checkpoint(training_args.output_dir) if train_args.resume else None
    if not train_args.resume and last_checkpoint(training_args.output_dir):
        print(f"[glue train] note: {training_args.output_dir} holds checkpoints; starting afresh "
              "(pass --resume true to continue from the newest)")
    if resume_from:
        print(f"[glue train] resuming from {resume_from}")
    t0 = time.perf_counter()
    train_out = trainer.train(resume_from_checkpoint=resume_from)
    t1 = time.perf_counter()
    metrics = trainer.evaluate(eval_dataset=enc_val, metric_key_prefix="eval")
    t2 = time.perf_counter()
    trainer.save_model(str(out / "model"))
    curve = read_curve(out / CURVE_FILE)
    wall = max((float(r["wall_s"]) for r in curve), default=round(t1 - t0, 1))
    values = {m: float(metrics[f"eval_{m}"]) for m in task.metrics}
    scores = {
        "task": task.name, "family": model_args.family,
        "model": model_args.model_name_or_path if model_args.family == "bert" else model_args.family,
        "metrics": values, "headline": task.headline, "headline_value": values[task.headline],
        "eval_loss": float(metrics.get("eval_loss", float("nan"))),
        "n_train": len(train_ds), "n_heldout": 0 if heldout is None else len(heldout), "n_eval": len(eval_ds),
        "split": "validation", "data_source": data.source, "note": data.note,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": round(float(trainer.state.epoch or 0), 3), "train_steps": int(train_out.global_step),
        "best_checkpoint": trainer.state.best_model_checkpoint, "best_heldout": trainer.state.best_metric,
        "stopped_early": bool(training_args.num_train_epochs and trainer.state.max_steps
                              and train_out.global_step < trainer.state.max_steps),
        "train_seconds": round(wall, 1), "train_seconds_this_sitting": round(t1 - t0, 1),
        "eval_seconds": round(t2 - t1, 1), "resumed_from": resume_from,
        "device": str(training_args.device), "torch_threads": torch.get_num_threads(),
        "bf16": bool(training_args.bf16),
        "options": {"data": asdict(data_args), "model": asdict(model_args), "train": asdict(train_args),
                    "training": {k: getattr(training_args, k) for k in (
                        "num_train_epochs", "max_steps", "per_device_train_batch_size", "learning_rate",
                        "lr_scheduler_type", "warmup_steps", "weight_decay", "train_sampling_strategy", "seed",
                        "eval_steps", "save_steps", "metric_for_best_model")}},
        "curve": curve,
    }
    if not trainer.is_world_process_zero():  # under `accelerate launch`: one writer
        return scores
    write_json(out / "scores.json", scores)
    line = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
    print(f"[glue train] {task.title} × {model_args.family}: {line} on {len(eval_ds)} validation texts "
          f"({scores['train_seconds']:.0f} s training) → {out}")
    if data.note:
        print(f"[glue train] note: {data.note}")
    return scores


def main(argv: list[str] | None = None) -> dict:
    """``glue_train.py --config configs/<task>_<model>_<size>.yaml [--resume true] [--key value ...]``."""
    from transformers import TrainingArguments

    data_args, model_args, training_args, train_args = parse_args(
        (DataArguments, ModelArguments, TrainingArguments, TrainArguments), argv)
    return train(data_args, model_args, training_args, train_args)
