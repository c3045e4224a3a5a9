"""The sweep engine: explain many texts of one model at several sets of states, resumably and sharded.

``run_sweep`` takes a model, its tokenizer, the planned rows ``(id, text, meta)`` and a mapping ``states``
of *kinds* to ``explain`` options (e.g. ``{"layers": {"layers": None, "target": "tokens"}, "prediction":
{...}}``).  For every kind, σ_s is estimated ONCE from the reference texts with the public
:func:`mi_explain.estimate_regularization`, saved in ``regularization.json`` and reused by every batch, every
process and every later sitting.  Under ``accelerate launch`` the pending texts are split between processes;
each appends finished explanations to its own part file (:class:`~mi_explain.sweep.store.ResultStore`), and
the main process merges them into ``results.jsonl`` and writes ``sweep.json`` (with seconds per text) and the
report.  Killed and rerun with the same options, a sweep skips every finished ``(kind, id)``.  A text's σ
depends only on the text, the model, σ_s and the seed — not on the process or its batch-mates (up to float
rounding that padding can change).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from .io import read_json, write_json
from .store import ResultStore

__all__ = ["PREDICTION_LABEL", "SweepOptions", "classifier_input", "default_states", "model_digest", "run_sweep",
           "sample_plan"]

Text = str | tuple[str, str]
Item = tuple[int, Text, dict]
#: the row label of the state the classifier reads
PREDICTION_LABEL = "prediction state"


@dataclass
class SweepOptions:
    """How many texts a sweep explains and how (the estimator options go to ``explain``; None: its defaults).

    n_texts: texts explained (a seeded permutation of the rows, ``first`` ids ahead; None: every row in order).
    n_drawn: sampled texts drawn layer by layer in the report besides ``first``.  n_reference: texts whose
    states give σ_s.  batch_size: texts per batched ``explain`` call (and per write).  top_k: lowest-σ words
    per text counted as used for prediction.
    """

    n_texts: int | None = None
    sample_seed: int = 0
    first: list[int] = field(default_factory=list)
    n_drawn: int = 2
    n_reference: int = 300
    reference_seed: int = 0
    batch_size: int = 8
    rate: float = 0.1
    tol: float | None = None
    steps: int | None = None
    samples: int | None = None
    seed: int = 0
    max_length: int | None = None
    top_k: int = 3
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("n_reference", "batch_size", "top_k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if int(self.n_reference) < 2:
            raise ValueError(f"n_reference must be ≥ 2 (σ_s is a spread), got {self.n_reference}")
        if self.n_texts is not None and int(self.n_texts) < 1:
            raise ValueError(f"n_texts must be ≥ 1 or None (all rows), got {self.n_texts}")
        if int(self.n_drawn) < 0:
            raise ValueError(f"n_drawn must be ≥ 0, got {self.n_drawn}")

    #: options that change results: a rerun with other values must not mix with finished lines
    FINGERPRINT = ("sample_seed", "first", "n_reference", "reference_seed", "rate", "tol", "steps", "samples",
                   "seed", "max_length")

    def fingerprint(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.FINGERPRINT}

    def explain_options(self) -> dict[str, Any]:
        """``explain`` keyword arguments of the estimator (None values left out: the method's defaults)."""
        opts = {"rate": self.rate, "tol": self.tol, "steps": self.steps, "samples": self.samples}
        return {"seed": self.seed, **{k: v for k, v in opts.items() if v is not None}}


def sample_plan(ids: Sequence[int], n: int | None, seed: int, first: Sequence[int] = (),
                n_drawn: int = 0) -> tuple[list[int], list[int]]:
    """(ids to explain, ids to draw layer by layer): ``first`` (ids, kept in order), then the first ``n`` of a
    seeded permutation of the other rows (a larger n extends a smaller one's plan; None: all, in order)."""
    ids = [int(i) for i in ids]
    known = set(ids)
    missing = [i for i in first if int(i) not in known]
    if missing:
        raise ValueError(f"ids {missing} to explain first are not rows of the data ({len(ids)} rows)")
    head = list(dict.fromkeys(int(i) for i in first))
    taken = set(head)
    if n is None:
        rest = [i for i in ids if i not in taken]
    else:
        gen = torch.Generator().manual_seed(int(seed))
        rest = [ids[p] for p in torch.randperm(len(ids), generator=gen).tolist() if ids[p] not in taken][:int(n)]
    return head + rest, head + rest[:int(n_drawn)]


def classifier_input(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The classifier of a ``*ForSequenceClassification`` model: its ``classifier`` if that is an ``nn.Linear``,
    else its last ``nn.Linear`` to ``config.num_labels``; None for other models (no classification head)."""
    if not type(model).__name__.endswith("ForSequenceClassification"):
        return None
    clf = getattr(model, "classifier", None)
    if isinstance(clf, torch.nn.Linear):
        return clf
    labels = getattr(getattr(model, "config", None), "num_labels", None)
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == labels]
    return heads[-1] if heads else None


def default_states(model: torch.nn.Module, head: str = "auto") -> dict[str, dict[str, Any]]:
    """``{kind: explain options}`` of a sweep of any ``transformers`` model: ``layers`` (every layer, all
    positions: ``target="tokens"``) and, for classifiers, ``prediction``:

    head: "auto"/"classifier_input" — the state the classifier reads (the input of its final linear layer,
    ``layer_modules={PREDICTION_LABEL: (classifier, "input")}``; "auto" leaves it out for a model without a
    classification head, "classifier_input" raises); "prediction" — the logit of the predicted class
    (``target="prediction"``); "none" — layers only.
    """
    states: dict[str, dict[str, Any]] = {"layers": {"layers": None, "target": "tokens"}}
    if head in ("auto", "classifier_input"):
        clf = classifier_input(model)
        if clf is None and head == "classifier_input":
            raise ValueError(f"{type(model).__name__} has no classification head: use head='none' or 'auto'")
        if clf is not None:
            states = {"prediction": {"layer_modules": {PREDICTION_LABEL: (clf, "input")}, "target": "cls"}, **states}
    elif head == "prediction":
        states = {"prediction": {"target": "prediction"}, **states}
    elif head != "none":
        raise ValueError(f"head must be 'auto', 'classifier_input', 'prediction' or 'none', got {head!r}")
    return states


def model_digest(model: torch.nn.Module) -> str:
    """sha256 of the model's parameters and buffers (a retrained model must not resume an old sweep)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _predict(model: torch.nn.Module, tok: Any, texts: list[Text], max_length: int | None) -> list[int | None]:
    """argmax of the logits per text (None for a model without logits)."""
    pairs = isinstance(texts[0], tuple)
    args = ([t[0] for t in texts], [t[1] for t in texts]) if pairs else (list(texts),)
    enc = tok(*args, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    dev = next(model.parameters()).device
    with torch.no_grad():
        out = model(**{k: v.to(dev) for k, v in enc.items()})
    logits = getattr(out, "logits", None)
    return logits.argmax(-1).tolist() if logits is not None else [None] * len(texts)


def _check_fingerprint(store: ResultStore, fingerprint: dict, overwrite: bool) -> None:
    path = store.dir / "sweep_config.json"
    if overwrite:
        store.clear()
        (store.dir / "regularization.json").unlink(missing_ok=True)
    elif path.is_file() and (store.results.is_file() or store.parts()):
        old = read_json(path).get("fingerprint", {})
        diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        if diff:
            raise ValueError(f"{store.dir} holds a sweep made with other options ({', '.join(diff)} differ); "
                             "rerun with overwrite to discard it, or choose another output folder")


def _regularization(model: torch.nn.Module, tok: Any, states: Mapping[str, dict], refs: Sequence[Text],
                    path: Path, fingerprint: dict, max_length: int | None) -> dict[str, Any]:
    """σ_s per kind: read from ``path`` when it was estimated for this fingerprint, else estimated once per
    kind with :func:`mi_explain.estimate_regularization` and written there."""
    import mi_explain
    from mi_explain.methods import Regularization

    if path.is_file():
        saved = read_json(path)
        if saved.get("fingerprint") == fingerprint and set(saved.get("kinds", {})) == set(states):
            return {k: Regularization(**v) for k, v in saved["kinds"].items()}
    regs = {kind: mi_explain.estimate_regularization(model, tok, list(refs), max_length=max_length, **opts)
            for kind, opts in states.items()}
    write_json(path, {"fingerprint": fingerprint, "kinds": {k: r.to_dict() for k, r in regs.items()}})
    return regs


def _describe(opts: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe record of a kind's explain options (modules by their class)."""
    def name(v: Any) -> Any:
        if isinstance(v, torch.nn.Module):
            return type(v).__name__
        if isinstance(v, tuple):
            return [name(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): name(x) for k, x in v.items()}
        if isinstance(v, (list, str, int, float, bool)) or v is None:
            return v
        return str(v)

    return {k: name(v) for k, v in opts.items()}


def seconds_per_text(store: ResultStore, kinds: Sequence[str]) -> dict[str, Any]:
    """From the ``seconds`` of every finished line: mean and median over texts of the time of all kinds,
    and the mean per kind (seconds of CPU/GPU wall time per text; batched calls share their time evenly)."""
    import json

    per_text: dict[int, float] = {}
    per_kind: dict[str, list[float]] = {k: [] for k in kinds}
    if store.results.is_file():
        for line in store.results.read_text(encoding="utf-8").splitlines():
            meta = json.loads(line).get("meta") or {}
            if "seconds" in meta:
                per_text[meta["idx"]] = per_text.get(meta["idx"], 0.0) + float(meta["seconds"])
                per_kind.setdefault(meta["kind"], []).append(float(meta["seconds"]))
    vals = list(per_text.values())
    return {"mean": round(statistics.fmean(vals), 3) if vals else None,
            "median": round(statistics.median(vals), 3) if vals else None,
            "per_kind": {k: round(statistics.fmean(v), 3) if v else None for k, v in per_kind.items()},
            "texts_timed": len(vals)}


def run_sweep(model: torch.nn.Module, tokenizer: Any, items: Sequence[Item], out: str | Path, *,
              states: Mapping[str, dict[str, Any]], reference_texts: Sequence[Text], options: SweepOptions,
              identity: Mapping[str, Any] | None = None, drawn: Sequence[int] = (), title: str = "sweep",
              config_extra: Mapping[str, Any] | None = None,
              report: Callable[[Path], Any] | None = None) -> dict[str, Any]:
    """Run (or resume) a sweep into ``out``; returns the summary written to ``sweep.json`` (on the main
    process; ``{}`` on the others).

    items: ``(id, text, meta)`` per planned text, ids unique; meta goes into every line's ``meta`` beside
    ``kind``, ``idx`` (the id), ``prediction`` (argmax of the logits, None without) and ``seconds`` (this
    kind's explain time per text).  states: ``{kind: explain options}`` (see :func:`default_states`).
    identity: what else must match for a rerun to resume (data source, task, …); the model's weights and
    ``options.fingerprint()`` always do.  report: called with ``out`` after the merge (default:
    :func:`mi_explain.sweep.report.write_sweep_report`).
    """
    from accelerate import Accelerator, InitProcessGroupKwargs
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    import mi_explain

    ids = [int(i) for i, _, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("the planned rows repeat an id; each text needs its own id")
    if not items:
        raise ValueError("nothing to explain: the plan is empty")
    if len(reference_texts) < 2:
        raise ValueError(f"σ_s needs at least 2 reference texts, got {len(reference_texts)}")
    acc = Accelerator(cpu=not torch.cuda.is_available(),
                      kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=6))])
    try:
        t0 = time.perf_counter()
        out = Path(out)
        model.to(acc.device).eval()
        by_id = {int(i): (t, dict(m)) for i, t, m in items}
        store = ResultStore(out)
        fingerprint = {**(identity or {}), "weights_sha256": model_digest(model), "kinds": sorted(states),
                       **options.fingerprint()}
        if acc.is_main_process:
            _check_fingerprint(store, fingerprint, options.overwrite)
            store.repair()
            write_json(out / "sweep_config.json", {
                "title": title, "fingerprint": fingerprint, "n_texts": len(ids), "top_k": options.top_k,
                "plan_idx": ids, "drawn_idx": [int(i) for i in drawn],
                "states": {k: _describe(v) for k, v in states.items()}, "sweep_options": asdict(options),
                **(config_extra or {})})
            _regularization(model, tokenizer, states, reference_texts, out / "regularization.json", fingerprint,
                            options.max_length)  # once per kind, by one process
        acc.wait_for_everyone()
        regularization = _regularization(model, tokenizer, states, reference_texts, out / "regularization.json",
                                         fingerprint, options.max_length)  # read back: nothing is estimated twice
        kinds = list(states)
        done = store.done()
        pending = [i for i in ids if any((k, i) not in done for k in kinds)]
        common = {**options.explain_options(), "truncation": True, "max_length": options.max_length,
                  "progress": bool(options.progress and acc.is_main_process)}
        finished = 0
        with acc.split_between_processes(pending) as mine:
            bar = tqdm(total=len(mine), desc=f"{title} [process {acc.process_index}]", unit="text",
                       position=acc.process_index, disable=not options.progress)
            for start in range(0, len(mine), options.batch_size):
                batch = mine[start:start + options.batch_size]
                preds = dict(zip(batch, _predict(model, tokenizer, [by_id[i][0] for i in batch],
                                                 options.max_length)))
                for kind in kinds:
                    todo = [i for i in batch if (kind, i) not in done]
                    if not todo:
                        continue
                    t1 = time.perf_counter()
                    exps = mi_explain.explain(model, tokenizer, [by_id[i][0] for i in todo], batch_size=len(todo),
                                              regularization=regularization[kind], **states[kind], **common)
                    each = (time.perf_counter() - t1) / len(todo)
                    metas = [{**by_id[i][1], "kind": kind, "idx": i, "prediction": preds[i],
                              "seconds": round(each, 3)} for i in todo]
                    store.append(acc.process_index, exps, metas)
                finished += len(batch)
                bar.update(len(batch))
            bar.close()
        counts = gather_object([(acc.process_index, finished)])
        acc.wait_for_everyone()
        summary: dict[str, Any] = {}
        if acc.is_main_process:
            n_lines = store.merge(order=[(k, i) for k in kinds for i in ids])
            summary = {**{k: v for k, v in (identity or {}).items() if k in ("task", "family", "model", "data")},
                       "texts": len(ids), "resumed_with_done": len(ids) - len(pending),
                       "explained_now_per_process": {str(r): n for r, n in counts}, "processes": acc.num_processes,
                       "lines": n_lines, "device": str(acc.device), "seconds": round(time.perf_counter() - t0, 1),
                       "seconds_per_text": seconds_per_text(store, kinds)}
            write_json(out / "sweep.json", summary)
            if report is None:
                from .report import write_sweep_report

                write_sweep_report(out)
            else:
                report(out)
            per = summary["seconds_per_text"]["mean"]
            print(f"[sweep] {title}: {len(ids)} texts ({len(pending)} explained now on {acc.num_processes} "
                  f"process(es)) in {summary['seconds']:.0f} s, {'–' if per is None else f'{per:.1f}'} s per text "
                  f"→ {store.results}")
        acc.wait_for_everyone()
        return summary
    finally:
        acc.end_training()
