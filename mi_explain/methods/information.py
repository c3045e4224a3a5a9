"""The information method (Guan et al., ICML 2019): σ per word and state from Eq. 7, by :mod:`mi_explain.estimator`.

For a batch (:class:`~mi_explain.methods.base.Batch`) it fixes σ_s per state — given by the user, a
:class:`Regularization` estimated once on reference texts (:func:`mi_explain.estimate_regularization`),
or by default estimated per text from ``n_reference`` reference inputs — builds the estimator's
:class:`~mi_explain.estimator.Problems` (:meth:`Information.prepare`, the one place they are built) and
turns :func:`~mi_explain.estimator.optimize_sigma`'s output into one :class:`~mi_explain.Explanation` per
text (:meth:`Information.result`, the one place it is built).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..estimator import EstimatorConfig, Problems, SigmaResult, optimize_sigma
from ..hooks import layer_position
from ..regularization import as_inverse_variance
from ..results import Explanation
from .base import Attribution, Batch, Method, ResultInfo

__all__ = ["Information", "PreparedProblems", "Regularization", "UnconvergedWarning", "consistency_flags",
           "estimator_config", "sigma_diagnostics", "warn_unconverged"]


class UnconvergedWarning(UserWarning):
    """Some layer's σ map did not converge within the step cap: its values may be wrong."""


def estimator_config(
    *, rate: float = 0.1, scale: float | None = None, steps: int | None = None, samples: int | None = None,
    seed: int = 0, tol: float | None = None, max_batch: int | None = None, normalization: str = "eq7",
) -> EstimatorConfig:
    """Build an :class:`EstimatorConfig` from the user-facing options (None: the default)."""
    kw: dict[str, Any] = {"rate": rate, "scale": scale, "seed": seed, "max_batch": max_batch,
                          "normalization": normalization}
    for key, value in (("steps", steps), ("samples", samples), ("tol", tol)):
        if value is not None:
            kw[key] = value
    return EstimatorConfig(**kw)


@dataclass
class Regularization:
    """σ_s per explained state, estimated once and reusable: ``sigma_s`` [L] (units of each state) for the
    states labelled ``layers``, with the ``target`` it was measured on and where it comes from."""

    layers: list[str]
    sigma_s: torch.Tensor
    target: str = "tokens"
    source: str = "reference_texts"
    n_texts: int = 0

    def __post_init__(self) -> None:
        self.layers = [str(x) for x in self.layers]
        self.sigma_s = torch.as_tensor(self.sigma_s, dtype=torch.float32).reshape(-1)
        if len(self.sigma_s) != len(self.layers):
            raise ValueError(f"{len(self.sigma_s)} σ_s values for {len(self.layers)} layers")
        if not torch.isfinite(self.sigma_s).all() or (self.sigma_s <= 0).any():
            raise ValueError(f"σ_s must be positive and finite, got {self.sigma_s.tolist()}")

    def for_states(self, labels: Sequence[str], target: str) -> list[float]:
        """The σ_s of ``labels`` (refuses states or a target it was not estimated for)."""
        if str(target) != self.target:
            raise ValueError(f"this regularization was estimated for target={self.target!r}, not {target!r}")
        missing = [lab for lab in labels if lab not in self.layers]
        if missing:
            raise ValueError(f"the regularization has no σ_s for {missing}; it covers {self.layers}")
        return [float(self.sigma_s[self.layers.index(lab)]) for lab in labels]

    def to_dict(self) -> dict:
        return {"layers": self.layers, "sigma_s": self.sigma_s.tolist(), "target": self.target,
                "source": self.source, "n_texts": self.n_texts}


@dataclass
class PreparedProblems:
    """Everything the estimator needs for a batch: problems, clean states [P, D_l], counts [P, L],
    1/σ_s² per state and σ_s [P, L]."""

    problems: Problems
    clean: list[torch.Tensor]
    counts: torch.Tensor
    inv_var: list[torch.Tensor]
    sigma_s: torch.Tensor
    source: str = "given"
    extra: dict = field(default_factory=dict)


