"""The GLUE preset of the sweep engine (:mod:`mi_explain.sweep`): explain sampled validation texts of a
trained model at its prediction state and at every layer.

``accelerate launch scripts/glue_sweep.py --config ...`` shards the texts over processes (GPUs, or CPU
processes); each process appends what it finishes to its own part file, and the main process merges them
into ``results.jsonl`` and draws the figures.  Killed and rerun with the same options, a sweep skips
every finished text.  Each text's σ depends only on the text, the model, σ_s (estimated from the same
reference sample everywhere) and the seed — not on the process or its batch-mates, up to float rounding
that padding can change.

Two explanations per text (``meta.kind``):

* ``prediction``: the state the classifier reads (see :data:`modeling.PREDICTION_STATE`), for Fig. 5/6;
* ``layers``: every layer, ``target="tokens"`` (all positions concatenated, paper Sec. 5.2), for Fig. 7
  and the information per layer.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from mi_explain.sweep.engine import SweepOptions, run_sweep, sample_plan

from .arguments import DataArguments, ModelArguments, SweepArguments, parse_args, run_dir
from .data import load_glue, texts_of
from .modeling import PREDICTION_STATE, layer_states, load_trained, prediction_state
from .tasks import get_task

__all__ = ["KINDS", "engine_options", "main", "sweep", "sweep_plan"]

KINDS = ("prediction", "layers")


def sweep_plan(idx: list[int], args: SweepArguments) -> tuple[list[int], list[int]]:
    """Positions in the validation split to explain, and those to draw layer by layer.

    idx: the split's ``idx`` column.  The plan is ``example_indices`` (as idx values), then the first
    ``n_sentences`` of a seeded permutation of the rest (a larger n extends a smaller one's plan):
    :func:`mi_explain.sweep.engine.sample_plan` over positions.
    """
    pos_of = {int(v): p for p, v in enumerate(idx)}
    missing = [i for i in args.example_indices if int(i) not in pos_of]
    if missing:
        raise ValueError(f"example_indices {missing} are not rows of the validation split (0…{len(idx) - 1})")
    return sample_plan(range(len(idx)), args.n_sentences, args.sample_seed,
                       [pos_of[int(i)] for i in args.example_indices], args.n_drawn)


def reference_sample(dataset, task, n: int, seed: int) -> list:  # noqa: ANN001
    """A seeded sample of ``n`` training texts (strings or pairs) for σ_s."""
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randperm(len(dataset), generator=gen)[:n].tolist()
    return texts_of(dataset.select(rows), task)


def engine_options(args: SweepArguments, max_length: int) -> SweepOptions:
    """The GLUE sweep's options as the engine's (``explain_*`` → the estimator's; example rows explained first)."""
    return SweepOptions(n_texts=args.n_sentences, sample_seed=args.sample_seed, first=list(args.example_indices),
                        n_drawn=args.n_drawn, n_reference=args.n_reference, reference_seed=args.reference_seed,
                        batch_size=args.explain_batch_size, rate=args.explain_rate, tol=args.explain_tol,
                        steps=args.explain_steps, samples=args.explain_samples, seed=args.explain_seed,
                        max_length=max_length, top_k=args.top_k, overwrite=args.overwrite, progress=args.progress)


def sweep(data_args: DataArguments, model_args: ModelArguments, args: SweepArguments) -> dict:
    """Run (or resume) the sweep of one trained model with :func:`mi_explain.sweep.engine.run_sweep`; returns
    the summary written to ``sweep.json``."""
    from .report import write_reports

    task = get_task(data_args.task)
    out = run_dir(data_args, model_args)
    model_dir = out / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no trained model; run scripts/glue_train.py with this config first")
    model, tok = load_trained(str(model_dir))
    tok.model_max_length = min(int(tok.model_max_length), int(data_args.max_length))  # explained as trained
    data = load_glue(task.name, data_args.data_dir)
    val = data.validation
    plan, drawn = sweep_plan(val["idx"], args)
    chosen = val.select(plan)
    idx = [int(v) for v in chosen["idx"]]
    items = [(i, t, {"label": int(y), "task": task.name, "family": model_args.family})
             for i, t, y in zip(idx, texts_of(chosen, task), chosen["label"])]
    family = model_args.family
    return run_sweep(
        model, tok, items, out,
        states={"prediction": prediction_state(model, family), "layers": layer_states(model)},
        reference_texts=reference_sample(data.train, task, args.n_reference, args.reference_seed),
        options=engine_options(args, int(tok.model_max_length)),
        identity={"task": task.name, "family": family, "data_source": data.source},
        drawn=[int(val[p]["idx"]) for p in drawn], title=f"glue {task.name}/{family}",
        config_extra={"prediction_state": PREDICTION_STATE[family], "options": asdict(args)},
        report=lambda run: write_reports(run, top_k=args.top_k))


def main(argv: list[str] | None = None) -> dict:
    """``[accelerate launch] glue_sweep.py --config configs/<task>_<model>_<size>.yaml [--key value ...]``."""
    data_args, model_args, sweep_args = parse_args((DataArguments, ModelArguments, SweepArguments), argv)
    return sweep(data_args, model_args, sweep_args)
