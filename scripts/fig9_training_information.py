"""Paper Fig. 9 at CPU size: information per layer during SST-2 training, BERT-family vs LSTM.
Logic: mi_explain.training_information_study (and mi_explain.callbacks.MICallback).

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
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from mi_explain import training_information_study as study  # noqa: E402
from mi_explain.callbacks import PROBE_DEFAULTS  # noqa: E402

DEFAULTS = study.TrainingInformationSettings()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", choices=sorted(study.TITLES), default=["bert", "lstm"])
    p.add_argument("--max-train", type=int, help=f"training sentences (first N of train.tsv; {DEFAULTS.max_train})")
    p.add_argument("--probe", type=int, help=f"probe sentences from validation.tsv ({DEFAULTS.probe})")
    p.add_argument("--every", type=int, help=f"probe every N optimizer steps ({DEFAULTS.every})")
    p.add_argument("--epochs", type=float, help=f"training epochs ({DEFAULTS.epochs})")
    p.add_argument("--max-eval", type=int, help="validation sentences for the final accuracy (all)")
    p.add_argument("--tol", type=float, help=f"probe: explain's tolerance on log σ ({PROBE_DEFAULTS['tol']})")
    p.add_argument("--steps", type=int, help=f"probe: explain's cap on iterations ({PROBE_DEFAULTS['steps']})")
    p.add_argument("--samples", type=int, help="probe: noise draws per iteration (explain's default, 8)")
    p.add_argument("--smoke", action="store_true", help=f"a ~2 minute run: {study.SMOKE}")
    p.add_argument("--out", type=Path, default=Path("runs/fig9"))
    p.add_argument("--batch-size", type=int, help=f"training batch size ({DEFAULTS.batch_size})")
    p.add_argument("--max-length", type=int, help=f"tokens per training sentence ({DEFAULTS.max_length})")
    p.add_argument("--bert-lr", type=float, default=DEFAULTS.bert_lr)
    p.add_argument("--lstm-lr", type=float, default=DEFAULTS.lstm_lr)
    p.add_argument("--lstm-hidden", type=int, default=DEFAULTS.lstm_hidden, help="LSTM units per direction")
    p.add_argument("--lstm-layers", type=int, default=DEFAULTS.lstm_layers)
    p.add_argument("--lstm-embedding", type=int, default=DEFAULTS.lstm_embedding)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's; --smoke: 1, which on a "
                   "shared CPU is several times faster than 2)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with train.tsv and validation.tsv (default: resources.glue_data_dir()/sst2)")
    p.add_argument("--measure-overhead", action="store_true",
                   help="train without and with the callback; print the added fraction of training time")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "smoke"}
    options.update(out=str(args.out), data=str(args.data) if args.data else None)
    make = study.TrainingInformationSettings.smoke if args.smoke else study.TrainingInformationSettings.with_defaults
    try:
        settings = make(**options)
    except ValueError as err:
        raise SystemExit(f"fig9_training_information.py: error: {err}") from err
    study.run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
