"""The one path every method takes: text → encode → embed → states → method → result.

:func:`explain` runs any registered method (:mod:`mi_explain.methods`) on a ``transformers`` model,
:func:`explain_function` on any function ``phi`` of word embeddings.  Both build a
:class:`~mi_explain.methods.base.Batch` (:func:`model_batch`, :func:`function_batch`), call
``method.attribute(batch)`` and ``method.result(...)`` per text.  :func:`estimate_regularization` measures
σ_s per state once on reference texts; ``explain(..., regularization=...)`` reuses it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from .adapters import HEAD_TARGETS, Encoded, HFStates, encode, max_model_length
from .estimator import NonFiniteError, Problems
from .hooks import LayerSpec, find_input_embeddings, frozen, layer_specs, output_spec
from .methods import Method, get_method
from .methods.base import Batch, CleanStates
from .methods.information import Information, Regularization, estimator_config, warn_unconverged
from .regularization import pooled_variance
from .results import Result, ResultInfo
from .validation import check_explain_args, check_explain_function_args

__all__ = ["PreparedBatch", "estimate_regularization", "estimator_config", "explain", "explain_function",
           "function_batch", "layer_specs", "model_batch", "prepare_batch", "state_list", "state_specs"]

Text = str | tuple[str, str]
StateFn = Callable[[torch.Tensor], "torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor]"]


def state_list(out: Any) -> tuple[list[torch.Tensor], list[str] | None]:
    """phi's output (a tensor, a sequence or a dict of tensors) → (states, names or None)."""
    if torch.is_tensor(out):
        return [out], None
    if isinstance(out, Mapping):
        return list(out.values()), [str(k) for k in out.keys()]
    if isinstance(out, Sequence) and out and all(torch.is_tensor(v) for v in out):
        return list(out), None
    raise TypeError("phi must return a tensor [B, ...], a sequence of tensors or a dict of tensors, "
                    f"got {type(out).__name__}")


# ---------------------------------------------------------------------------------------------- models

def state_specs(model: torch.nn.Module, layers: Any = None, layer_modules: Any = None,
                target: str | int = "tokens") -> list[LayerSpec]:
    """The states to explain: layers (see :func:`mi_explain.hooks.layer_specs`) or, for the targets
    "logits"/"prediction", the model's output logits."""
    if target in HEAD_TARGETS:
        if layers is not None or layer_modules is not None:
            raise ValueError(f"target={target!r} explains the model's output head: leave layers and layer_modules "
                             "unset")
        return [output_spec(model, label=str(target))]
    return layer_specs(model, layers, layer_modules)


def _model_device(model: torch.nn.Module, device: Any) -> tuple[torch.nn.Embedding, torch.device]:
    emb = find_input_embeddings(model)
    dev = emb.weight.device
    if device is not None:
        want = torch.device(device)
        if want.type != dev.type or want.index not in (None, dev.index):
            raise ValueError(f"the model is on {dev} but device={device!r}: move the model with model.to() first")
    return emb, dev


def _max_length(model: torch.nn.Module, tokenizer: Any, max_length: int | None) -> int | None:
    limit = max_model_length(model, tokenizer)
    if max_length is None:
        return limit
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive int, got {max_length!r}")
    if limit is not None and max_length > limit:
        raise ValueError(f"max_length={max_length} is over the model's maximum of {limit} tokens")
    return max_length


def _clean_pass(hf: HFStates, x: torch.Tensor, specs: Sequence[LayerSpec]) -> CleanStates:
    dtype = next(hf.model.parameters()).dtype
    rows = torch.arange(x.shape[0], device=x.device)
    with torch.no_grad():
        hidden = hf.hidden(rows, inputs_embeds=x.to(dtype))
        states = hf.states(hidden, rows)
    for spec, c in zip(specs, states):
        if not torch.isfinite(c).all():
            raise NonFiniteError(f"the clean hidden state of {spec.label} is not finite")
    shapes = [hf.target_vectors(h, rows)[0].shape[1:] for h in hidden]
    return CleanStates(states, hf.element_counts(hidden), shapes)


