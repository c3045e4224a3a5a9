"""Benchmark ``mi_explain.explain`` against the authors' published σ algorithm (Guan et al., ICML 2019).

For every model, target and sentence this script explains every layer twice, on the same objective (the
paper's Eq. 7 per token — data term summed over the state and divided by N·K·λ — with the same σ_s per
layer, λ, granularity="token" and upper bound ``scale`` = 3 × std of the word embeddings, our default):

* ours: one ``mi_explain.explain`` call for all layers, at the estimator's defaults;
* the reference: the authors' algorithm re-implemented, one layer at a time, unbatched: σ = scale ·
  sigmoid(r), r ~ randn, one noise draw per step, Adam(lr=0.01), ``--ref-steps`` steps, keep the r of
  the lowest (noisy) loss seen.

Both σ maps are then scored with ``mi_explain.estimator.evaluate_objective`` on ONE fixed set of
``--eval-draws`` standard-normal draws per sentence (the same draws for both methods).  The Monte-Carlo
error of the difference is the batch-means standard error over ``--eval-blocks`` equal blocks of draws.
A closed-form check on a linear Φ (exact optimum known) runs first, independent of any model.

Run (from the repository root; the Hugging Face Hub is not needed):

    # quick check that everything works (~2 min on 2 CPU cores)
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_explain.py --models bert-4x256 --sentences 1 --ref-steps 200

    # the CPU benchmark of docs/benchmarks.md (one thread: the 2-core machine was shared with other jobs)
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_explain.py --models bert-4x256 minilm \\
        --sentences 3 2 --threads 1 --out docs/bench_cpu.json

    # on a GPU
    HF_HUB_OFFLINE=1 python scripts/bench_explain.py --models bert-base --sentences 3 --device cuda \\
        --out docs/bench_gpu.json

``--sentences`` takes one count for all models or one count per model.  Targets checked in the summary:
ours at least 50× (CPU) / 200× (GPU) faster than the reference over all layers (every sentence), with an
objective per layer that is lower, or equal within ``--mc-k`` standard errors of the fixed evaluation; both
the strict paired error (SE of ours − ref on the shared draws, "obj pair") and the evaluation's own error
(SE of each objective estimate, "obj eval") are reported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import mi_explain
from mi_explain.driver import PreparedBatch, layer_specs, prepare_batch
from mi_explain.estimator import evaluate_objective
from mi_explain.hooks import find_input_embeddings, frozen
from mi_explain.reference import ReferenceResult, reference_sigma
from mi_explain.resources import packaged_model_path

#: Fixed SST-2-like movie-review sentences, 8–20 words each (written for this benchmark).
SENTENCES: tuple[str, ...] = (
    "a rare bird has more than enough charm to make it memorable .",
    "the plot is thin , but the performances are warm and often very funny .",
    "an overlong , self-indulgent mess that never finds its footing or its heart .",
    "it is a smart , sweet and surprisingly moving film about growing up .",
    "the director seems to have forgotten that a thriller should actually thrill .",
    "a gorgeous , witty and deeply felt portrait of a family in crisis .",
    "nothing in this dull remake justifies the two hours you will spend watching it .",
    "the cast is uniformly excellent , and the script gives them plenty to do .",
    "it wants to be profound but ends up merely pretentious and tired .",
    "a small film with big ideas and a heart that is impossible to resist .",
    "the jokes fall flat and the characters are as thin as the paper they were written on .",
    "even the stunning visuals cannot save a story this confused and lifeless .",
    "one of the most inventive and entertaining animated features in years .",
    "too slow to be exciting and too silly to be taken seriously .",
    "her performance is quietly devastating , and the final scene stays with you .",
    "a predictable but pleasant comedy that should please fans of the genre .",
)

MODELS = ("bert-4x256", "minilm", "bert-base")
RATE = 0.1  # λ, the same for both methods
SCALE_FACTOR = 3.0  # σ ≤ SCALE_FACTOR × std(word embeddings): our default bound (EstimatorConfig.scale_factor)
SPEED_TARGET = {"cpu": 50.0, "cuda": 200.0}


# ----------------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------------

def _minilm_path() -> str:
    return packaged_model_path("minilm")


def build_model(name: str, device: torch.device, seed: int) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode on ``device``, fast tokenizer) for one of :data:`MODELS`."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = _minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)  # random weights (and minilm's random classifier head) are reproducible
    if name == "minilm":
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    elif name == "bert-4x256":
        cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024, num_labels=2)
        model = BertForSequenceClassification(cfg)
    elif name == "bert-base":
        cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, num_labels=2)
        model = BertForSequenceClassification(cfg)
    else:
        raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
    return model.to(device).eval(), tokenizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# the reference (the authors' algorithm, one state at a time) lives in mi_explain.reference

# ----------------------------------------------------------------------------------------------------
# closed form on a linear Φ
# ----------------------------------------------------------------------------------------------------

def linear_check(steps: int, seed: int, n: int = 8, k: int = 32, progress: bool = True) -> dict[str, Any]:
    """Max relative σ error of both methods on Φ(x) = Σ_i w_i x_i (x [n, K], Φ ∈ R^K).

    With ε_i ~ N(0, σ_i² I_K) independent, every element d of Φ(x + ε) − Φ(x) = Σ_i w_i ε_i,d has variance
    Σ_i w_i² σ_i², so Eq. 7's data term per token is  E‖Σ_i w_i ε_i‖²/(n K λ r²) = Σ_i w_i² σ_i² / (n λ r²)
    (σ_s = r).  The objective  −(1/n) Σ_i log σ_i + Σ_i w_i² σ_i² / (n λ r²)  is separable and convex in
    log σ_i; setting ∂/∂σ_i = −1/(n σ_i) + 2 w_i² σ_i / (n λ r²) = 0 gives  σ_i = r · sqrt(λ / 2) / |w_i|.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=gen)
    w = torch.linspace(0.25, 2.0, n) * torch.tensor([(-1.0) ** i for i in range(n)])
    r = 0.5
    exact = r * math.sqrt(RATE / 2) / w.abs()

    def phi(xb: torch.Tensor) -> torch.Tensor:
        return (w[None, :, None] * xb).sum(1)

    t0, c0 = time.perf_counter(), time.process_time()
    scale = 2.0 * float(exact.max())
    ours = mi_explain.explain_function(phi, x, rate=RATE, regularization=r, seed=seed, scale=scale, progress=False)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    clean = phi(x[None])[0]
    ref = reference_sigma(lambda xt: phi(xt), x, torch.arange(n), n, clean, torch.tensor(1.0 / r**2), rate=RATE,
                          scale=scale, steps=steps, seed=seed, desc="linear Φ reference", progress=progress,
                          data_norm=float(n * k))
    err_ours = float(((ours.sigma[0] - exact).abs() / exact).max())
    err_ref = float(((ref.sigma - exact).abs() / exact).max())
    return {"n": n, "K": k, "rate": RATE, "sigma_s": r, "w": w.tolist(), "exact_sigma": exact.tolist(),
            "ours_sigma": ours.sigma[0].tolist(), "ref_sigma": ref.sigma.tolist(), "ref_scale": scale,
            "ours_max_rel_err": err_ours, "ref_max_rel_err": err_ref, "ours_seconds": ours_s,
            "ref_seconds": ref.seconds, "ours_cpu_seconds": ours_cpu, "ref_cpu_seconds": ref.cpu_seconds,
            "ours_steps": int(ours.steps), "ours_converged": bool(ours.converged.all()), "ref_steps": steps}


