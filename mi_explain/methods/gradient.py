"""Gradient saliency (Li et al., NAACL 2016 / arXiv 2015) and integrated gradients (Sundararajan et al.,
ICML 2017), both computed with captum on the state function.

* ``gradient``: saliency of word i = mean over its embedding dimensions (all its word pieces × K) of
  |∂S/∂x_{i,k}| (captum ``Saliency``).  With the default ``reduction="vector"`` the |·| of the vector
  derivative ∂s/∂x_{i,k} is its Euclidean norm over the state's units (see :mod:`mi_explain.methods.base`).
  Units: state units per embedding unit.
* ``integrated_gradients``: a_{i,k} = (x_{i,k} − x'_{i,k})·∫₀¹ ∂S/∂x_{i,k}(x' + α(x − x')) dα (captum, Gauss–
  Legendre, ``n_steps`` points) from x' = zero word embeddings (special tokens and padding keep theirs, so
  they get no attribution); word saliency |Σ_{k, pieces} a_{i,k}|, the magnitude of the word's share of
  S(x) − S(x') (``"vector"``: the norm over units of these shares).  ``signed=True`` (a scalar read-out
  only): the share Σ_{k, pieces} a_{i,k} itself, positive where the word raises S — ferret's convention, in
  which words are ranked from the most positive down (for the logit of the predicted class: the evidence
  for the prediction first, the evidence against it last).  ``diagnostics["ig_delta"]``: captum's
  completeness error relative to |S(x) − S(x')|, the largest over read-outs, per state.
"""

from __future__ import annotations

import torch

from .base import (
    Attribution,
    Batch,
    Reduction,
    SaliencyMethod,
    accumulate,
    check_signed,
    combine,
    resolve_reduction,
    words_mean,
    words_sum,
)

__all__ = ["Gradient", "IntegratedGradients"]


class Gradient(SaliencyMethod):
    """|∂S/∂x| averaged over each word's embedding dimensions (Li et al.; captum ``Saliency``)."""

    name = "gradient"
    description = "mean over the word's embedding dims of |dS/dx| (|.|: norm over the state's units for 'vector')"
    saliency_label = "|∂s/∂x| (mean over dims)"

    def __init__(self, reduction: str | Reduction = "vector", projections: int = 16) -> None:
        self.readout = resolve_reduction(reduction, projections)

    def options(self) -> dict:
        return {"reduction": self.readout.name, "projections": self.readout.projections}

    def attribute(self, batch: Batch) -> Attribution:
        from captum.attr import Saliency

        p, t, k = batch.x.shape
        readout = batch.readout_for(self.readout)
        forward = batch.scalar(readout)
        squares = torch.zeros(p * batch.n_states, t, k, device=batch.x.device)
        for rows, texts, which, proj in batch.chunks(readout):
            g = Saliency(forward).attribute(batch.x[texts].clone().requires_grad_(True), abs=False,
                                            additional_forward_args=(texts, which, proj))
            squares.index_add_(0, rows // readout.projections, g.detach().float() ** 2)
        tok = combine(squares, readout, p, batch.n_states).mean(-1)  # [P, L, T]
        return Attribution(values=words_mean(tok, batch.word_index, batch.n_words))


class IntegratedGradients(SaliencyMethod):
    """Integrated gradients from zero word embeddings (captum ``IntegratedGradients``)."""

    name = "integrated_gradients"
    description = "|sum over the word's embedding dims of IG attribution| (zero-embedding baseline)"
    saliency_label = "|Σ IG| (per word)"

    def __init__(self, reduction: str | Reduction = "vector", projections: int = 16, n_steps: int = 16,
                 method: str = "gausslegendre", signed: bool = False) -> None:
        self.readout = resolve_reduction(reduction, projections)
        self.signed = check_signed(signed, self.readout, self.name)
        if self.signed:
            self.description = "sum over the word's embedding dims of IG attribution, signed (zero-embedding baseline)"
            self.saliency_label = "Σ IG (per word, signed)"
        if int(n_steps) < 1:
            raise ValueError(f"n_steps must be ≥ 1, got {n_steps}")
        self.n_steps = int(n_steps)
        self.method = method

    def options(self) -> dict:
        return {"reduction": self.readout.name, "projections": self.readout.projections, "n_steps": self.n_steps,
                "ig_method": self.method, "signed": self.signed}

    def attribute(self, batch: Batch) -> Attribution:
        from captum.attr import IntegratedGradients as CaptumIG

        p, t, _ = batch.x.shape
        n_pl = p * batch.n_states
        readout = batch.readout_for(self.readout)
        forward = batch.scalar(readout)
        keep = (batch.word_index < 0)[..., None].to(batch.x.dtype)  # special tokens / padding: not attributed
        baseline = batch.x * keep
        squares = torch.zeros(n_pl, batch.n_words, device=batch.x.device)
        rel_delta = torch.zeros(n_pl, device=batch.x.device)  # one host copy at the end
        rows_per_chunk = max(1, batch.default_chunk() // self.n_steps)  # captum runs rows × n_steps at once
        for rows, texts, which, proj in batch.chunks(readout, max_batch=rows_per_chunk):
            xr = batch.x[texts].clone()
            # all n_steps interpolation points of all rows in one forward/backward pass (captum expands them);
            # the completeness gap is computed once here rather than again inside captum
            a = CaptumIG(forward).attribute(
                xr, baselines=baseline[texts], additional_forward_args=(texts, which, proj), n_steps=self.n_steps,
                method=self.method)
            w = words_sum(a.detach().float().sum(-1)[:, None], batch.word_index[texts], batch.n_words)[:, 0]
            pl = rows // readout.projections
            accumulate(squares, pl, w, self.signed)
            with torch.no_grad():
                signed = forward(xr, texts, which, proj) - forward(baseline[texts], texts, which, proj)
            delta = a.detach().float().flatten(1).sum(1) - signed.float()  # Σ attributions − (S(x) − S(x₀))
            rel = delta.abs() / signed.abs().float().clamp(min=1e-12)
            rel_delta.scatter_reduce_(0, pl, rel, reduce="amax")
        sal = combine(squares, readout, p, batch.n_states, self.signed)
        rel = rel_delta.view(p, batch.n_states).cpu()
        return Attribution(values=sal, steps=self.n_steps,
                           diagnostics=[{"ig_delta": rel[i].tolist()} for i in range(p)])