def _random_token_sigma(hf: HFStates, tokenizer: Any, vocab_size: int, chunk: int, n_reference: int,
                        seed: int) -> torch.Tensor:
    """σ_s [P, L] per text from ``n_reference`` copies of it whose perturbed tokens are replaced by uniformly
    random vocabulary tokens (special tokens excluded); one generator per text, so σ_s of a text does not
    depend on the rest of its batch."""
    enc = hf.encoded
    dev = next(hf.model.parameters()).device
    n_prob = enc.input_ids.shape[0]
    special = torch.tensor(sorted(set(getattr(tokenizer, "all_special_ids", []) or [])), dtype=torch.long)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[special[special < vocab_size]] = False
    pool = torch.nonzero(allowed).squeeze(1)
    rows = torch.arange(n_prob).repeat_interleave(n_reference)
    ids = enc.input_ids[rows].clone()
    for p in range(n_prob):
        gen = torch.Generator().manual_seed(int(seed) + 104729)
        block = ids[p * n_reference:(p + 1) * n_reference]
        replace = enc.word_index[p][None].expand_as(block) >= 0
        block[replace] = pool[torch.randint(len(pool), (int(replace.sum()),), generator=gen)]
    per_state: list[list[torch.Tensor]] = []
    with torch.no_grad():
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk].to(dev)
            hidden = hf.hidden(r, input_ids=ids[start:start + chunk].to(dev))
            for l_idx, h in enumerate(hidden):
                vec, vmask = hf.target_vectors(h.float(), r)
                if len(per_state) <= l_idx:
                    per_state.append([])
                per_state[l_idx].append(torch.cat([vec, vmask[..., None].float()], -1).cpu())
    sig = torch.zeros(n_prob, len(per_state))
    for l_idx, parts in enumerate(per_state):
        allv = torch.cat(parts, 0)  # [P·M, T', H+1]
        for p in range(n_prob):
            block = allv[p * n_reference:(p + 1) * n_reference]
            sig[p, l_idx] = pooled_variance(block[..., :-1][block[..., -1] > 0]) ** 0.5
    return sig


def model_batch(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[Text], specs: Sequence[LayerSpec], *,
    target: str | int = "tokens", granularity: str = "word", perturb_special: bool = False,
    max_length: int | None = None, truncation: bool = False, seed: int = 0, max_batch: int | None = None,
    progress: bool | None = None, autocast: bool = False, prior_scale: float | None = None,
) -> tuple[Batch, Encoded]:
    """Encode and embed ``texts`` and wrap the model's captured states as a :class:`Batch` (call inside
    :func:`~mi_explain.hooks.frozen`).  prior_scale: None → the std of the input embedding matrix."""
    emb = find_input_embeddings(model)
    dev = emb.weight.device
    enc = encode(tokenizer, texts, granularity=granularity, perturb_special=perturb_special, max_length=max_length,
                 truncation=truncation)
    with torch.no_grad():
        x = emb(enc.input_ids.to(dev)).detach().float()
    hf = HFStates(model, specs, enc, target, autocast)
    if target == "prediction":
        rows = torch.arange(x.shape[0], device=dev)
        with torch.no_grad():
            hf.fix_prediction(hf.hidden(rows, inputs_embeds=x.to(emb.weight.dtype)))
    prior = float(prior_scale) if prior_scale is not None else float(emb.weight.detach().float().std())
    vocab = int(emb.weight.shape[0])
    if hasattr(tokenizer, "__len__"):
        vocab = min(vocab, len(tokenizer))
    batch = Batch(fn=hf, x=x, word_index=enc.word_index.to(dev), n_words=int(enc.pieces.shape[1]),
                  n_states=len(specs), max_batch=max_batch, seed=seed, progress=progress,
                  pieces=enc.pieces.to(dev), prior_scale=torch.full((x.shape[0],), prior, device=dev),
                  labels=[s.label for s in specs], target=str(target), clean_fn=lambda: _clean_pass(hf, x, specs),
                  texts=list(texts))
    batch.reference_kind, batch.n_reference = "random_tokens", 32
    batch.reference_sigma = lambda n, s: _random_token_sigma(hf, tokenizer, vocab, batch.default_chunk(), int(n), s)
    return batch, enc


def _model_name(model: torch.nn.Module) -> str:
    return getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__


