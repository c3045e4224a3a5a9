"""Paper Fig. 9 at CPU size: information per layer during SST-2 training, BERT-family vs LSTM.

Fine-tunes the packaged pretrained all-MiniLM-L6-v2 (a 6-layer BERT) and trains a randomly initialised
bidirectional LSTM (``mi_explain.models.build_model("lstm", ...)``, same WordPiece tokenizer) on the first
``--max-train`` SST-2 training sentences, each with :class:`mi_explain.callbacks.MICallback` on ``--probe``
validation sentences every ``--every`` steps, then draws both histories side by side.

Writes ``<out>/<model>/{mi_history.csv, mi_information.png, result.json}`` and ``<out>/fig9.png``
(``<out>/fig9_entropy.png``: H(X|S) instead of information).

    .venv/bin/python scripts/fig9_training_information.py --smoke --out runs/fig9_smoke      # ~2 min
    .venv/bin/python scripts/fig9_training_information.py --out runs/fig9                    # CPU size
    .venv/bin/python scripts/fig9_training_information.py --smoke --models bert --measure-overhead

``--measure-overhead`` trains each model twice with the same seed, without and with the callback, prints the
fraction of training time the callback adds (measured, and extrapolated to the callback's default interval)
and whether the trained weights are bit-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from mi_explain.callbacks import PROBE_DEFAULTS, MICallback, plot_training_information  # noqa: E402
from mi_explain.resources import glue_data_dir, packaged_model_path, read_glue_tsv  # noqa: E402
from mi_explain.training import encode_examples  # noqa: E402

TITLES = {"bert": "BERT (all-MiniLM-L6-v2)", "lstm": "LSTM"}
#: sizes of the full CPU run; --smoke overrides them (see SMOKE).
DEFAULTS = {"max_train": 3000, "probe": 16, "every": 20, "epochs": 2.0, "max_eval": None, "batch_size": 32,
            "max_length": 64, "threads": None}  # the probe: MICallback's defaults (PROBE_DEFAULTS)
SMOKE = {"max_train": 128, "probe": 4, "every": 4, "epochs": 1.0, "max_eval": 64, "batch_size": 16, "max_length": 32,
         "threads": 1, "tol": 0.3, "steps": 10, "samples": 4}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", choices=sorted(TITLES), default=["bert", "lstm"])
    p.add_argument("--max-train", type=int, help=f"training sentences (first N of train.tsv; {DEFAULTS['max_train']})")
    p.add_argument("--probe", type=int, help=f"probe sentences from validation.tsv ({DEFAULTS['probe']})")
    p.add_argument("--every", type=int, help=f"probe every N optimizer steps ({DEFAULTS['every']})")
    p.add_argument("--epochs", type=float, help=f"training epochs ({DEFAULTS['epochs']})")
    p.add_argument("--max-eval", type=int, help="validation sentences for the final accuracy (all)")
    p.add_argument("--tol", type=float, help=f"probe: explain's tolerance on log σ ({PROBE_DEFAULTS['tol']})")
    p.add_argument("--steps", type=int, help=f"probe: explain's cap on iterations ({PROBE_DEFAULTS['steps']})")
    p.add_argument("--samples", type=int, help="probe: noise draws per iteration (explain's default, 8)")
    p.add_argument("--smoke", action="store_true", help=f"a ~2 minute run: {SMOKE}")
    p.add_argument("--out", type=Path, default=Path("runs/fig9"))
    p.add_argument("--batch-size", type=int, help="training batch size (32)")
    p.add_argument("--max-length", type=int, help="tokens per training sentence (64)")
    p.add_argument("--bert-lr", type=float, default=5e-5)
    p.add_argument("--lstm-lr", type=float, default=1e-3)
    p.add_argument("--lstm-hidden", type=int, default=128, help="LSTM units per direction")
    p.add_argument("--lstm-layers", type=int, default=4)
    p.add_argument("--lstm-embedding", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's; --smoke: 1, which on a "
                   "shared CPU is several times faster than 2)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with train.tsv and validation.tsv (default: resources.glue_data_dir()/sst2)")
    p.add_argument("--measure-overhead", action="store_true",
                   help="train without and with the callback; print the added fraction of training time")
    args = p.parse_args(argv)
    sizes = SMOKE if args.smoke else DEFAULTS
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("max_train", "probe", "every", "batch_size", "max_length"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be ≥ 1")
    return args


def build(name: str, tokenizer, args: argparse.Namespace):  # noqa: ANN001
    """(model, learning rate) for 'bert' (pretrained MiniLM + new head) or 'lstm' (random init)."""
    torch.manual_seed(args.seed)  # the new classifier head / the LSTM start from the same weights every run
    if name == "bert":
        from transformers import AutoModelForSequenceClassification

        path = packaged_model_path("minilm")
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=2), args.bert_lr
    from mi_explain.models import build_model

    model = build_model("lstm", vocab_size=len(tokenizer), num_labels=2, pad_token_id=tokenizer.pad_token_id,
                        hidden_size=args.lstm_hidden, num_hidden_layers=args.lstm_layers,
                        embedding_size=args.lstm_embedding)
    return model, args.lstm_lr


def train_one(name: str, tokenizer, train, evaluation, probe: list[str], out: Path,  # noqa: ANN001
              args: argparse.Namespace, callback: bool = True) -> dict:
    """Train one model (with or without the callback) → result dict (times, accuracy, probes)."""
    from mi_explain.training import accuracy, train_classifier

    model, lr = build(name, tokenizer, args)
    options = {k: getattr(args, k) for k in ("tol", "steps", "samples") if getattr(args, k) is not None}
    cbs = [MICallback(tokenizer, probe, every_n_steps=args.every, run_name=TITLES[name], batch_size=16, **options)
           ] if callback else []
    t0, c0 = time.perf_counter(), time.process_time()
    trainer = train_classifier(model, tokenizer, train, output_dir=out, epochs=args.epochs, lr=lr,
                               batch_size=args.batch_size, seed=args.seed, weight_decay=0.01, warmup=0.1,
                               logging_steps=max(1, args.every), callbacks=cbs, use_cpu=True)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    texts, labels = evaluation
    result = {"model": name, "title": TITLES[name], "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
              "steps": trainer.state.global_step,
              "dev_accuracy": accuracy(trainer.model, tokenizer, texts, labels, max_length=args.max_length),
              "n_train": len(train), "n_eval": len(texts), "callback": callback}
    if callback:
        history = cbs[0].history
        probe_s = history.groupby("step")["seconds"].first()
        result.update(probes=len(probe_s), probe_seconds=float(probe_s.sum()), n_probe=len(probe),
                      probe_options=cbs[0].explain_options,
                      every=args.every, layers=history["layer"].unique().tolist())
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path("minilm"))
    tokenizer.padding_side = "right"  # the LSTM needs right padding
    data = args.data or glue_data_dir() / "sst2"
    train_frame = read_glue_tsv(data.name, "train", data.parent, args.max_train)
    val_frame = read_glue_tsv(data.name, "validation", data.parent)
    probe = val_frame["sentence"].sample(args.probe, random_state=args.seed).str.strip().tolist()
    train = encode_examples(tokenizer, train_frame["sentence"].tolist(), train_frame["label"].tolist(), args.max_length)
    eval_frame = val_frame.iloc[:args.max_eval] if args.max_eval else val_frame
    evaluation = (eval_frame["sentence"].tolist(), eval_frame["label"].tolist())
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"SST-2: {len(train)} training sentences, {len(evaluation)} for accuracy, {len(probe)} probe sentences; "
          f"probe every {args.every} steps; models {args.models}; {torch.get_num_threads()} threads", flush=True)

    summary = {}
    for name in args.models:
        if args.measure_overhead:
            base = train_one(name, tokenizer, train, evaluation, probe, args.out / f"{name}_plain", args,
                             callback=False)
        res = train_one(name, tokenizer, train, evaluation, probe, args.out / name, args)
        weights = res.pop("weights")
        print(f"{TITLES[name]}: {res['steps']} steps in {res['train_seconds']:.1f} s, {res['probes']} probes "
              f"({res['probe_seconds']:.1f} s), dev accuracy {res['dev_accuracy']:.3f}", flush=True)
        if args.measure_overhead:
            plain = base.pop("weights")
            same = plain.keys() == weights.keys() and all(torch.equal(plain[k], weights[k]) for k in plain)
            res["overhead"] = overhead(base, res, args.every)
            res["overhead"]["weights_bit_identical"] = bool(same)
            o = res["overhead"]
            print(f"  overhead: training took {o['plain_cpu_seconds']:.1f} CPU-s ({o['plain_seconds']:.1f} s) without, "
                  f"{o['with_callback_cpu_seconds']:.1f} CPU-s ({o['with_callback_seconds']:.1f} s) with the callback: "
                  f"+{100 * o['measured_fraction_cpu']:.0f} % CPU (+{100 * o['measured_fraction']:.0f} % wall) for "
                  f"{res['probes']} probes in {res['steps']} steps; {o['seconds_per_step']:.2f} s/step, "
                  f"{o['seconds_per_probe']:.1f} s/probe → steady state "
                  + ", ".join(f"{100 * v:.1f} % at every={k}" for k, v in o["fraction_at_every"].items())
                  + f"; weights bit-identical: {same}", flush=True)
        (args.out / name / "result.json").write_text(json.dumps(res, indent=2))
        summary[TITLES[name]] = args.out / name

    plot_training_information(summary, args.out / "fig9.png")
    plot_training_information(summary, args.out / "fig9_entropy.png", value="conditional_entropy")
    print(f"wrote {args.out / 'fig9.png'}, {args.out / 'fig9_entropy.png'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
