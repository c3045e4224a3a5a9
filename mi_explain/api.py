"""Public entry points: ``explain_function`` (any phi) and ``explain`` (any ``transformers`` model)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from .adapters import Encoded, HFStates, encode, max_model_length, select_target
from .estimator import EstimatorConfig, NonFiniteError, Problems, SigmaResult, optimize_sigma, text_seed
from .explanation import Explanation
from .hooks import EMBEDDINGS, LayerSpec, find_input_embeddings, find_layers, frozen
from .regularization import as_inverse_variance, pooled_variance
from .validation import check_explain_args, check_explain_function_args

__all__ = ["PreparedBatch", "UnconvergedWarning", "consistency_flags", "estimator_config", "explain",
           "explain_function",
           "layer_specs", "prepare_batch", "sigma_diagnostics"]

StateFn = Callable[[torch.Tensor], "torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor]"]


def estimator_config(
    *,
    rate: float = 0.1,
    scale: float | None = None,
    steps: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    tol: float | None = None,
    max_batch: int | None = None,
    normalization: str = "eq7",
) -> EstimatorConfig:
    """Build an :class:`EstimatorConfig` from the user-facing options (None: the default)."""
    kw: dict[str, Any] = {"rate": rate, "scale": scale, "seed": seed, "max_batch": max_batch,
                          "normalization": normalization}
    if steps is not None:
        kw["steps"] = steps
    if samples is not None:
        kw["samples"] = samples
    if tol is not None:
        kw["tol"] = tol
    return EstimatorConfig(**kw)


def _as_state_list(out: Any) -> tuple[list[torch.Tensor], list[str] | None]:
    if torch.is_tensor(out):
        return [out], None
    if isinstance(out, Mapping):
        return [v for v in out.values()], [str(k) for k in out.keys()]
    if isinstance(out, Sequence) and out and all(torch.is_tensor(v) for v in out):
        return list(out), None
    raise TypeError("phi must return a tensor [B, ...], a sequence of tensors or a dict of tensors, "
                    f"got {type(out).__name__}")


def sigma_diagnostics(res: SigmaResult, p: int, n_words: int) -> dict[str, Any]:
    """Per-problem diagnostics of an estimator run: standard error and drift of log σ per word
    ([L][W] lists), their per-layer maxima, the Monte-Carlo error of the reported objective, the
    bound used and the basin-check rounds."""
    se = res.stderr[p, :, :n_words].cpu()
    dr = res.drift[p, :, :n_words].cpu()
    out: dict[str, Any] = {
        "stderr_max": se.max(-1).values.tolist() if n_words else [0.0] * se.shape[0],
        "stderr": se.tolist(),
        "drift": dr.tolist(),
        "objective_se": res.objective_se[p].cpu().tolist(),
    }
    if res.upper is not None:
        out["upper_bound"] = res.upper[p].cpu().tolist()
    if res.rounds is not None:
        out["basin_rounds"] = res.rounds[p].cpu().tolist()
    if res.restarts is not None:
        out["restarts"] = res.restarts[p, :, :n_words].cpu().tolist()
    if res.slope is not None:
        out["slope"] = res.slope[p, :, :n_words].cpu().tolist()
    return out


def warn_unconverged(labels: Sequence[str], converged: Sequence[torch.Tensor], steps: int) -> None:
    """Warn once (per call) naming the layers that some text left unconverged at the step cap."""
    bad = sorted({labels[i] for c in converged for i in torch.nonzero(~c.bool()).flatten().tolist()},
                 key=list(labels).index)
    if bad:
        warnings.warn(f"σ did not converge within {steps} steps for {', '.join(bad)}: the values of "
                      "these layers may be wrong (see .converged and diagnostics['stderr'/'drift']); "
                      "raise `steps` or `tol`", UnconvergedWarning, stacklevel=3)


class UnconvergedWarning(UserWarning):
    """Some layer's σ map did not converge within the step cap."""