def estimate_regularization(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[Text], *, layers: Any = None,
    layer_modules: Any = None, target: str | int = "tokens", granularity: str = "word",
    max_length: int | None = None, batch_size: int = 64, autocast: bool | None = None,
) -> Regularization:
    """σ_s per state from the states of a corpus of reference texts (≥ 2; cut to the model's maximum
    length): the pooled std over all texts (and, for target "tokens", all real positions).  Pass the
    result as ``explain(..., regularization=...)`` with the same layers and target."""
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError("estimate_regularization needs at least 2 texts to estimate the spread σ_s of each state")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    _, dev = _model_device(model, None)
    specs = state_specs(model, layers, layer_modules, target)
    limit = _max_length(model, tokenizer, max_length)
    use_autocast = (dev.type == "cuda") if autocast is None else bool(autocast)
    parts: list[list[torch.Tensor]] = [[] for _ in specs]
    with frozen(model), torch.no_grad():
        for start in range(0, len(texts), int(batch_size)):
            enc = encode(tokenizer, texts[start:start + int(batch_size)], granularity=granularity, max_length=limit,
                         truncation=True)
            hf = HFStates(model, specs, enc, target, use_autocast)
            rows = torch.arange(enc.input_ids.shape[0], device=dev)
            hidden = hf.hidden(rows, input_ids=enc.input_ids.to(dev))
            hf.fix_prediction(hidden)
            for l_idx, h in enumerate(hidden):
                vec, vmask = hf.target_vectors(h.float(), rows)
                parts[l_idx].append(vec[vmask].cpu())
    sig = torch.tensor([pooled_variance(torch.cat(p, 0)) ** 0.5 for p in parts])
    return Regularization([s.label for s in specs], sig, target=str(target), source="reference_texts",
                          n_texts=len(texts))


def explain(
    model: torch.nn.Module,
    tokenizer: Any,
    text: Text | Sequence[Text],
    *,
    method: str | Method = "information",
    layers: Sequence[int | str] | int | str | None = None,
    target: str | int = "tokens",
    granularity: str = "word",
    layer_modules: Sequence[Any] | None = None,
    perturb_special: bool = False,
    truncation: bool = False,
    max_length: int | None = None,
    batch_size: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    max_batch: int | None = None,
    autocast: bool | None = None,
    prior_scale: float | None = None,
    reference_texts: Sequence[Text] | None = None,
    **options: Any,
) -> Result | list[Result]:
    """Explain how much of each word every requested state of a ``transformers`` model uses.

    text: a string, a (first, second) pair, or a list of either (explained in padded batches of
    ``batch_size``; returns a list).  method: a name of :func:`mi_explain.methods.available_methods`
    ("information", the default, or a baseline) or a configured :class:`~mi_explain.methods.Method`;
    ``**options`` are the method's options (information: rate, scale, regularization, n_reference, steps,
    samples, tol; baselines: see their classes).
    layers: None (all), ints (layer modules from 0; negatives from the end) and/or ``"embeddings"`` (input of
    the first layer).  layer_modules: modules to index instead of the discovered layers; ``(module,
    "input")`` captures a module's input (e.g. a classifier's input), a bare module its output.
    target: "tokens" (all positions of the state, concatenated: the paper's layer analysis), "cls"/"first",
    "last", an int position, or the model's head (models with logits, e.g. *ForSequenceClassification):
    "logits" (the logit vector) or "prediction" (the logit of the class predicted for the clean text).
    granularity: "word" (word pieces share one value; one column per word) or "token".
    max_length: the longest input in tokens (None: the model's maximum); longer texts raise unless
    ``truncation``.  prior_scale: the embeddings' spread used for information and σ's init and bounds
    (None: std of the input embedding matrix).  reference_texts: information only — estimate σ_s once from
    these texts (see :func:`estimate_regularization`).  autocast: bf16 autocast (None: on CUDA for
    "information" only).  Returns a result (:class:`~mi_explain.Explanation` for information,
    :class:`~mi_explain.results.SaliencyExplanation` for baselines) or a list of them.
    """
    check_explain_args({**locals(), **options})  # first: names the argument before any work
    m = get_method(method, **options)
    single = isinstance(text, (str, tuple))
    texts = [text] if single else list(text)
    if not texts:
        raise ValueError("no text given: nothing to explain")
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    _, dev = _model_device(model, device)
    specs = state_specs(model, layers, layer_modules, target)
    limit = _max_length(model, tokenizer, max_length)
    use_autocast = (dev.type == "cuda" and isinstance(m, Information)) if autocast is None else bool(autocast)
    common = {"seed": seed, "granularity": granularity, "perturb_special": perturb_special,
              "model": _model_name(model), "layer_modules": [s.name for s in specs], "max_length": limit}
    if prior_scale is not None:
        common["prior_scale"] = float(prior_scale)
    out: list[Result] = []
    batches = [texts[i:i + int(batch_size)] for i in range(0, len(texts), int(batch_size))]
    outer = tqdm(batches, desc="explaining", unit="batch",
                 disable=True if len(batches) == 1 else (None if progress is None else not progress))
    with frozen(model):
        if reference_texts is not None:
            if not isinstance(m, Information):
                raise ValueError(f"reference_texts sets σ_s of the information method; it does not apply to {m.name!r}")
            if m.regularization is not None:
                raise ValueError("give either regularization or reference_texts, not both")
            m = copy.copy(m)  # a configured method passed in is not changed
            m.regularization = estimate_regularization(model, tokenizer, reference_texts, layers=layers,
                                                       layer_modules=layer_modules, target=target,
                                                       granularity=granularity, max_length=limit,
                                                       autocast=use_autocast)
        for chunk in outer:
            t0 = time.perf_counter()
            batch, enc = model_batch(model, tokenizer, chunk, specs, target=target, granularity=granularity,
                                     perturb_special=perturb_special, max_length=limit, truncation=truncation,
                                     seed=seed, max_batch=max_batch, progress=progress, autocast=use_autocast,
                                     prior_scale=prior_scale)
            attr = m.attribute(batch)
            elapsed = time.perf_counter() - t0
            prior = float(batch.prior_scale[0])
            for p, item in enumerate(chunk):
                nw = len(enc.words[p])
                info = ResultInfo(
                    words=enc.words[p], layers=batch.labels, tokens=enc.tokens[p], token_to_word=enc.token_to_word[p],
                    pieces=enc.pieces[p, :nw].tolist(), embedding_dim=int(batch.x.shape[-1]), prior_scale=prior,
                    text=item, segments=enc.segments[p] if isinstance(item, tuple) else None, target=str(target),
                    options=common, diagnostics={"seconds": elapsed / len(chunk), "batch_seconds": elapsed,
                                                 "batch_size": len(chunk)})
                out.append(m.result(attr, p, info))
    if isinstance(m, Information):
        warn_unconverged(out[0].layers, [e.converged for e in out], m.config_steps())
    return out[0] if single else out


