"""Paper Fig. 9 at CPU size: information per layer during SST-2 training, BERT-family vs LSTM, and what the
callback costs.

:func:`run` fine-tunes the packaged pretrained all-MiniLM-L6-v2 (a 6-layer BERT) and trains a randomly
initialised bidirectional LSTM (:func:`mi_explain.models.build_model`, same WordPiece tokenizer) on the first
``max_train`` SST-2 training sentences, each with :class:`mi_explain.callbacks.MICallback` on ``probe``
validation sentences every ``every`` steps, then draws both histories side by side
(:func:`mi_explain.callbacks.plot_training_information`).  With ``measure_overhead`` each model is trained
twice with the same seed, without and with the callback: :func:`overhead` gives the fraction of training
time the callback adds (measured, and extrapolated to the callback's default interval), and the summary
says whether the trained weights are bit-identical.

Writes ``<out>/<model>/{mi_history.csv, mi_information.png, result.json}`` and ``<out>/fig9.png``
(``<out>/fig9_entropy.png``: H(X|S) instead of information).  ``scripts/fig9_training_information.py`` is
its command line.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .callbacks import MICallback, plot_training_information
from .resources import glue_data_dir, packaged_model_path, read_glue_tsv
from .training import accuracy, encode_examples, train_classifier

__all__ = ["SMOKE", "TITLES", "TrainingInformationSettings", "build", "load_sst2", "overhead", "run", "train_one"]

TITLES = {"bert": "BERT (all-MiniLM-L6-v2)", "lstm": "LSTM"}
#: what a ~2 minute smoke run changes (:meth:`TrainingInformationSettings.smoke`)
SMOKE: dict[str, Any] = {"max_train": 128, "probe": 4, "every": 4, "epochs": 1.0, "max_eval": 64, "batch_size": 16,
                         "max_length": 32, "threads": 1, "tol": 0.3, "steps": 10, "samples": 4}


@dataclass
class TrainingInformationSettings:
    """Sizes and options of the study (defaults: the full CPU run; the probe: MICallback's defaults)."""

    models: list[str] = field(default_factory=lambda: ["bert", "lstm"])
    out: str = "runs/fig9"
    max_train: int = 3000  #: training sentences (the first N of train.tsv)
    probe: int = 16  #: probe sentences (a seeded sample of validation.tsv)
    every: int = 20  #: probe every N optimizer steps
    epochs: float = 2.0
    max_eval: int | None = None  #: validation sentences for the final accuracy (None: all)
    batch_size: int = 32
    max_length: int = 64  #: tokens per training sentence
    threads: int | None = None  #: torch intra-op threads (None: torch's)
    tol: float | None = None  #: probe: explain's tolerance on log σ (None: the callback's)
    steps: int | None = None  #: probe: explain's cap on iterations (None: the callback's)
    samples: int | None = None  #: probe: noise draws per iteration (None: explain's)
    bert_lr: float = 5e-5
    lstm_lr: float = 1e-3
    lstm_hidden: int = 128  #: LSTM units per direction
    lstm_layers: int = 4
    lstm_embedding: int = 128
    seed: int = 0
    data: str | None = None  #: folder with train.tsv and validation.tsv (None: glue_data_dir()/sst2)
    measure_overhead: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.models) - set(TITLES))
        if unknown:
            raise ValueError(f"models: unknown {unknown}; choose from {sorted(TITLES)}")
        for key in ("max_train", "probe", "every", "batch_size", "max_length"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be ≥ 1, got {getattr(self, key)}")

    @classmethod
    def smoke(cls, **overrides: Any) -> TrainingInformationSettings:
        """The :data:`SMOKE` sizes; keyword arguments (None: keep the smoke size) override any field."""
        return cls(**{**SMOKE, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def with_defaults(cls, **overrides: Any) -> TrainingInformationSettings:
        """The full-run defaults; keyword arguments that are not None override them."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})


def build(name: str, tokenizer: Any, settings: TrainingInformationSettings) -> tuple[torch.nn.Module, float]:
    """(model, learning rate) for 'bert' (pretrained MiniLM + new head) or 'lstm' (random init), seeded."""
    torch.manual_seed(settings.seed)  # the new classifier head / the LSTM start from the same weights every run
    if name == "bert":
        from transformers import AutoModelForSequenceClassification

        path = packaged_model_path("minilm")
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2), settings.bert_lr
    from .models import build_model

    model = build_model("lstm", vocab_size=len(tokenizer), num_labels=2, pad_token_id=tokenizer.pad_token_id,
                        hidden_size=settings.lstm_hidden, num_hidden_layers=settings.lstm_layers,
                        embedding_size=settings.lstm_embedding)
    return model, settings.lstm_lr


def train_one(name: str, tokenizer: Any, train: list[dict], evaluation: tuple[list[str], list[int]],
              probe: list[str], out: Path, settings: TrainingInformationSettings, callback: bool = True) -> dict:
    """Train one model (with or without the callback) → result dict (seconds, process CPU seconds, steps,
    validation accuracy, probes and their seconds, the trained ``weights``)."""
    model, lr = build(name, tokenizer, settings)
    options = {k: getattr(settings, k) for k in ("tol", "steps", "samples") if getattr(settings, k) is not None}
    cbs = [MICallback(tokenizer, probe, every_n_steps=settings.every, run_name=TITLES[name], batch_size=16,
                      **options)] if callback else []
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = train_classifier(model, tokenizer, train, output_dir=out, epochs=settings.epochs, lr=lr,
                               batch_size=settings.batch_size, seed=settings.seed, weight_decay=0.01, warmup=0.1,
                               logging_steps=max(1, settings.every), callbacks=cbs, use_cpu=True)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    texts, labels = evaluation
    result = {"model": name, "title": TITLES[name], "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
              "steps": trainer.state.global_step,
              "dev_accuracy": accuracy(trainer.model, tokenizer, texts, labels, max_length=settings.max_length),
              "n_train": len(train), "n_eval": len(texts), "callback": callback}
    if callback:
        history = cbs[0].history
        probe_s = history.groupby("step")["seconds"].first()
        result.update(probes=len(probe_s), probe_seconds=float(probe_s.sum()), n_probe=len(probe),
                      probe_options=cbs[0].explain_options,
                      every=settings.every, layers=history["layer"].unique().tolist())
    result["weights"] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    return result


def overhead(base: dict, probed: dict, every: int) -> dict:
    """Training time added by the callback: measured (wall and process CPU), and the steady-state fraction
    probe seconds / (every × seconds per step) at this run's interval and at the callback's default."""
    step_s = base["train_seconds"] / max(base["steps"], 1)
    probe_s = probed["probe_seconds"] / max(probed["probes"], 1)
    default_every = MICallback.__init__.__kwdefaults__["every_n_steps"]
    return {
        "plain_seconds": base["train_seconds"], "with_callback_seconds": probed["train_seconds"],
        "plain_cpu_seconds": base["train_cpu_seconds"], "with_callback_cpu_seconds": probed["train_cpu_seconds"],
        "measured_fraction": probed["train_seconds"] / base["train_seconds"] - 1.0,
        "measured_fraction_cpu": probed["train_cpu_seconds"] / base["train_cpu_seconds"] - 1.0,
        "seconds_per_step": step_s, "seconds_per_probe": probe_s,
        "fraction_at_every": {str(n): probe_s / (n * step_s) for n in sorted({every, default_every})},
    }


def load_sst2(tokenizer: Any, settings: TrainingInformationSettings
              ) -> tuple[list[dict], tuple[list[str], list[int]], list[str]]:
    """(training features of the first ``max_train`` sentences, (texts, labels) of the first ``max_eval``
    validation sentences, ``probe`` seeded validation sentences)."""
    data = Path(settings.data) if settings.data else glue_data_dir() / "sst2"
    train_frame = read_glue_tsv(data.name, "train", data.parent, settings.max_train)
    val_frame = read_glue_tsv(data.name, "validation", data.parent)
    probe = val_frame["sentence"].sample(settings.probe, random_state=settings.seed).str.strip().tolist()
    train = encode_examples(tokenizer, train_frame["sentence"].tolist(), train_frame["label"].tolist(),
                            settings.max_length)
    eval_frame = val_frame.iloc[:settings.max_eval] if settings.max_eval else val_frame
    return train, (eval_frame["sentence"].tolist(), eval_frame["label"].tolist()), probe


def _print_overhead(res: dict, same: bool) -> None:
    o = res["overhead"]
    print(f"  overhead: training took {o['plain_cpu_seconds']:.1f} CPU-s ({o['plain_seconds']:.1f} s) without, "
          f"{o['with_callback_cpu_seconds']:.1f} CPU-s ({o['with_callback_seconds']:.1f} s) with the callback: "
          f"+{100 * o['measured_fraction_cpu']:.0f} % CPU (+{100 * o['measured_fraction']:.0f} % wall) for "
          f"{res['probes']} probes in {res['steps']} steps; {o['seconds_per_step']:.2f} s/step, "
          f"{o['seconds_per_probe']:.1f} s/probe → steady state "
          + ", ".join(f"{100 * v:.1f} % at every={k}" for k, v in o["fraction_at_every"].items())
          + f"; weights bit-identical: {same}", flush=True)


def run(settings: TrainingInformationSettings, tokenizer: Any = None) -> dict[str, dict]:
    """Train every model of ``settings.models`` with the callback (twice with ``measure_overhead``), write
    each ``result.json`` and the two figures; returns {title: result without the weights}.  tokenizer: the
    WordPiece tokenizer of both models (default: the packaged MiniLM's, right padding)."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("minilm"))
        tokenizer.padding_side = "right"  # the LSTM needs right padding
    train, evaluation, probe = load_sst2(tokenizer, settings)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"SST-2: {len(train)} training sentences, {len(evaluation[0])} for accuracy, {len(probe)} probe sentences; "
          f"probe every {settings.every} steps; models {settings.models}; {torch.get_num_threads()} threads",
          flush=True)
    results, folders = {}, {}
    for name in settings.models:
        if settings.measure_overhead:
            base = train_one(name, tokenizer, train, evaluation, probe, out / f"{name}_plain", settings,
                             callback=False)
        res = train_one(name, tokenizer, train, evaluation, probe, out / name, settings)
        weights = res.pop("weights")
        print(f"{TITLES[name]}: {res['steps']} steps in {res['train_seconds']:.1f} s, {res['probes']} probes "
              f"({res['probe_seconds']:.1f} s), dev accuracy {res['dev_accuracy']:.3f}", flush=True)
        if settings.measure_overhead:
            plain = base.pop("weights")
            same = plain.keys() == weights.keys() and all(torch.equal(plain[k], weights[k]) for k in plain)
            res["overhead"] = overhead(base, res, settings.every)
            res["overhead"]["weights_bit_identical"] = bool(same)
            _print_overhead(res, same)
        (out / name / "result.json").write_text(json.dumps(res, indent=2))
        results[TITLES[name]] = res
        folders[TITLES[name]] = out / name
    plot_training_information(folders, out / "fig9.png")
    plot_training_information(folders, out / "fig9_entropy.png", value="conditional_entropy")
    print(f"wrote {out / 'fig9.png'}, {out / 'fig9_entropy.png'}", flush=True)
    return results