def sigma_diagnostics(res: SigmaResult, p: int, n_words: int) -> dict[str, Any]:
    """Problem p's diagnostics of an estimator run: standard error and drift of log σ per word ([L][W]
    lists), their per-layer maxima, the slope behind each error, the averaging windows restarted, the
    Monte-Carlo error of the reported objective, the upper bound used and the basin-check rounds."""
    se = res.stderr[p, :, :n_words].cpu()
    out: dict[str, Any] = {
        "stderr_max": se.max(-1).values.tolist() if n_words else [0.0] * se.shape[0],
        "stderr": se.tolist(),
        "drift": res.drift[p, :, :n_words].cpu().tolist(),
        "objective_se": res.objective_se[p].cpu().tolist(),
    }
    if res.upper is not None:
        out["upper_bound"] = res.upper[p].cpu().tolist()
    if res.rounds is not None:
        out["basin_rounds"] = res.rounds[p].cpu().tolist()
    if res.restarts is not None:
        out["restarts"] = res.restarts[p, :, :n_words].cpu().tolist()
    if res.slope is not None:
        out["slope"] = [[round(v, 4) for v in row] for row in res.slope[p, :, :n_words].cpu().tolist()]
    return out


def warn_unconverged(labels: Sequence[str], converged: Sequence[torch.Tensor], steps: int) -> None:
    """Warn once (per call) naming the layers that some text left unconverged at the step cap."""
    labels = list(labels)
    bad = sorted({labels[i] for c in converged for i in torch.nonzero(~c.bool()).flatten().tolist()},
                 key=labels.index)
    if bad:
        warnings.warn(f"σ did not converge within {steps} steps for {', '.join(bad)}: the values of these "
                      "layers may be wrong (see .converged and diagnostics['stderr'] / ['drift']); raise `steps` "
                      "or `tol`", UnconvergedWarning, stacklevel=3)


def consistency_flags(e: Explanation, rise: float = 0.5, word_rise: float = 1.0) -> list[dict[str, Any]]:
    """Sharp rises of information from one layer to the next (whole-layer targets of stacked layers).

    Where layer l+1 reads only layer l (stacked encoders, LSTMs), it cannot hold more of a word than layer l
    (data processing): a rise of the mean information by more than ``rise`` nats per dimension, or of a
    word's by more than ``word_rise``, means that one of the two maps is not the minimiser, or that λ sits
    where Eq. 7 is flat.  Returns one record per flagged pair of consecutive layers."""
    flags: list[dict[str, Any]] = []
    labels = list(e.layers)
    info = e.word_information
    for a in range(len(labels) - 1):
        ia, ib = layer_position(labels[a]), layer_position(labels[a + 1])
        if ia is None or ib is None or ib != ia + 1 or info.shape[1] == 0:
            continue
        d_mean = float(info[a + 1].mean() - info[a].mean())
        words = [e.words[i] for i in torch.nonzero(info[a + 1] - info[a] > word_rise).flatten().tolist()]
        if d_mean > rise or words:
            flags.append({"from": labels[a], "to": labels[a + 1], "information_rise": round(d_mean, 4),
                          "words": words})
    return flags