# ---------------------------------------------------------------------------------------------- functions

def function_batch(
    phi: StateFn, x: torch.Tensor, *, seed: int = 0, max_batch: int | None = None, progress: bool | None = None,
    prior_scale: float | None = None, reference_inputs: torch.Tensor | None = None,
) -> Batch:
    """A :class:`Batch` of one "text" whose words are the rows of ``x`` [n, K] and whose states are
    ``phi``'s outputs.  prior_scale: None → std of x.  Reference inputs for σ_s: ``reference_inputs``
    [M, n, K], or draws elementwise from N(mean(x), std(x)²) (64 by default)."""
    n, k = x.shape
    with torch.no_grad():
        clean, names = state_list(phi(x[None]))
    names = names or ([f"state {i}" for i in range(len(clean))] if len(clean) > 1 else ["state"])
    for nm, c in zip(names, clean):
        if c.shape[0] != 1:
            raise ValueError(f"phi must keep the batch dimension: {nm} has shape {tuple(c.shape)} for a batch of 1")
        if not torch.isfinite(c).all():
            raise ValueError(f"phi(x) is not finite for {nm}")
    prior = float(prior_scale) if prior_scale is not None else float(x.std()) if n * k > 1 else 1.0
    if not prior > 0:
        prior = float(x.abs().mean()) or 1.0
    dev = x.device

    def fn(xt: torch.Tensor, rows: torch.Tensor) -> list[torch.Tensor]:
        states, _ = state_list(phi(xt))
        return [s.reshape(s.shape[0], -1) for s in states]

    def clean_states() -> CleanStates:
        flat = [c.reshape(1, -1).float() for c in clean]
        return CleanStates(flat, torch.tensor([[c.numel() for c in flat]], dtype=torch.float32),
                           [c.shape[1:] for c in clean])

    def reference_sigma(n_reference: int, s: int) -> torch.Tensor:
        ref = reference_inputs
        if ref is None:
            gen = torch.Generator(device="cpu").manual_seed(int(s) + 7919)
            mu, sd = x.mean(0, keepdim=True).cpu(), x.std().cpu() if n * k > 1 else torch.tensor(1.0)
            ref = mu + sd * torch.randn(int(n_reference), n, k, generator=gen)
        ref = torch.as_tensor(ref, dtype=torch.float32, device=dev)
        if ref.ndim != 3 or ref.shape[1:] != x.shape:
            raise ValueError(f"reference_inputs must be [M, {n}, {k}], got {tuple(ref.shape)}")
        with torch.no_grad():
            states, _ = state_list(phi(ref))
        return torch.tensor([[pooled_variance(st.reshape(st.shape[0], -1)) ** 0.5 for st in states]])

    return Batch(fn=fn, x=x[None], word_index=torch.arange(n, device=dev)[None], n_words=n, n_states=len(clean),
                 max_batch=max_batch, seed=seed, progress=progress,
                 pieces=torch.ones(1, n, dtype=torch.long, device=dev), prior_scale=torch.tensor([prior], device=dev),
                 labels=names, target="function", clean_fn=clean_states, reference_sigma=reference_sigma,
                 reference_kind="reference_inputs" if reference_inputs is not None else "gaussian",
                 n_reference=len(reference_inputs) if reference_inputs is not None else 64)