# ----------------------------------------------------------------------------------------------------
# one sentence
# ----------------------------------------------------------------------------------------------------

@dataclass
class LayerResult:
    layer: str
    sigma_s: float
    ref_seconds: float
    ref_cpu_seconds: float
    ref_best_step: int
    objective_ours: float
    objective_ref: float
    diff: float  # ours − ref (negative: ours better)
    diff_se: float  # Monte-Carlo standard error of diff (batch means over the fixed, shared draws)
    se_ours: float  # Monte-Carlo standard error of each objective estimate itself
    se_ref: float
    ours_reported_objective: float  # the estimator's own running estimate
    ours_converged: bool
    ours_at_bound: int
    median_abs_log_ratio: float  # median_i |log σ_ours,i − log σ_ref,i|
    max_abs_log_ratio: float  # max_i |log σ_ours,i − log σ_ref,i|
    blocks_ours: list[float] = field(default_factory=list)  # the objective on each block of draws
    blocks_ref: list[float] = field(default_factory=list)
    sigma_ours: list[float] = field(default_factory=list)  # σ per perturbed token (embedding units)
    sigma_ref: list[float] = field(default_factory=list)


@dataclass
class SentenceResult:
    model: str
    target: str
    sentence: str
    n_tokens: int  # perturbed tokens (σ columns)
    ours_seconds: float
    ours_steps: int
    ref_seconds: float
    ratio: float  # wall time ref / ours
    ours_cpu_seconds: float
    ref_cpu_seconds: float
    cpu_ratio: float  # process CPU time ref / ours
    layers: list[LayerResult] = field(default_factory=list)
    #: every timed run of ours (the first is the one above): seed, tol, seconds, CPU seconds, steps, converged
    #: layers, and per layer ours − ref objective and its paired z on the fixed draws
    ours_runs: list[dict[str, Any]] = field(default_factory=list)


