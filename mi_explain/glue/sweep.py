"""Explain sampled validation texts of a trained model at its prediction state and at every layer.

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

import hashlib
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import torch

from .arguments import DataArguments, ModelArguments, SweepArguments, parse_args, run_dir
from .data import load_glue, texts_of
from .io import read_json, write_json
from .modeling import PREDICTION_STATE, layer_states, load_trained, prediction_state
from .store import ResultStore
from .tasks import get_task

__all__ = ["KINDS", "main", "sweep", "sweep_plan"]

KINDS = ("prediction", "layers")
#: options that change results: a rerun with other values must not mix with finished lines
_FINGERPRINT = ("sample_seed", "example_indices", "n_reference", "reference_seed", "explain_rate", "explain_tol",
                "explain_steps", "explain_samples", "explain_seed")


def sweep_plan(idx: list[int], args: SweepArguments) -> tuple[list[int], list[int]]:
    """Positions in the validation split to explain, and those to draw layer by layer.

    idx: the split's ``idx`` column.  The plan is ``example_indices`` (as idx values), then the first
    ``n_sentences`` of a seeded permutation of the rest (a larger n extends a smaller one's plan).
    """
    pos_of = {int(v): p for p, v in enumerate(idx)}
    missing = [i for i in args.example_indices if int(i) not in pos_of]
    if missing:
        raise ValueError(f"example_indices {missing} are not rows of the validation split (0…{len(idx) - 1})")
    examples = list(dict.fromkeys(pos_of[int(i)] for i in args.example_indices))
    gen = torch.Generator().manual_seed(int(args.sample_seed))
    taken = set(examples)
    sampled = [p for p in torch.randperm(len(idx), generator=gen).tolist() if p not in taken][:args.n_sentences]
    return examples + sampled, examples + sampled[:args.n_drawn]


def reference_sample(dataset, task, n: int, seed: int) -> list:  # noqa: ANN001
    """A seeded sample of ``n`` training texts (strings or pairs) for σ_s."""
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randperm(len(dataset), generator=gen)[:n].tolist()
    return texts_of(dataset.select(rows), task)


def weights_digest(model_dir: Path) -> str:
    """sha256 of the saved weights (a retrained model must not resume an old sweep)."""
    h = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def _predict(model, tok, texts: list, max_length: int) -> list[int]:  # noqa: ANN001
    pairs = isinstance(texts[0], tuple)
    args = ([t[0] for t in texts], [t[1] for t in texts]) if pairs else (list(texts),)
    enc = tok(*args, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    dev = next(model.parameters()).device
    with torch.no_grad():
        return model(**{k: v.to(dev) for k, v in enc.items()}).logits.argmax(-1).tolist()


def _check_fingerprint(store: ResultStore, fingerprint: dict, overwrite: bool) -> None:
    path = store.dir / "sweep_config.json"
    if overwrite:
        store.clear()
    elif path.is_file() and (store.results.is_file() or store.parts()):
        old = read_json(path).get("fingerprint", {})
        diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        if diff:
            raise ValueError(f"{store.dir} holds a sweep made with other options ({', '.join(diff)} differ); "
                             "rerun with --overwrite true to discard it, or choose another --output_root")


def sweep(data_args: DataArguments, model_args: ModelArguments, args: SweepArguments) -> dict:
    """Run (or resume) the sweep of one trained model; returns the summary written to ``sweep.json``."""
    from accelerate import Accelerator, InitProcessGroupKwargs
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    from mi_explain import estimate_regularization, explain

    from .report import write_reports

    acc = Accelerator(cpu=not torch.cuda.is_available(),
                      kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=6))])
    try:
        t0 = time.perf_counter()
        task = get_task(data_args.task)
        out = run_dir(data_args, model_args)
        model_dir = out / "model"
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{model_dir}: no trained model; run scripts/glue_train.py with this config first")
        model, tok = load_trained(str(model_dir))
        model.to(acc.device)
        tok.model_max_length = min(int(tok.model_max_length), int(data_args.max_length))  # explained as trained
        data = load_glue(task.name, data_args.data_dir)
        val = data.validation
        plan, drawn = sweep_plan(val["idx"], args)
        chosen = val.select(plan)
        texts = texts_of(chosen, task)
        idx, labels = [int(v) for v in chosen["idx"]], [int(v) for v in chosen["label"]]
        by_idx = {i: (t, y) for i, t, y in zip(idx, texts, labels)}
        refs = reference_sample(data.train, task, args.n_reference, args.reference_seed)

        store = ResultStore(out)
        fingerprint = {"task": task.name, "family": model_args.family, "data_source": data.source,
                       "max_length": data_args.max_length, "weights_sha256": weights_digest(model_dir),
                       **{k: getattr(args, k) for k in _FINGERPRINT}}
        if acc.is_main_process:
            _check_fingerprint(store, fingerprint, args.overwrite)
            store.repair()
            write_json(out / "sweep_config.json", {
                "fingerprint": fingerprint, "n_sentences": args.n_sentences, "top_k": args.top_k,
                "plan_idx": idx, "drawn_idx": [int(val[p]["idx"]) for p in drawn],
                "prediction_state": PREDICTION_STATE[model_args.family], "options": asdict(args)})
        acc.wait_for_everyone()

        done = store.done()
        pending = [i for i in idx if any((k, i) not in done for k in KINDS)]
        common = {"rate": args.explain_rate, "tol": args.explain_tol, "steps": args.explain_steps,
                  "samples": args.explain_samples, "seed": args.explain_seed,
                  "truncation": True, "progress": bool(args.progress and acc.is_main_process)}
        options = {"prediction": prediction_state(model, model_args.family), "layers": layer_states(model)}
        # σ_s per state: estimated once per model and kind from the reference sample, reused by every batch
        regularization = {kind: estimate_regularization(model, tok, refs, **options[kind]) for kind in KINDS}
        finished = 0
        with acc.split_between_processes(pending) as mine:
            bar = tqdm(total=len(mine), desc=f"sweep {task.name}/{model_args.family} [process {acc.process_index}]",
                       unit="text", position=acc.process_index, disable=not args.progress)
            for start in range(0, len(mine), args.explain_batch_size):
                batch = mine[start:start + args.explain_batch_size]
                preds = dict(zip(batch, _predict(model, tok, [by_idx[i][0] for i in batch], data_args.max_length)))
                for kind in KINDS:
                    todo = [i for i in batch if (kind, i) not in done]
                    if not todo:
                        continue
                    exps = explain(model, tok, [by_idx[i][0] for i in todo], batch_size=len(todo),
                                   regularization=regularization[kind], **options[kind], **common)
                    metas = [{"kind": kind, "idx": i, "label": by_idx[i][1], "prediction": preds[i],
                              "task": task.name, "family": model_args.family} for i in todo]
                    store.append(acc.process_index, exps, metas)
                finished += len(batch)
                bar.update(len(batch))
            bar.close()
        counts = gather_object([(acc.process_index, finished)])
        acc.wait_for_everyone()
        summary = {}
        if acc.is_main_process:
            n_lines = store.merge(order=[(k, i) for k in KINDS for i in idx])
            summary = {"task": task.name, "family": model_args.family, "texts": len(idx),
                       "resumed_with_done": len(idx) - len(pending), "explained_now_per_process": dict(counts),
                       "processes": acc.num_processes, "lines": n_lines, "device": str(acc.device),
                       "seconds": round(time.perf_counter() - t0, 1)}
            write_json(out / "sweep.json", summary)
            write_reports(out, top_k=args.top_k)
            print(f"[glue sweep] {task.title} × {model_args.family}: {len(idx)} texts "
                  f"({len(pending)} explained now on {acc.num_processes} process(es)) in {summary['seconds']:.0f} s "
                  f"→ {store.results}")
        acc.wait_for_everyone()
        return summary
    finally:
        acc.end_training()


def main(argv: list[str] | None = None) -> dict:
    """``[accelerate launch] glue_sweep.py --config configs/<task>_<model>_<size>.yaml [--key value ...]``."""
    data_args, model_args, sweep_args = parse_args((DataArguments, ModelArguments, SweepArguments), argv)
    return sweep(data_args, model_args, sweep_args)