def explain_function(
    phi: StateFn,
    x: torch.Tensor,
    *,
    method: str | Method = "information",
    words: Sequence[str] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    max_batch: int | None = None,
    prior_scale: float | None = None,
    reference_inputs: torch.Tensor | None = None,
    **options: Any,
) -> Result:
    """Explain the state(s) ``phi(x)`` by how much they use each row ("word") of ``x``, with any method.

    x: [n, K] word embeddings.  phi: maps a batch [B, n, K] to one state [B, ...], or to a sequence / dict
    of states (one row of the map each; all explained together in the same batched passes).
    method / ``**options``: as in :func:`explain` (information: rate, scale, regularization — σ_s per
    state: float, one value or broadcastable tensor per state, or None: estimated from ``reference_inputs``
    [M, n, K] or from ``n_reference`` (default 64) draws of N(mean(x), std(x)²) — steps, samples, tol).
    prior_scale: the embeddings' per-dimension spread (default: std of x).  Returns an
    :class:`~mi_explain.Explanation` with σ [n_states, n] (a SaliencyExplanation for baselines).
    """
    check_explain_function_args({**locals(), **options})
    m = get_method(method, **options)
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
    t0 = time.perf_counter()
    batch = function_batch(phi, x, seed=seed, max_batch=max_batch, progress=progress, prior_scale=prior_scale,
                           reference_inputs=reference_inputs)
    attr = m.attribute(batch)
    info = ResultInfo(words=words, layers=batch.labels, tokens=list(words), token_to_word=list(range(n)),
                      pieces=[1] * n, embedding_dim=k, prior_scale=float(batch.prior_scale[0]), text=None,
                      segments=None, target="function", options={"seed": seed},
                      diagnostics={"seconds": time.perf_counter() - t0})
    result = m.result(attr, 0, info)
    if isinstance(m, Information):
        warn_unconverged(result.layers, [result.converged], m.config_steps())
    return result


# ---------------------------------------------------------------------------------------------- benchmark access

@dataclass
class PreparedBatch:
    """Everything the estimator needs for a batch of texts (used by the benchmark script)."""

    encoded: Encoded
    states: HFStates
    problems: Problems
    clean: list[torch.Tensor]
    counts: torch.Tensor
    inv_var: list[torch.Tensor]
    sigma_s: torch.Tensor  # [P, L]
    chunk: int


def prepare_batch(
    model: torch.nn.Module, tokenizer: Any, texts: Sequence[Text], specs: Sequence[LayerSpec], *,
    target: str | int = "tokens", granularity: str = "word", perturb_special: bool = False,
    max_length: int | None = None, truncation: bool = False, regularization: Any = None, n_reference: int = 32,
    seed: int = 0, max_batch: int | None = None, autocast: bool = False,
) -> PreparedBatch:
    """Tokenize, embed, run the clean forward pass once and fix σ_s for a batch of texts — the information
    method's :meth:`~mi_explain.methods.Information.prepare` on a :func:`model_batch`."""
    batch, enc = model_batch(model, tokenizer, texts, specs, target=target, granularity=granularity,
                             perturb_special=perturb_special, max_length=max_length, truncation=truncation,
                             seed=seed, max_batch=max_batch, autocast=autocast)
    prep = Information(regularization=regularization, n_reference=n_reference).prepare(batch)
    return PreparedBatch(enc, batch.fn, prep.problems, prep.clean, prep.counts, prep.inv_var, prep.sigma_s,
                         batch.default_chunk())