def _blocked_objective(
    prep: PreparedBatch, sigma: torch.Tensor, noise: torch.Tensor, n_blocks: int, rate: float
) -> torch.Tensor:
    """Eq. 7 of one state at σ [W] on each of ``n_blocks`` equal blocks of ``noise`` → [n_blocks]."""
    values = []
    for block in noise.chunk(n_blocks):
        val = evaluate_objective(prep.states, prep.problems, sigma[None, None, :], prep.clean, prep.counts,
                                 prep.inv_var, rate, block)
        values.append(float(val[0, 0]))
    return torch.tensor(values, dtype=torch.float64)


def _se(values: torch.Tensor) -> float:
    """Batch-means standard error of the mean of equal-sized blocks."""
    return float(values.std(unbiased=True) / math.sqrt(len(values)))


def bench_sentence(
    model: torch.nn.Module,
    tokenizer: Any,
    text: str,
    *,
    model_name: str,
    ref_steps: int,
    eval_draws: int,
    eval_blocks: int,
    seed: int,
    progress: bool = True,
    target: str = "tokens",
    ours_seeds: Sequence[int] | None = None,
    ours_tols: Sequence[float | None] = (None,),
) -> SentenceResult:
    """Explain ``text`` with both methods (the state ``target`` of every layer) and score both σ maps on the
    same fixed noise.  Ours is timed once per seed in ``ours_seeds`` (default: ``seed``) and ``tol`` in
    ``ours_tols`` (None: the estimator's default); the first (seed, tol) pair fills the main fields."""
    device = find_input_embeddings(model).weight.device
    emb_std = float(find_input_embeddings(model).weight.detach().float().std())
    scale = SCALE_FACTOR * emb_std
    with frozen(model):
        specs = layer_specs(model, None)
        # σ_s per layer: ONE default estimate (random-token copies of the sentence), then fixed for both methods
        sigma_s = prepare_batch(model, tokenizer, [text], specs, granularity="token", seed=seed,
                                target=target).sigma_s[0].tolist()
        per_layer = [prepare_batch(model, tokenizer, [text], [spec], granularity="token", regularization=[s],
                                   target=target) for spec, s in zip(specs, sigma_s)]

    # ours: all layers in one call, once per (tol, seed)
    runs = []
    for tol in ours_tols:
        for run_seed in (list(ours_seeds) if ours_seeds else [seed]):
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():  # an unconverged layer is recorded below, per run
                warnings.simplefilter("ignore", mi_explain.UnconvergedWarning)
                expl = mi_explain.explain(model, tokenizer, text, layers=None, granularity="token", rate=RATE,
                                          scale=scale, regularization=sigma_s, progress=False, seed=run_seed,
                                          target=target, tol=tol)
            _sync(device)
            runs.append((tol, run_seed, expl, time.perf_counter() - t0, time.process_time() - c0))
    _, _, ours, ours_seconds, ours_cpu = runs[0]
    n_tok = int(ours.sigma.shape[1])

    # the reference: one layer at a time, the forward stops after that layer
    refs: list[ReferenceResult] = []
    with frozen(model):
        for l_idx, prep in enumerate(per_layer):
            rows = torch.zeros(1, dtype=torch.long, device=device)

            def phi(xt: torch.Tensor, prep: PreparedBatch = prep, rows: torch.Tensor = rows) -> torch.Tensor:
                return prep.states(xt, rows)[0]

            assert int(prep.problems.pieces.shape[1]) == n_tok
            refs.append(reference_sigma(
                phi, prep.problems.x[0], prep.problems.word_index[0], n_tok, prep.clean[0][0], prep.inv_var[0],
                rate=RATE, scale=scale, steps=ref_steps, seed=seed + 1000 * l_idx,
                desc=f"{model_name} ref {specs[l_idx].label}", progress=progress,
                data_norm=float(n_tok * prep.problems.x.shape[-1])))  # Eq. 7 per token, as ours
    ref_seconds = sum(r.seconds for r in refs)
    ref_cpu = sum(r.cpu_seconds for r in refs)

    # the same fixed standard-normal draws for both methods (and all layers of this sentence)
    n_pos, k = per_layer[0].problems.x.shape[1:]
    gen = torch.Generator(device="cpu").manual_seed(seed + 99991)
    noise = torch.randn(eval_draws, n_pos, k, generator=gen).to(device)
    result = SentenceResult(model=model_name, target=target, sentence=text, n_tokens=n_tok, ours_seconds=ours_seconds,
                            ours_steps=int(ours.steps), ref_seconds=ref_seconds, ratio=ref_seconds / ours_seconds,
                            ours_cpu_seconds=ours_cpu, ref_cpu_seconds=ref_cpu, cpu_ratio=ref_cpu / ours_cpu)
    with frozen(model):
        for l_idx, (prep, ref) in enumerate(zip(per_layer, refs)):
            sig_ours = ours.sigma[l_idx].to(device)
            sig_ref = ref.sigma.to(device)
            obj_ours = _blocked_objective(prep, sig_ours, noise, eval_blocks, RATE)
            obj_ref = _blocked_objective(prep, sig_ref, noise, eval_blocks, RATE)
            d = obj_ours - obj_ref
            result.layers.append(LayerResult(
                layer=specs[l_idx].label, sigma_s=float(sigma_s[l_idx]), ref_seconds=ref.seconds,
                ref_cpu_seconds=ref.cpu_seconds,
                ref_best_step=ref.best_step, objective_ours=float(obj_ours.mean()),
                objective_ref=float(obj_ref.mean()), diff=float(d.mean()),
                diff_se=_se(d), se_ours=_se(obj_ours), se_ref=_se(obj_ref),
                ours_reported_objective=float(ours.objective[l_idx]), ours_converged=bool(ours.converged[l_idx]),
                ours_at_bound=int(ours.at_bound[l_idx].sum()),
                median_abs_log_ratio=float((sig_ours.log() - sig_ref.log()).abs().median()),
                max_abs_log_ratio=float((sig_ours.log() - sig_ref.log()).abs().max()),
                blocks_ours=obj_ours.tolist(), blocks_ref=obj_ref.tolist(),
                sigma_ours=sig_ours.cpu().tolist(), sigma_ref=sig_ref.cpu().tolist(),
            ))
            ref_blocks = obj_ref
            for i, (tol, run_seed, expl, secs, cpu) in enumerate(runs):
                if i == 0:
                    diff = d
                else:
                    diff = _blocked_objective(prep, expl.sigma[l_idx].to(device), noise, eval_blocks, RATE) - ref_blocks
                if l_idx == 0:
                    result.ours_runs.append({"tol": tol, "seed": run_seed, "seconds": secs, "cpu_seconds": cpu,
                                             "steps": int(expl.steps), "cpu_ratio": ref_cpu / cpu,
                                             "ratio": ref_seconds / secs,
                                             "converged": int(expl.converged.sum()), "layers": len(specs),
                                             "diff": [], "z": []})
                run = result.ours_runs[i]
                run["diff"].append(float(diff.mean()))
                se = _se(diff)
                run["z"].append(float(diff.mean()) / se if se > 0 else 0.0)
    return result


