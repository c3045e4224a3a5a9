"""Meaningful perturbation (Fong & Vedaldi, ICCV 2017), moved from image pixels to word embeddings.

Fong & Vedaldi learn a mask m ∈ [0, 1] over the input that blends the image with a blurred copy,
x̃ = m ⊙ x + (1 − m) ⊙ x₀, trading the mask's size (an L1 term) against the effect on the explained
output (plus a total-variation smoothness term).  Here the "pixels" are words: one m_i per word (shared by
its pieces and embedding dimensions), x₀ a zero word embedding ("the word is absent"; ``baseline="mean"``
uses the mean word embedding of the text), and the explained output is a hidden state s rather than a class
score, so the objective is used in its preservation form — keep as little of the input as possible while
the state stays put:

    min_m  λ·mean_i m_i  +  β·mean_i |m_{i+1} − m_i|³  +  ‖Φ(x̃(m)) − s‖² / ‖Φ(x₀) − s‖²

The state error is measured relative to deleting every word (x̃ = x₀), so λ (``area``) means the same
for every layer: a word is kept if deleting it costs more than λ/n of the "delete everything" error.
(This normalisation also makes the mask unchanged when a layer is rescaled.)  m = sigmoid(θ), θ = 0
initially (m = ½), Adam (lr ``lr``) for at most ``steps`` steps; all texts × states in one batch.  The
optimisation stops early once no mask value has moved by more than ``tol`` over the last ``check`` steps
(``tol=0``: always run all ``steps``; the steps taken are reported as ``steps`` of the explanation).  Saliency = m
(1 = the state needs the word, 0 = deleting it does not matter).  ``objective``: final loss per state.

``signed=True`` (a one-unit state only, e.g. a class logit with ``target="prediction"``): Fong & Vedaldi's
preservation game for a class score — the score should stay as HIGH as possible, not merely unchanged:

    min_m  λ·mean_i m_i  +  β·mean_i |m_{i+1} − m_i|³  +  (s − Φ(x̃(m))) / |Φ(x₀) − s|

so a word that argues against the class is dropped (deleting it raises the score) instead of kept.  The
two-sided default keeps such a word too (deleting it moves the state), so its ranking is by magnitude.
"""

from __future__ import annotations

import torch

from .base import Attribution, Batch, SaliencyMethod, check_signed

__all__ = ["Perturbation"]