class Information(Method):
    """σ per word and state (the paper's Eq. 7).  Options: ``rate`` λ, ``scale`` (upper bound for σ, None:
    3 × the prior scale), ``normalization`` ("eq7" or "element_mean"), ``regularization`` σ_s (float for all
    states, one per state, per-element tensors, or a :class:`Regularization`; None: estimated per text from
    ``n_reference`` reference inputs — the batch's default number when None), ``steps``, ``samples``,
    ``tol`` (see :class:`~mi_explain.EstimatorConfig`)"""

    name = "information"
    description = "σ: std of the Gaussian noise per word the state tolerates (embedding units; small = kept)"

    def __init__(self, rate: float = 0.1, scale: float | None = None,
                 regularization: float | Sequence[Any] | Regularization | None = None,
                 n_reference: int | None = None, steps: int | None = None, samples: int | None = None,
                 tol: float | None = None, normalization: str = "eq7") -> None:
        estimator_config(rate=rate, scale=scale, steps=steps, samples=samples, tol=tol,
                         normalization=normalization)  # validates
        if n_reference is not None and int(n_reference) < 2:
            raise ValueError(f"n_reference must be ≥ 2 (σ_s is a spread over reference inputs), got {n_reference}")
        self.rate, self.scale, self.regularization = rate, scale, regularization
        self.n_reference, self.steps, self.samples, self.tol = n_reference, steps, samples, tol
        self.normalization = normalization

    def config(self, batch: Batch) -> EstimatorConfig:
        return estimator_config(rate=self.rate, scale=self.scale, steps=self.steps, samples=self.samples,
                                seed=batch.seed, tol=self.tol, max_batch=batch.default_chunk(),
                                normalization=self.normalization)

    def config_steps(self) -> int:
        """The step cap in force (for messages)."""
        return estimator_config(steps=self.steps).steps

    def options(self) -> dict[str, Any]:
        cfg = estimator_config(rate=self.rate, scale=self.scale, steps=self.steps, samples=self.samples, tol=self.tol,
                               normalization=self.normalization)
        return {"rate": self.rate, "scale": self.scale, "samples": cfg.samples, "steps": cfg.steps, "tol": cfg.tol,
                "normalization": cfg.normalization}

    def prepare(self, batch: Batch) -> PreparedProblems:
        """Fix σ_s and build the estimator's problems for ``batch`` (the one place they are built)."""
        clean = batch.clean()
        dev = batch.x.device
        n_prob = batch.x.shape[0]
        reg = self.regularization
        if isinstance(reg, Regularization):
            inv, scalars = as_inverse_variance(reg.for_states(batch.labels, batch.target), batch.n_states,
                                               clean.shapes, dev)
            sigma_s, source = torch.tensor(scalars, dtype=torch.float32)[None].expand(n_prob, -1), reg.source
        elif reg is not None:
            inv, scalars = as_inverse_variance(reg, batch.n_states, clean.shapes, dev)
            sigma_s, source = torch.tensor(scalars, dtype=torch.float32)[None].expand(n_prob, -1), "given"
        else:
            if batch.reference_sigma is None:
                raise ValueError("no regularization given and this batch cannot draw reference inputs")
            n_ref = int(self.n_reference or batch.n_reference)
            # σ_s is a property of the state and the text, not of the optimisation: its reference inputs are
            # drawn the same way whatever ``seed`` is, so maps for different seeds differ only by the optimiser
            sigma_s = batch.reference_sigma(n_ref, 0).float()  # [P, L]
            inv = [(1.0 / sigma_s[:, i:i + 1] ** 2).to(dev) for i in range(sigma_s.shape[1])]
            source = f"{batch.reference_kind}×{n_ref}"
        prior = batch.prior_scale if batch.prior_scale is not None else torch.ones(n_prob, device=dev)
        pieces = batch.pieces if batch.pieces is not None else torch.ones(n_prob, batch.n_words, dtype=torch.long,
                                                                         device=dev)
        problems = Problems(x=batch.x, word_index=batch.word_index, pieces=pieces, prior_scale=prior.to(dev),
                            seeds=batch.seeds)
        return PreparedProblems(problems, clean.states, clean.counts, inv, sigma_s.cpu(), source)

    def attribute(self, batch: Batch) -> Attribution:
        prep = self.prepare(batch)
        res = optimize_sigma(batch.fn, prep.problems, prep.clean, prep.counts, prep.inv_var, self.config(batch),
                             state_names=batch.labels or None, progress=batch.progress)
        return Attribution(values=res.sigma, objective=res.objective, converged=res.converged, steps=res.steps,
                           extra={"at_bound": res.at_bound, "stderr": res.stderr, "sigma_s": prep.sigma_s,
                                  "history": res.history, "regularization": prep.source, "result": res})

    def result(self, attr: Attribution, p: int, info: ResultInfo) -> Explanation:
        """Text p's :class:`~mi_explain.Explanation` from the estimator's output (the one place it is built)."""
        nw = len(info.words)
        diagnostics = {**info.diagnostics, **sigma_diagnostics(attr.extra["result"], p, nw)}
        if attr.values.shape[0] == 1:
            diagnostics["converged_history"] = list(attr.extra["history"])
        e = Explanation(
            words=info.words, layers=info.layers, sigma=attr.values[p, :, :nw].cpu(), tokens=info.tokens,
            token_to_word=info.token_to_word, pieces=info.pieces, embedding_dim=info.embedding_dim,
            prior_scale=info.prior_scale, objective=attr.objective[p].cpu(), converged=attr.converged[p].cpu(),
            at_bound=attr.extra["at_bound"][p, :, :nw].cpu(), steps=attr.steps,
            regularization=attr.extra["sigma_s"][p].float().cpu(), text=info.text, segments=info.segments,
            target=info.target, diagnostics=diagnostics,
            options={**self.options(), "regularization": attr.extra["regularization"], **info.options},
        )
        if info.target == "tokens":
            e.diagnostics["consistency"] = consistency_flags(e)
        return e