def warm_up(model: torch.nn.Module, tokenizer: Any, seed: int) -> None:
    """Untimed short runs of both methods, so one-time costs (allocator, kernels) hit neither timing."""
    text = "a short warm up sentence ."
    with frozen(model):
        specs = layer_specs(model, None)
        prep = prepare_batch(model, tokenizer, [text], specs[-1:], granularity="token", regularization=[1.0])
        rows = torch.zeros(1, dtype=torch.long, device=prep.problems.x.device)
        reference_sigma(lambda xt: prep.states(xt, rows)[0], prep.problems.x[0], prep.problems.word_index[0],
                        int(prep.problems.pieces.shape[1]), prep.clean[0][0], prep.inv_var[0], rate=RATE, scale=1.0,
                        steps=10, seed=seed, progress=False)
    with warnings.catch_warnings():  # two steps cannot converge; this run only warms up
        warnings.simplefilter("ignore", mi_explain.UnconvergedWarning)
        mi_explain.explain(model, tokenizer, text, granularity="token", rate=RATE,
                           regularization=[1.0] * len(specs), steps=2, progress=False, seed=seed)


# ----------------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------------

def print_sentence(res: SentenceResult, mc_k: float) -> None:
    print(f"\n[{res.model}, target={res.target}] {res.sentence!r}  ({res.n_tokens} perturbed tokens)")
    print(f"  ours {res.ours_seconds:8.2f} s ({res.ours_steps} steps, all layers, one call) | "
          f"reference {res.ref_seconds:8.2f} s (sum over layers) | ratio {res.ratio:6.1f}× "
          f"(CPU time: {res.ours_cpu_seconds:.2f} s / {res.ref_cpu_seconds:.1f} s = {res.cpu_ratio:.1f}×)")
    print(f"  {'layer':<9} {'σ_s':>6} {'ref s':>7} {'obj ours':>9} {'obj ref':>9} {'ours−ref':>10} {'±SE pair':>9} "
          f"{'z':>7} {'±SE obj':>8} {'conv':>5} {'bound':>5} {'|Δlogσ| median/max':>18}")
    if len(res.ours_runs) > 1:
        for run in res.ours_runs:
            print(f"  ours tol={run['tol'] if run['tol'] is not None else 'default'} seed={run['seed']}: "
                  f"{run['cpu_seconds']:.1f} CPU-s ({run['steps']} steps) → {run['cpu_ratio']:.1f}× CPU, "
                  f"{run['converged']}/{run['layers']} converged, max z {max(run['z']):+.1f}")
    for lr in res.layers:
        print(f"  {lr.layer:<9} {lr.sigma_s:6.3f} {lr.ref_seconds:7.1f} {lr.objective_ours:9.5f} "
              f"{lr.objective_ref:9.5f} {lr.diff:+10.2e} {lr.diff_se:9.1e} {_z_score(lr):+7.1f} {lr.se_ours:8.1e} "
              f"{str(lr.ours_converged):>5} {lr.ours_at_bound:5d} {lr.median_abs_log_ratio:8.3f} / "
              f"{lr.max_abs_log_ratio:7.3f}")


