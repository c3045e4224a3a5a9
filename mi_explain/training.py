"""Training a sentence classifier with the 🤗 Trainer: the one place the studies and the GLUE runner build it.

:func:`make_trainer` builds the Trainer every training uses: dynamic padding per batch, an optional L2 penalty
α·Σ‖w‖² on the loss (the paper's Fig. 4 regulariser; the optimiser's own weight decay is separate), callbacks
(e.g. :class:`~mi_explain.MICallback`), an optional evaluation set with its metrics.  :func:`encode_examples`
turns (text, label) pairs into Trainer features; :func:`train_classifier` trains any
``*ForSequenceClassification`` on them in one call (no checkpoints); :func:`accuracy` scores a model on
labelled texts.  The GLUE runner (:mod:`mi_explain.glue.train`) uses :func:`make_trainer` with its task
configs, checkpoints and curve log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["accuracy", "encode_examples", "make_trainer", "train_classifier", "trainer_class"]


def encode_examples(tokenizer: Any, texts: Sequence[str], labels: Sequence[int], max_length: int) -> list[dict]:
    """Features for the Trainer: input_ids, attention_mask (cut to ``max_length`` tokens) and labels."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    enc = tokenizer(list(texts), truncation=True, max_length=int(max_length))
    return [{"input_ids": ids, "attention_mask": mask, "labels": int(label)}
            for ids, mask, label in zip(enc["input_ids"], enc["attention_mask"], labels)]


def trainer_class(l2: float = 0.0) -> type:
    """``transformers.Trainer``, or (l2 > 0) a subclass whose loss adds l2·Σ‖w‖² over the trainable parameters."""
    from transformers import Trainer

    if l2 < 0:
        raise ValueError(f"l2 must be ≥ 0, got {l2}")
    if l2 == 0:
        return Trainer
    alpha = float(l2)

    class L2Trainer(Trainer):
        """Trainer whose loss adds α·Σ‖w‖² over the trainable parameters."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                                 num_items_in_batch=num_items_in_batch)
            loss = loss + alpha * sum((p ** 2).sum() for p in model.parameters() if p.requires_grad)
            return (loss, outputs) if return_outputs else loss

    return L2Trainer


def make_trainer(model: torch.nn.Module, tokenizer: Any, args: Any, train_dataset: Any, *, l2: float = 0.0,
                 eval_dataset: Any = None, compute_metrics: Any = None, callbacks: Sequence[Any] = ()):  # noqa: ANN201
    """The Trainer of ``model`` on ``train_dataset`` (tokenized features, padded per batch by
    ``DataCollatorWithPadding``) under ``args`` (a ``TrainingArguments``); l2: the α of the loss penalty
    (:func:`trainer_class`); eval_dataset / compute_metrics / callbacks as the Trainer takes them."""
    from transformers import DataCollatorWithPadding

    return trainer_class(l2)(model=model, args=args, processing_class=tokenizer,
                             data_collator=DataCollatorWithPadding(tokenizer), train_dataset=train_dataset,
                             eval_dataset=eval_dataset, compute_metrics=compute_metrics, callbacks=list(callbacks))


def train_classifier(
    model: torch.nn.Module, tokenizer: Any, train: Sequence[dict], *, output_dir: str | Path,
    epochs: float = 1.0, lr: float = 1e-3, batch_size: int = 32, seed: int = 0, l2: float = 0.0,
    weight_decay: float = 0.0, warmup: float = 0.0, logging_steps: int = 50, callbacks: Sequence[Any] = (),
    **training_arguments: Any,
):
    """Train ``model`` on ``train`` (features from :func:`encode_examples`) and return the Trainer (its
    ``state`` holds the steps and the log).  l2: the α of the loss penalty; other keyword arguments go to
    ``TrainingArguments``.  Nothing is checkpointed; the model is left in eval mode."""
    from transformers import TrainingArguments

    if l2 < 0:
        raise ValueError(f"l2 must be ≥ 0, got {l2}")
    options = dict(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, weight_decay=weight_decay, warmup_steps=warmup, logging_steps=logging_steps,
        save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(), seed=seed, data_seed=seed,
        disable_tqdm=True, dataloader_num_workers=0)
    targs = TrainingArguments(**{**options, **training_arguments})
    trainer = make_trainer(model, tokenizer, targs, list(train), l2=l2, callbacks=callbacks)
    trainer.train()
    model.eval()
    return trainer


@torch.no_grad()
def accuracy(model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], *,
             batch_size: int = 64, max_length: int = 128) -> float:
    """Share of ``texts`` whose argmax logit is the label (model put in eval mode)."""
    if not len(texts) or len(texts) != len(labels):
        raise ValueError(f"need as many labels as texts (≥ 1), got {len(texts)} texts and {len(labels)} labels")
    model.eval()
    dev = next(model.parameters()).device
    right = 0
    for s in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(dev)
        enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        pred = model(**enc).logits.argmax(-1).cpu()
        right += int((pred == torch.as_tensor(list(labels[s:s + batch_size]))).sum())
    return right / len(texts)