def explain_function(
    phi: StateFn,
    x: torch.Tensor,
    *,
    words: Sequence[str] | None = None,
    rate: float = 0.1,
    scale: float | None = None,
    regularization: float | Sequence[Any] | Mapping[str, Any] | None = None,
    steps: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    tol: float | None = None,
    max_batch: int | None = None,
    prior_scale: float | None = None,
    reference_inputs: torch.Tensor | None = None,
    n_reference: int = 64,
    normalization: str = "eq7",
) -> Explanation:
    """Explain the hidden state(s) ``phi(x)`` by the information they keep of each row of ``x``.

    x: [n, K] word embeddings.  phi: maps a batch [B, n, K] to one state [B, ...], or to a sequence /
    dict of states (one σ row each; all optimised together in the same batched passes).
    rate: λ.  scale: upper bound for σ (None: 10 × prior_scale; part of the definition of σ on
    bounded states, see :mod:`mi_explain.estimator`).  normalization: "eq7" (data term / (N·K·λ),
    the paper) or "element_mean" (data term / (D·λ)).  regularization: σ_s per state (float for
    all, one value or broadcastable tensor per state, or None: estimated from ``reference_inputs``
    [M, n, K] or, by default, from ``n_reference`` random inputs drawn elementwise from
    N(mean(x), std(x)²)).  prior_scale: the embeddings' per-dimension spread used for ``information``
    (default: std of x).  Returns an :class:`Explanation` with σ of shape [n_states, n].
    """
    check_explain_function_args(locals())
    if not torch.is_tensor(x) or x.ndim != 2:
        raise ValueError(f"x must be a [n_words, K] tensor, got {getattr(x, 'shape', type(x))}")
    n, k = x.shape
    if n == 0 or k == 0:
        raise ValueError("x is empty: need at least one word and one embedding dimension")
    dev = torch.device(device) if device is not None else x.device
    x = x.detach().to(dev, torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    words = [str(w) for w in words] if words is not None else [str(i) for i in range(n)]
    if len(words) != n:
        raise ValueError(f"{len(words)} words given for {n} rows of x")
    prior = float(prior_scale) if prior_scale is not None else float(x.std()) if n * k > 1 else 1.0
    if not prior > 0:
        prior = float(x.abs().mean()) or 1.0
    cfg = estimator_config(rate=rate, scale=scale, steps=steps, samples=samples, seed=seed, tol=tol,
                           max_batch=max_batch, normalization=normalization)
    t0 = time.perf_counter()

    with torch.no_grad():
        clean, names = _as_state_list(phi(x[None]))
    names = names or ([f"state {i}" for i in range(len(clean))] if len(clean) > 1 else ["state"])
    shapes = [c.shape[1:] for c in clean]
    for nm, c in zip(names, clean):
        if c.shape[0] != 1:
            raise ValueError(f"phi must keep the batch dimension: {nm} has shape {tuple(c.shape)} for a batch of 1")
        if not torch.isfinite(c).all():
            raise ValueError(f"phi(x) is not finite for {nm}")

    if regularization is None:
        if reference_inputs is None:
            gen = torch.Generator(device="cpu").manual_seed(int(seed) + 7919)
            mu, sd = x.mean(0, keepdim=True).cpu(), x.std().cpu() if n * k > 1 else torch.tensor(1.0)
            reference_inputs = (mu + sd * torch.randn(int(n_reference), n, k, generator=gen)).to(dev)
        ref = torch.as_tensor(reference_inputs, dtype=torch.float32, device=dev)
        if ref.ndim != 3 or ref.shape[1:] != x.shape:
            raise ValueError(f"reference_inputs must be [M, {n}, {k}], got {tuple(ref.shape)}")
        with torch.no_grad():
            ref_states, _ = _as_state_list(phi(ref))
        regularization = [pooled_variance(s.reshape(s.shape[0], -1)) ** 0.5 for s in ref_states]
    inv_var, reg_scalars = as_inverse_variance(regularization, len(clean), shapes, dev)

    problems = Problems(x=x[None], word_index=torch.arange(n, device=dev)[None],
                        pieces=torch.ones(1, n, dtype=torch.long, device=dev),
                        prior_scale=torch.tensor([prior], device=dev), seeds=[seed])
    flat_clean = [c.reshape(1, -1).float() for c in clean]
    counts = torch.tensor([[c.numel() for c in flat_clean]], dtype=torch.float32)

    def phi_rows(xt: torch.Tensor, rows: torch.Tensor) -> list[torch.Tensor]:
        states, _ = _as_state_list(phi(xt))
        return [s.reshape(s.shape[0], -1) for s in states]

    res = optimize_sigma(phi_rows, problems, flat_clean, counts, inv_var, cfg, state_names=names,
                         progress=progress)
    elapsed = time.perf_counter() - t0
    out = Explanation(
        words=words, layers=names, sigma=res.sigma[0].cpu(), tokens=list(words),
        token_to_word=list(range(n)), pieces=[1] * n, embedding_dim=k, prior_scale=prior,
        objective=res.objective[0].cpu(), converged=res.converged[0].cpu(), at_bound=res.at_bound[0].cpu(),
        steps=res.steps, regularization=torch.tensor(reg_scalars, dtype=torch.float32), text=None,
        target="function",
        options={"rate": rate, "scale": scale, "samples": cfg.samples, "steps": cfg.steps, "tol": cfg.tol,
                 "seed": seed, "normalization": normalization},
        diagnostics={"seconds": elapsed, **sigma_diagnostics(res, 0, n), "converged_history": res.history},
    )
    warn_unconverged(names, [res.converged[0]], res.steps)
    return out


# ----------------------------------------------------------------------------------------------------
# transformers models
# ----------------------------------------------------------------------------------------------------

def layer_specs(
    model: torch.nn.Module,
    layers: Sequence[int | str] | int | str | None = None,
    layer_modules: Sequence[torch.nn.Module] | None = None,
) -> list[LayerSpec]:
    """Resolve ``layers`` (None: all; ints index the layer modules from 0, negatives from the end;
    ``"embeddings"`` is the input of the first layer) into capture specs, in forward order."""
    if layer_modules is not None:
        mods = list(layer_modules)
        if not mods or not all(isinstance(m, torch.nn.Module) for m in mods):
            raise ValueError("layer_modules must be a non-empty list of torch.nn.Module")
        names = {id(m): n for n, m in model.named_modules()}
        found = []
        for i, m in enumerate(mods):
            if id(m) not in names:
                raise ValueError(f"layer_modules[{i}] ({type(m).__name__}) is not a submodule of the model")
            found.append((names[id(m)], m))
    else:
        found = find_layers(model)
    n = len(found)
    if layers is None:
        wanted: list[int | str] = list(range(n))
    elif isinstance(layers, (int, str)):
        wanted = [layers]
    else:
        wanted = list(layers)
    if not wanted:
        raise ValueError("layers is empty: nothing to explain")
    specs, seen = [], set()
    for item in wanted:
        if isinstance(item, str):
            if item != EMBEDDINGS:
                raise ValueError(f"unknown layer {item!r}: use an int in [-{n}, {n}) or {EMBEDDINGS!r}")
            key: int = -1
            spec = LayerSpec(EMBEDDINGS, f"{found[0][0]} (input)", found[0][1], pre=True)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -n <= item < n:
                raise IndexError(f"layer index {item} out of range: the model has {n} layers (0…{n - 1})")
            key = item % n
            spec = LayerSpec(f"layer {key}", found[key][0], found[key][1])
        else:
            raise TypeError(f"layers must hold ints or {EMBEDDINGS!r}, got {item!r}")
        if key in seen:
            raise ValueError(f"layer {item!r} requested twice")
        seen.add(key)
        specs.append((key, spec))
    return [s for _, s in sorted(specs, key=lambda t: t[0])]


def _reference_inv_var(
    states: HFStates, enc: Encoded, tokenizer, n_reference: int, seed: int, vocab_size: int,  # noqa: ANN001
    chunk: int,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """σ_s per (problem, state) from ``n_reference`` copies of each text whose perturbed tokens are
    replaced by uniformly random vocabulary tokens (special tokens excluded)."""
    dev = next(states.model.parameters()).device
    n_prob = enc.input_ids.shape[0]
    special = torch.tensor(sorted(set(getattr(tokenizer, "all_special_ids", []) or [])), dtype=torch.long)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[special[special < vocab_size]] = False
    pool = torch.nonzero(allowed).squeeze(1)
    rows = torch.arange(n_prob).repeat_interleave(n_reference)
    ids = enc.input_ids[rows].clone()
    for p in range(n_prob):  # one generator per text: σ_s does not depend on the rest of the batch
        gen = torch.Generator().manual_seed(int(seed) + 104729)
        block = ids[p * n_reference:(p + 1) * n_reference]
        replace = enc.word_index[p][None].expand_as(block) >= 0
        block[replace] = pool[torch.randint(len(pool), (int(replace.sum()),), generator=gen)]
    per_state: list[list[torch.Tensor]] = []
    mask = enc.attention_mask
    with torch.no_grad():
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk].to(dev)
            hidden = states.hidden(r, input_ids=ids[start:start + chunk].to(dev))
            for l_idx, h in enumerate(hidden):
                vec, vmask = select_target(h.float(), mask.to(h.device)[r], states.target)
                if len(per_state) <= l_idx:
                    per_state.append([])
                per_state[l_idx].append(torch.cat([vec, vmask[..., None].float()], -1).cpu())
    sig = torch.zeros(n_prob, len(per_state))
    for l_idx, parts in enumerate(per_state):
        allv = torch.cat(parts, 0)  # [P·M, T', H+1]
        for p in range(n_prob):
            block = allv[p * n_reference:(p + 1) * n_reference]
            vecs = block[..., :-1][block[..., -1] > 0]
            sig[p, l_idx] = pooled_variance(vecs) ** 0.5
    inv = [(1.0 / sig[:, l_idx:l_idx + 1] ** 2) for l_idx in range(sig.shape[1])]
    return inv, sig


def _corpus_inv_var(
    model: torch.nn.Module, tokenizer, specs: list[LayerSpec], texts: Sequence, target: str | int,  # noqa: ANN001
    granularity: str, max_length: int | None, chunk: int, autocast: bool, dev: torch.device,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """σ_s per state from the hidden states of a corpus of reference texts (shared by all problems)."""
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError("reference_texts needs at least 2 texts to estimate the spread σ_s of each layer")
    parts: list[list[torch.Tensor]] = [[] for _ in specs]
    bs = max(1, min(64, chunk))
    with torch.no_grad():
        for start in range(0, len(texts), bs):
            enc = encode(tokenizer, texts[start:start + bs], granularity=granularity, max_length=max_length,
                         truncation=True)
            hf = HFStates(model, specs, enc, target, autocast)
            rows = torch.arange(enc.input_ids.shape[0], device=dev)
            hidden = hf.hidden(rows, input_ids=enc.input_ids.to(dev))
            for l_idx, h in enumerate(hidden):
                vec, vmask = select_target(h.float(), enc.attention_mask.to(dev), target)
                parts[l_idx].append(vec[vmask].cpu())
    sig = torch.tensor([pooled_variance(torch.cat(p, 0)) ** 0.5 for p in parts])[None]
    return [(1.0 / sig[:, i:i + 1] ** 2) for i in range(sig.shape[1])], sig


@dataclass
class PreparedBatch:
    """Everything the estimator needs for a batch of texts (also used by the benchmark script)."""

    encoded: Encoded
    states: HFStates
    problems: Problems
    clean: list[torch.Tensor]
    counts: torch.Tensor
    inv_var: list[torch.Tensor]
    sigma_s: torch.Tensor  # [P, L]
    chunk: int


def prepare_batch(
    model: torch.nn.Module,
    tokenizer,  # noqa: ANN001
    texts: Sequence[str | tuple[str, str]],
    specs: Sequence[LayerSpec],
    *,
    target: str | int = "tokens",
    granularity: str = "word",
    perturb_special: bool = False,
    max_length: int | None = None,
    truncation: bool = False,
    regularization: float | Sequence[Any] | None = None,
    shared_inv: tuple[list[torch.Tensor], torch.Tensor] | None = None,
    n_reference: int = 32,
    seed: int = 0,
    max_batch: int | None = None,
    autocast: bool = False,
) -> PreparedBatch:
    """Tokenize, embed, run the clean forward pass once and fix σ_s for a batch of texts."""
    emb = find_input_embeddings(model)
    dev = emb.weight.device
    enc = encode(tokenizer, texts, granularity=granularity, perturb_special=perturb_special,
                 max_length=max_length, truncation=truncation)
    ids = enc.input_ids.to(dev)
    n_prob, n_tok = ids.shape
    chunk = max_batch or max(1, 32768 // max(n_tok, 1))
    with torch.no_grad():
        x = emb(ids).detach().float()
    hf = HFStates(model, specs, enc, target, autocast)
    rows = torch.arange(n_prob, device=dev)
    with torch.no_grad():
        hidden = hf.hidden(rows, inputs_embeds=x.to(emb.weight.dtype))
        clean = hf.states(hidden, rows)
    for spec, c in zip(specs, clean):
        if not torch.isfinite(c).all():
            raise NonFiniteError(f"the clean hidden state of {spec.label} is not finite")
    counts = hf.element_counts(hidden)
    if regularization is not None:
        shapes = [select_target(h, enc.attention_mask.to(dev), target)[0].shape[1:] for h in hidden]
        inv, reg = as_inverse_variance(regularization, len(specs), shapes, dev)
        reg_t = torch.tensor(reg, dtype=torch.float32)[None].expand(n_prob, -1)
    elif shared_inv is not None:
        inv, reg_t = [v.to(dev) for v in shared_inv[0]], shared_inv[1].expand(n_prob, -1)
    else:
        vocab = int(emb.weight.shape[0])
        if hasattr(tokenizer, "__len__"):
            vocab = min(vocab, len(tokenizer))
        inv, reg_t = _reference_inv_var(hf, enc, tokenizer, n_reference, seed, vocab, chunk)
        inv = [v.to(dev) for v in inv]
    prior = float(emb.weight.detach().float().std())
    problems = Problems(x=x, word_index=enc.word_index.to(dev), pieces=enc.pieces.to(dev),
                        prior_scale=torch.full((n_prob,), prior, device=dev),
                        seeds=[text_seed(seed, t) for t in texts])
    return PreparedBatch(enc, hf, problems, clean, counts, inv, reg_t, chunk)


def explain(
    model: torch.nn.Module,
    tokenizer,  # noqa: ANN001
    text: str | tuple[str, str] | Sequence[str | tuple[str, str]],
    *,
    layers: Sequence[int | str] | int | str | None = None,
    target: str | int = "tokens",
    granularity: str = "word",
    rate: float = 0.1,
    scale: float | None = None,
    regularization: float | Sequence[Any] | None = None,
    reference_texts: Sequence[str | tuple[str, str]] | None = None,
    n_reference: int = 32,
    steps: int | None = None,
    samples: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    tol: float | None = None,
    max_batch: int | None = None,
    batch_size: int = 8,
    layer_modules: Sequence[torch.nn.Module] | None = None,
    perturb_special: bool = False,
    truncation: bool = False,
    autocast: bool | None = None,
    method: str = "information",
    normalization: str = "eq7",
) -> Explanation | list[Explanation]:
    """Explain how much of each word every requested layer of a ``transformers`` model keeps.

    text: a string, a (first, second) pair, or a list of either (explained in padded batches of
    ``batch_size``; returns a list).  layers: None (all), ints (layer modules from 0; negatives from the
    end) and/or ``"embeddings"`` (input of the first layer).  target: "tokens" (all positions of the
    layer, concatenated: the paper's layer analysis), "cls"/"first", "last", or an int position.
    granularity: "word" (word pieces share one σ; one column per word) or "token".
    regularization: σ_s per layer (float, or one per layer); None: estimated from ``reference_texts``
    or, by default, from ``n_reference`` copies of each text with its words replaced by random
    vocabulary tokens.  Other options: see :func:`explain_function`.
    Returns an :class:`Explanation` (σ: [n_layers, n_words]) or a list of them.
    method: "information" (this measure) or a baseline of :mod:`mi_explain.methods` ("gradient",
    "integrated_gradients", "perturbation", "lrp"), which stores its saliency in ``.sigma``.
    """
    check_explain_args(locals())
    if method != "information":
        from .methods import dispatch_explain

        return dispatch_explain(
            method, model, tokenizer, text, layers=layers, target=target, granularity=granularity, seed=seed,
            device=device, progress=progress, max_batch=max_batch, batch_size=batch_size,
            layer_modules=layer_modules, perturb_special=perturb_special, truncation=truncation,
            information_options={"rate": rate, "scale": scale, "regularization": regularization,
                                 "reference_texts": reference_texts, "n_reference": n_reference, "steps": steps,
                                 "samples": samples, "tol": tol, "autocast": autocast,
                                 "normalization": normalization})
    single = isinstance(text, (str, tuple))
    texts = [text] if single else list(text)
    if not texts:
        raise ValueError("no text given: nothing to explain")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    cfg = estimator_config(rate=rate, scale=scale, steps=steps, samples=samples, seed=seed, tol=tol,
                           max_batch=max_batch, normalization=normalization)
    emb = find_input_embeddings(model)
    dev = emb.weight.device
    if device is not None and torch.device(device) != dev:
        if not (torch.device(device).type == dev.type and torch.device(device).index in (None, dev.index)):
            raise ValueError(f"the model is on {dev} but device={device!r}: move the model with model.to() first")
    use_autocast = (dev.type == "cuda") if autocast is None else bool(autocast)
    specs = layer_specs(model, layers, layer_modules)
    labels = [s.label for s in specs]
    max_length = max_model_length(model, tokenizer)
    prior = float(emb.weight.detach().float().std())
    out: list[Explanation] = []
    batches = [texts[i:i + int(batch_size)] for i in range(0, len(texts), int(batch_size))]
    outer = tqdm(batches, desc="explaining", unit="batch", disable=True if len(batches) == 1 else
                 (None if progress is None else not progress))
    with frozen(model):
        shared_inv = None
        if regularization is None and reference_texts is not None:
            shared_inv = _corpus_inv_var(model, tokenizer, specs, reference_texts, target, granularity,
                                         max_length, 64, use_autocast, dev)
        for batch in outer:
            t0 = time.perf_counter()
            prep = prepare_batch(model, tokenizer, batch, specs, target=target, granularity=granularity,
                                 perturb_special=perturb_special, max_length=max_length, truncation=truncation,
                                 regularization=regularization, shared_inv=shared_inv, n_reference=n_reference,
                                 seed=seed, max_batch=cfg.max_batch, autocast=use_autocast)
            enc, x, hf, clean, counts, inv, reg_t, problems, chunk = (
                prep.encoded, prep.problems.x, prep.states, prep.clean, prep.counts, prep.inv_var,
                prep.sigma_s, prep.problems, prep.chunk)
            n_prob = x.shape[0]
            run_cfg = EstimatorConfig(**{**cfg.__dict__, "max_batch": chunk})
            res = optimize_sigma(hf, problems, clean, counts, inv, run_cfg, state_names=labels, progress=progress)
            elapsed = time.perf_counter() - t0
            options = {"rate": rate, "scale": scale, "samples": cfg.samples, "steps": cfg.steps, "tol": cfg.tol,
                       "seed": seed, "normalization": normalization, "granularity": granularity,
                       "perturb_special": perturb_special,
                       "regularization": "given" if regularization is not None else
                       ("reference_texts" if reference_texts is not None else f"random_tokens×{n_reference}"),
                       "model": getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__,
                       "layer_modules": [s.name for s in specs]}
            for p, item in enumerate(batch):
                nw = len(enc.words[p])
                out.append(Explanation(
                    words=enc.words[p], layers=labels, sigma=res.sigma[p, :, :nw].cpu(), tokens=enc.tokens[p],
                    token_to_word=enc.token_to_word[p], pieces=enc.pieces[p, :nw].tolist(),
                    embedding_dim=int(x.shape[-1]), prior_scale=prior, objective=res.objective[p].cpu(),
                    converged=res.converged[p].cpu(), at_bound=res.at_bound[p, :, :nw].cpu(), steps=res.steps,
                    regularization=reg_t[p].float().cpu(), text=item,
                    segments=enc.segments[p] if isinstance(item, tuple) else None,
                    target=str(target), options=options,
                    diagnostics={"seconds": elapsed / n_prob, "batch_seconds": elapsed, "batch_size": n_prob,
                                 **sigma_diagnostics(res, p, nw)},
                ))
                if target == "tokens":
                    out[-1].diagnostics["consistency"] = consistency_flags(out[-1])
    warn_unconverged(labels, [e.converged for e in out], cfg.steps)
    return out[0] if single else out


def consistency_flags(e: Explanation, rise: float = 0.5, word_rise: float = 1.0) -> list[dict[str, Any]]:
    """Sharp rises of information from one layer to the next (whole-layer targets only).

    Where layer l+1 reads only layer l (stacked encoders, LSTMs), layer l+1 cannot hold more of a word
    than layer l (data processing): a rise of the mean information by more than ``rise`` nats per
    dimension, or of a word's by more than ``word_rise``, means one of the two maps is not the minimiser
    (or λ sits where the landscape is flat).  Returns one record per flagged pair of layers."""
    flags: list[dict[str, Any]] = []
    labels = list(e.layers)

    def index(label: str) -> int | None:
        if label == EMBEDDINGS:
            return -1
        if label.startswith("layer ") and label[6:].isdigit():
            return int(label[6:])
        return None

    info = e.word_information
    for a in range(len(labels) - 1):
        ia, ib = index(labels[a]), index(labels[a + 1])
        if ia is None or ib is None or ib != ia + 1:
            continue
        d_mean = float(info[a + 1].mean() - info[a].mean()) if info.shape[1] else 0.0
        d_word = (info[a + 1] - info[a])
        words = [e.words[i] for i in torch.nonzero(d_word > word_rise).flatten().tolist()]
        if d_mean > rise or words:
            flags.append({"from": labels[a], "to": labels[a + 1], "information_rise": round(d_mean, 4),
                          "words": words})
    return flags