def _z_score(lr: LayerResult) -> float:
    """(ours − ref) / SE; ±inf or 0 when the SE is 0."""
    if lr.diff_se > 0:
        return lr.diff / lr.diff_se
    return math.copysign(math.inf, lr.diff) if lr.diff else 0.0


def summarise(results: Sequence[SentenceResult], device: torch.device, mc_k: float) -> list[dict[str, Any]]:
    target = SPEED_TARGET["cuda" if device.type == "cuda" else "cpu"]
    rows = []
    for name, tgt in dict.fromkeys((r.model, r.target) for r in results):
        rs = [r for r in results if r.model == name and r.target == tgt]
        layers = [lr for r in rs for lr in r.layers]
        ours_t = sum(r.ours_seconds for r in rs)
        ref_t = sum(r.ref_seconds for r in rs)
        ours_c = sum(r.ours_cpu_seconds for r in rs)
        ref_c = sum(r.ref_cpu_seconds for r in rs)
        speed_ok = all(r.ratio >= target for r in rs)
        obj_ok = all(lr.diff <= mc_k * lr.diff_se for lr in layers)  # strict: paired (common draws) error
        obj_ok_eval = all(lr.diff <= mc_k * max(lr.se_ours, lr.se_ref) for lr in layers)  # evaluation's own error
        rows.append({
            "model": name, "target": tgt, "sentences": len(rs), "ours_seconds": ours_t, "ref_seconds": ref_t,
            "ours_seconds_per_sentence": ours_t / len(rs), "ref_seconds_per_sentence": ref_t / len(rs),
            "ratio": ref_t / ours_t, "min_ratio": min(r.ratio for r in rs),
            "ours_cpu_seconds": ours_c, "ref_cpu_seconds": ref_c, "cpu_ratio": ref_c / ours_c,
            "min_cpu_ratio": min(r.cpu_ratio for r in rs),
            "mean_diff": sum(lr.diff for lr in layers) / len(layers), "max_diff": max(lr.diff for lr in layers),
            "max_diff_over_se": max(_z_score(lr) for lr in layers),
            "layers_not_converged": sum(not lr.ours_converged for lr in layers), "n_layers_total": len(layers),
            "speed_target": target, "speed_ok": speed_ok, "objective_ok_paired": obj_ok,
            "objective_ok_eval": obj_ok_eval,
            "runs_by_tol": _runs_by_tol(rs),
        })
    print(f"\n=== summary ({device.type}; speed target ≥ {target:.0f}× per sentence; objective: ours − ref ≤ "
          f"{mc_k:g}·SE on every layer, SE of the paired difference (obj pair) or of each objective (obj eval)) ===")
    print(f"{'model':<11} {'target':<7} {'sent':>4} {'ours s':>8} {'ref s':>8} {'ratio':>7} {'min':>7} {'cpu':>7} "
          f"{'mean Δobj':>10} "
          f"{'max Δobj':>10} {'max z':>7} {'unconv':>6} {'speed':>5} {'obj pair':>8} {'obj eval':>8}")

    def flag(ok: bool) -> str:
        return "ok" if ok else "NO"

    for row in rows:
        print(f"{row['model']:<11} {row['target']:<7} {row['sentences']:>4} {row['ours_seconds']:8.1f} "
              f"{row['ref_seconds']:8.1f} "
              f"{row['ratio']:6.1f}× {row['min_ratio']:6.1f}× {row['cpu_ratio']:6.1f}× {row['mean_diff']:+10.2e} "
              f"{row['max_diff']:+10.2e} "
              f"{row['max_diff_over_se']:+7.1f} {row['layers_not_converged']:>3}/{row['n_layers_total']:<2} "
              f"{flag(row['speed_ok']):>5} {flag(row['objective_ok_paired']):>8} {flag(row['objective_ok_eval']):>8}")
        for tol, st in row["runs_by_tol"].items():
            print(f"    ours at tol={tol}: {st['runs']} runs (seeds × sentences), CPU ratio median "
                  f"{st['median_cpu_ratio']:.1f}× (min {st['min_cpu_ratio']:.1f}×, max {st['max_cpu_ratio']:.1f}×), "
                  f"layers converged {st['converged']}, max z {st['max_z']:+.1f}")
    return rows