class Perturbation(SaliencyMethod):
    """Learned preservation mask over words (Fong & Vedaldi 2017)."""

    name = "perturbation"
    description = "preservation mask m in [0,1] (Fong & Vedaldi), x = m*x + (1-m)*baseline"
    saliency_label = "mask m (1 = kept)"

    def __init__(self, area: float = 0.5, tv: float = 0.0, steps: int = 300, lr: float = 0.1,
                 baseline: str = "zero", tol: float = 1e-3, check: int = 10, signed: bool = False) -> None:
        if not area > 0:
            raise ValueError(f"area (λ) must be positive, got {area}")
        if baseline not in ("zero", "mean"):
            raise ValueError(f"baseline must be 'zero' or 'mean', got {baseline!r}")
        if not tol >= 0 or int(check) < 1:
            raise ValueError(f"need tol ≥ 0 and check ≥ 1, got tol={tol}, check={check}")
        self.area, self.tv, self.steps, self.lr, self.baseline = float(area), float(tv), int(steps), float(lr), baseline
        self.tol, self.check = float(tol), int(check)
        self.signed = check_signed(signed, None, self.name)  # one-unit states: checked in attribute()
        if signed:
            self.description = "preservation mask m in [0,1] keeping the score high (Fong & Vedaldi's game)"
            self.saliency_label = "mask m (1 = kept; score game)"

    def options(self) -> dict:
        return {"area": self.area, "tv": self.tv, "steps": self.steps, "lr": self.lr, "baseline": self.baseline,
                "tol": self.tol, "check": self.check, "signed": self.signed}

    def attribute(self, batch: Batch) -> Attribution:
        p, t, k = batch.x.shape
        n_l, n_w = batch.n_states, batch.n_words
        dev = batch.x.device
        words = batch.word_index >= 0  # [P, T]
        if self.baseline == "zero":
            x0 = torch.zeros_like(batch.x)
        else:
            mean = (batch.x * words[..., None]).sum(1, keepdim=True) / words.sum(1).clamp(min=1)[:, None, None]
            x0 = mean.expand_as(batch.x)
        x0 = torch.where(words[..., None], x0, batch.x)  # special tokens / padding are never perturbed
        real = torch.zeros(p, n_w, dtype=torch.bool, device=dev)
        real.scatter_(1, batch.word_index.clamp(min=0), words)
        mask_loss = torch.zeros(batch.n_rows(), device=dev)
        theta = torch.zeros(batch.n_rows(), n_w, device=dev, requires_grad=True)
        opt = torch.optim.Adam([theta], lr=self.lr)
        chunks = list(batch.chunks())
        with torch.no_grad():
            clean, scale = [], []
            for _rows, texts, which, _ in chunks:
                states = batch.fn(batch.x[texts], texts)
                if self.signed and any(st.shape[1] != 1 for st in states):
                    raise ValueError("perturbation: signed=True needs one-unit states (a class score, e.g. "
                                     "target='prediction'); got states of "
                                     f"{sorted({int(st.shape[1]) for st in states})} units")
                s = self._pick(states, which)
                s0 = self._pick(batch.fn(x0[texts], texts), which)
                clean.append(s)
                if self.signed:
                    scale.append((s0 - s).abs().sum(-1).clamp(min=1e-6))
                else:
                    scale.append(((s0 - s) ** 2).sum(-1).clamp(min=1e-12))
        taken, last = 0, torch.sigmoid(theta.detach()).clone()
        for step in range(self.steps):
            opt.zero_grad()
            for c, (rows, texts, which, _) in enumerate(chunks):
                m = torch.sigmoid(theta[rows])  # [B, W]
                m_tok = torch.where(words[texts], m.gather(1, batch.word_index[texts].clamp(min=0)),
                                    torch.ones(len(rows), t, device=dev))
                xt = x0[texts] + m_tok[..., None] * (batch.x[texts] - x0[texts])
                now_s = self._pick(batch.fn(xt, texts), which)
                if self.signed:  # the score's drop (negative when x̃ scores higher), relative to deleting all
                    err = (clean[c] - now_s).sum(-1) / scale[c]
                else:
                    err = ((now_s - clean[c]) ** 2).sum(-1) / scale[c]
                r = real[texts].float()
                n = r.sum(1).clamp(min=1)
                loss = self.area * (m * r).sum(1) / n + err
                if self.tv > 0 and n_w > 1:
                    pair = r[:, 1:] * r[:, :-1]
                    loss = loss + self.tv * ((m[:, 1:] - m[:, :-1]).abs() ** 3 * pair).sum(1) / n
                loss.sum().backward()
                mask_loss[rows] = loss.detach()
            opt.step()
            taken = step + 1
            if self.tol > 0 and taken % self.check == 0:
                now = torch.sigmoid(theta.detach())
                if float(((now - last) * real.repeat_interleave(n_l, 0)).abs().max()) <= self.tol:
                    break
                last = now.clone()
        m = torch.sigmoid(theta.detach()).view(p, n_l, n_w) * real[:, None]
        return Attribution(values=m, objective=mask_loss.view(p, n_l).cpu(), steps=taken)

    @staticmethod
    def _pick(states: list[torch.Tensor], which: torch.Tensor) -> torch.Tensor:
        """Row b's own state: pads states to one width and gathers state ``which[b]`` → [B, D_max]."""
        d = max(s.shape[1] for s in states)
        stacked = torch.stack([torch.nn.functional.pad(s.float(), (0, d - s.shape[1])) for s in states], 1)
        return stacked[torch.arange(stacked.shape[0], device=stacked.device), which.to(stacked.device)]
