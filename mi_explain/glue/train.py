"""Train (or fine-tune) one model family on one GLUE task with the HF Trainer, evaluate it, save it.

Writes ``<output_root>/<task>/<family>/``: ``model/`` (save_pretrained: weights, config, tokenizer) and
``scores.json`` (the Table 2 analog: the task's GLUE metric on the validation split, with provenance).
"""

from __future__ import annotations

import time
from dataclasses import asdict

from .arguments import DataArguments, ModelArguments, parse_args, run_dir
from .data import load_glue, subset
from .io import write_json
from .metrics import compute_metrics_fn
from .modeling import build_for_training, load_tokenizer
from .tasks import get_task

__all__ = ["main", "train"]


def _tokenized(dataset, tokenizer, task, max_length: int):  # noqa: ANN001
    cols = list(task.text_columns)

    def encode(batch: dict) -> dict:
        return tokenizer(*[batch[c] for c in cols], truncation=True, max_length=max_length)

    return dataset.map(encode, batched=True, remove_columns=[*cols, "idx"], desc="tokenizing")


def train(data_args: DataArguments, model_args: ModelArguments, training_args) -> dict:  # noqa: ANN001
    """Train, evaluate and save; returns the scores written to ``scores.json``."""
    from transformers import DataCollatorWithPadding, Trainer

    task = get_task(data_args.task)
    out = run_dir(data_args, model_args)
    if training_args.output_dir in (None, "", "trainer_output"):
        training_args.output_dir = str(out / "trainer")
    data = load_glue(task.name, data_args.data_dir)
    train_ds = subset(data.train, data_args.max_train_samples, data_args.subset_seed)
    eval_ds = subset(data.validation, data_args.max_eval_samples, data_args.subset_seed)
    tok = load_tokenizer(model_args.family, model_args.model_name_or_path, model_args.tokenizer_name)
    model = build_for_training(model_args.family, model_args.model_name_or_path, tok, model_args.config_kwargs,
                               task.label_names)
    trainer = Trainer(
        model=model, args=training_args, processing_class=tok, data_collator=DataCollatorWithPadding(tok),
        train_dataset=_tokenized(train_ds, tok, task, data_args.max_length),
        eval_dataset=_tokenized(eval_ds, tok, task, data_args.max_length),
        compute_metrics=compute_metrics_fn(task.name),
    )
    t0 = time.perf_counter()
    train_out = trainer.train()
    t1 = time.perf_counter()
    metrics = trainer.evaluate()
    t2 = time.perf_counter()
    trainer.save_model(str(out / "model"))
    values = {m: float(metrics[f"eval_{m}"]) for m in task.metrics}
    scores = {
        "task": task.name, "family": model_args.family,
        "model": model_args.model_name_or_path if model_args.family == "bert" else model_args.family,
        "metrics": values, "headline": task.headline, "headline_value": values[task.headline],
        "eval_loss": float(metrics.get("eval_loss", float("nan"))),
        "n_train": len(train_ds), "n_eval": len(eval_ds), "split": "validation",
        "data_source": data.source, "note": data.note,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": round(float(trainer.state.epoch or 0), 3), "train_steps": int(train_out.global_step),
        "train_seconds": round(t1 - t0, 1), "eval_seconds": round(t2 - t1, 1),
        "device": str(training_args.device),
        "options": {"data": asdict(data_args), "model": asdict(model_args)},
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
    """``glue_train.py --config configs/<task>_<model>_<size>.yaml [--key value ...]``."""
    from transformers import TrainingArguments

    data_args, model_args, training_args = parse_args((DataArguments, ModelArguments, TrainingArguments), argv)
    return train(data_args, model_args, training_args)