def _runs_by_tol(results: Sequence[SentenceResult]) -> dict[str, dict[str, Any]]:
    """Per tol: the spread of ours' CPU-time ratio over seeds and sentences (the cost varies with the draws)."""
    out: dict[str, dict[str, Any]] = {}
    for tol in dict.fromkeys(run["tol"] for r in results for run in r.ours_runs):
        runs = [run for r in results for run in r.ours_runs if run["tol"] == tol]
        ratios = sorted(run["cpu_ratio"] for run in runs)
        out["default" if tol is None else str(tol)] = {
            "runs": len(runs), "median_cpu_ratio": statistics.median(ratios), "min_cpu_ratio": ratios[0],
            "max_cpu_ratio": ratios[-1],
            "converged": f"{sum(run['converged'] for run in runs)}/{sum(run['layers'] for run in runs)}",
            "max_z": max(max(run["z"]) for run in runs)}
    return out


def environment(device: torch.device) -> dict[str, Any]:
    import transformers

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "transformers": transformers.__version__, "platform": platform.platform(),
                           "processor": platform.processor(), "cpu_count": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    repo = Path(__file__).resolve().parents[1]
    try:  # which estimator was benchmarked (the package is usually installed editable)
        env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                           check=True).stdout.strip()
        env["git_dirty_mi_explain"] = bool(subprocess.run(
            ["git", "status", "--porcelain", "--", "mi_explain"], cwd=repo, capture_output=True, text=True,
            check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        env["git_commit"] = None
    return env


# ----------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=MODELS, default=["bert-4x256"])
    p.add_argument("--sentences", nargs="+", type=int, default=[2],
                   help="sentences per model: one count for all models, or one per model")
    p.add_argument("--ref-steps", type=int, default=5000, help="Adam steps of the reference per layer")
    p.add_argument("--eval-draws", type=int, default=1024, help="fixed noise draws of the objective evaluation")
    p.add_argument("--eval-blocks", type=int, default=32, help="equal blocks of draws for the MC standard error")
    p.add_argument("--mc-k", type=float, default=2.0, help="'equal objective' = ours − ref ≤ mc_k · SE")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", nargs="+", default=["tokens"], choices=["tokens", "cls"],
                   help="explained state of every layer: the whole layer (tokens) and/or the [CLS] vector")
    p.add_argument("--ours-seeds", nargs="+", type=int, default=None,
                   help="time ours once per seed (its cost varies with the draws); default: --seed")
    p.add_argument("--tol", nargs="+", type=float, default=None,
                   help="also time ours at these tol values (the estimator's default is always run first)")
    p.add_argument("--out", type=Path, default=None, help="write all numbers to this JSON file")
    p.add_argument("--skip-linear", action="store_true", help="skip the closed-form check on a linear Φ")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    if len(args.sentences) not in (1, len(args.models)):
        p.error("--sentences takes one count, or one count per model")
    if any(not 1 <= n <= len(SENTENCES) for n in args.sentences):
        p.error(f"--sentences must be in 1…{len(SENTENCES)}")
    if args.eval_blocks < 2 or args.eval_draws % args.eval_blocks:
        p.error("--eval-draws must be a multiple of --eval-blocks (≥ 2)")
    if args.ref_steps < 1:
        p.error("--ref-steps must be ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    args = parse_args(argv)
    for s in SENTENCES:
        assert 8 <= len(s.split()) <= 20, s
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    progress = not args.no_progress
    counts = args.sentences * len(args.models) if len(args.sentences) == 1 else args.sentences
    report: dict[str, Any] = {
        "config": {"models": args.models, "sentences": dict(zip(args.models, counts)), "ref_steps": args.ref_steps,
                   "ref_lr": 0.01, "eval_draws": args.eval_draws, "eval_blocks": args.eval_blocks,
                   "mc_k": args.mc_k, "rate": RATE, "scale_factor": SCALE_FACTOR, "granularity": "token",
                   "targets": args.targets, "seed": args.seed, "ours_seeds": args.ours_seeds,
                   "extra_tols": args.tol},
        "environment": environment(device),
    }

    def dump() -> None:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")

    if not args.skip_linear:
        lin = linear_check(args.ref_steps, args.seed, progress=progress)
        report["linear"] = lin
        print(f"linear Φ closed form (n={lin['n']}, K={lin['K']}, λ={RATE}, σ_s={lin['sigma_s']}): "
              f"max rel. error ours {lin['ours_max_rel_err']:.3%} in {lin['ours_seconds']:.2f} s "
              f"({lin['ours_steps']} steps) | reference {lin['ref_max_rel_err']:.3%} in {lin['ref_seconds']:.2f} s "
              f"({lin['ref_steps']} steps; CPU time {lin['ours_cpu_seconds']:.2f} s / {lin['ref_cpu_seconds']:.2f} s)")
        dump()

    results: list[SentenceResult] = []
    for name, n_sent in zip(args.models, counts):
        model, tokenizer = build_model(name, device, args.seed)
        warm_up(model, tokenizer, args.seed)
        for target in args.targets:
            for text in SENTENCES[:n_sent]:
                res = bench_sentence(model, tokenizer, text, model_name=name, ref_steps=args.ref_steps,
                                     eval_draws=args.eval_draws, eval_blocks=args.eval_blocks, seed=args.seed,
                                     progress=progress, target=target, ours_seeds=args.ours_seeds,
                                     ours_tols=[None, *(args.tol or [])])
                results.append(res)
                print_sentence(res, args.mc_k)
                report["results"] = [asdict(r) for r in results]
                dump()
        del model
    report["summary"] = summarise(results, device, args.mc_k)
    dump()
    return report


if __name__ == "__main__":
    main()
