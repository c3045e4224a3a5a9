"""Layer-wise relevance propagation (LRP-ε) for Transformers, LSTMs and CNNs, as a modified gradient.

Relevance is computed as *gradient × input on a network whose backward pass is modified* — the
formulation of LRP used by Ancona et al. (ICLR 2018, "Towards better understanding of gradient-based
attribution methods", Prop. 1: ε-LRP = gradient × input with each nonlinearity's derivative replaced by
g(z)/z) and by Ali et al. (ICML 2022, "XAI for Transformers: better explanations through conservative
propagation").  The forward pass is unchanged; only the backward pass of the operations below is
rewritten, by a :class:`torch.overrides.TorchFunctionMode` that is active while the state is computed.
Relevance at the word embeddings is ``x ⊙ ∂̃(Σ_d seed_d·s_d)/∂x``; with ε = 0 and no biases it sums
exactly to ``Σ_d seed_d·s_d`` (conservation; biases absorb their share otherwise).

Rules (``z``: the operation's input/pre-activation, ``g``: the modified gradient):

==============================================  =====================================================
operation                                       rule
==============================================  =====================================================
``F.linear`` (``nn.Linear``), ``F.conv1d/2d``     ε-rule (Bach et al. 2015): ``R_x = x ⊙ Wᵀ(R_z/(z+ε·sign z))``
elementwise activations f with f(0)=0: ReLU,     identity rule: relevance passes unchanged (∂ → f(z)/z,
GELU (all variants), tanh, SiLU, ELU, Mish, …     Ancona et al. 2018)
``F.layer_norm`` / ``F.rms_norm``,               LN-rule (Ali et al. 2022): the normaliser
``sqrt``/``rsqrt``/``reciprocal``/``norm``          1/√(var+eps) is a constant; centring stays linear
softmax (attention weights),                     AH-rule (Ali et al. 2022): attention probabilities are
``F.scaled_dot_product_attention``                constants, so relevance flows through the values only
``sigmoid``                                      a gate: a constant weight (Arras et al. 2017)
                                                 (so explain logits or hidden states, not probabilities)
elementwise product a ⊙ b of two input-dependent  product rule (Arras et al. 2017, signal-take-all, as for
tensors (GLU / SwiGLU / GeGLU gating outside     the LSTM gates): the factor produced by an elementwise
``nn.LSTM``)                                     activation (SiLU, GELU, tanh … module or function) is the
                                                 gate and a constant weight, the other factor (the
                                                 "signal") receives all the relevance.  When neither or
                                                 both factors are activation outputs the rule is
                                                 ambiguous: relevance reaching such a product raises
                                                 :class:`LRPUnsupportedError` (at the backward pass, so
                                                 products whose relevance is never used, e.g. q·k under a
                                                 detached softmax, are harmless)
``nn.LSTM`` (packed or padded, uni-/bidirectional,  Arras et al. 2017 ("Explaining recurrent neural network
any number of layers)                            predictions in sentiment analysis"): gates i, f, o are
                                                 weights, relevance goes to c_{t-1} and to the cell
                                                 input g in proportion (signal-take-all); ε-rule on
                                                 the cell input's linear map
max / max-pooling, dropout (eval), residual      plain gradient: winner-take-all / identity / linear
additions, reshapes, concatenation, embeddings
==============================================  =====================================================

Unsupported, with an :class:`LRPUnsupportedError` naming the operation and the module chain it was
called from: ``nn.GRU``, ``nn.RNN``, ``nn.LSTM`` with ``proj_size``, ``nn.MultiheadAttention``
(``F.multi_head_attention_forward``), group norm, the product of two input-dependent tensors neither (or
both) of which is an activation output (see above), in-place such products, and exp / log / pow / erf /
softplus … applied to a tensor on the relevance path outside an elementwise activation module.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .base import (
    Attribution,
    Batch,
    Readout,
    SaliencyMethod,
    accumulate,
    check_signed,
    combine,
    resolve_reduction,
    words_sum,
)

__all__ = ["LRP", "LRPMode", "LRPUnsupportedError", "lstm_lrp"]


class LRPUnsupportedError(NotImplementedError):
    """The model uses an operation for which the LRP rules here have no relevance rule."""


class _RefusedProduct(torch.autograd.Function):
    """a ⊙ b in the forward pass; the backward pass (reached only if relevance flows through it) refuses."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, where: str) -> torch.Tensor:  # noqa: ANN001
        ctx.where = where
        return a * b

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        raise LRPUnsupportedError(
            "LRP has no relevance rule for the elementwise product of two input-dependent tensors when neither "
            f"(or both) is the output of an activation (called in {ctx.where}); the product rule (Arras et al. "
            "2017) needs to know which factor is the gate: compute the gate with an activation module "
            "(nn.SiLU, nn.GELU, torch.sigmoid …) and multiply it with the signal")


def _requires_grad(args: Sequence, kwargs: dict) -> bool:
    for a in list(args) + list(kwargs.values()):
        if torch.is_tensor(a) and a.requires_grad:
            return True
        if isinstance(a, (list, tuple)) and any(torch.is_tensor(t) and t.requires_grad for t in a):
            return True
    return False


def stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """Identity in the forward pass; the backward pass multiplies the gradient by z/(z + ε·sign z)
    (the ε-rule's stabilised denominator of the following relevance division)."""
    if eps == 0 or not z.requires_grad:
        return z
    sign = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
    factor = (z / (z + eps * sign)).detach()
    zd = z.detach()
    return zd + (z - zd) * factor


def identity_rule(z: torch.Tensor, fz: torch.Tensor) -> torch.Tensor:
    """fz = f(z) in the forward pass; the backward pass uses f(z)/z instead of f'(z), so the relevance
    z·g arriving at z equals the relevance f(z)·g leaving it (relevance passes unchanged)."""
    if not z.requires_grad:
        return fz
    zd = z.detach()
    safe = torch.where(zd.abs() > 1e-12, zd, torch.ones_like(zd))
    ratio = torch.where(zd.abs() > 1e-12, fz.detach() / safe, torch.zeros_like(zd))
    return fz.detach() + (z - zd) * ratio


def _ln_rule(x: torch.Tensor, normalized_shape: Sequence[int], weight: torch.Tensor | None,
             bias: torch.Tensor | None, eps: float, center: bool = True) -> torch.Tensor:
    dims = tuple(range(-len(normalized_shape), 0))
    if center:
        xc = x - x.mean(dims, keepdim=True)
        denom = torch.sqrt(xc.detach().pow(2).mean(dims, keepdim=True) + eps)
    else:
        xc = x
        denom = torch.sqrt(x.detach().pow(2).mean(dims, keepdim=True) + eps)
    y = xc / denom
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _sdpa_rule(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
               dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
               enable_gqa: bool = False) -> torch.Tensor:
    """scaled_dot_product_attention with the attention probabilities detached (AH-rule)."""
    if dropout_p:
        raise LRPUnsupportedError("LRP needs the model in eval mode: scaled_dot_product_attention with dropout_p > 0")
    with torch.no_grad():
        q, k = query.detach(), key.detach()
        if enable_gqa and k.shape[-3] != q.shape[-3]:
            k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
        s = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
        scores = (q @ k.transpose(-2, -1)) * s
        n_q, n_k = scores.shape[-2], scores.shape[-1]
        if is_causal:
            causal = torch.ones(n_q, n_k, dtype=torch.bool, device=scores.device).tril()
            scores = scores.masked_fill(~causal, float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask
        probs = torch.softmax(scores.float(), -1).to(value.dtype)
        probs = torch.nan_to_num(probs, nan=0.0)  # fully masked rows
    v = value
    if enable_gqa and v.shape[-3] != probs.shape[-3]:
        v = v.repeat_interleave(probs.shape[-3] // v.shape[-3], dim=-3)
    return probs @ v


# ---------------------------------------------------------------------------------------------- LSTM

def _lstm_direction(x: torch.Tensor, lengths: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                    w_ih: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor | None, eps: float,
                    reverse: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One direction of one layer over time-major x [T, B, I] with per-row lengths [B]; returns the
    outputs [T, B, H] (0 past a row's length) and the final (h, c) [B, H]."""
    n_t = x.shape[0]
    t_idx = torch.arange(n_t, device=x.device)[:, None]
    active = t_idx < lengths.to(x.device)[None]  # [T, B]
    if reverse:  # reverse each row within its own length
        src = (lengths.to(x.device)[None] - 1 - t_idx).clamp(min=0)  # [T, B]
        x = torch.gather(x, 0, src[..., None].expand_as(x))
    pre = F.linear(x, w_ih, b)  # [T, B, 4H]: the input part of every step at once
    outs = []
    for t in range(n_t):
        z = stabilize(pre[t] + F.linear(h, w_hh), eps)
        zi, zf, zg, zo = z.chunk(4, -1)
        i, f, o = torch.sigmoid(zi).detach(), torch.sigmoid(zf).detach(), torch.sigmoid(zo).detach()
        g = identity_rule(zg, torch.tanh(zg))
        c_new = f * c + i * g
        h_new = o * identity_rule(c_new, torch.tanh(c_new))
        m = active[t][:, None]
        h = torch.where(m, h_new, h)
        c = torch.where(m, c_new, c)
        outs.append(torch.where(m, h_new, torch.zeros_like(h_new)))
    out = torch.stack(outs)
    if reverse:
        out = torch.gather(out, 0, src[..., None].expand_as(out)) * active[..., None]
    return out, h, c


def lstm_lrp(args: tuple, kwargs: dict, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.lstm`` (what ``nn.LSTM`` calls) with the LRP rules of Arras et al. (2017); same outputs."""
    packed = torch.is_tensor(args[1])
    if packed:  # (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidirectional)
        data, batch_sizes, hx, params, has_biases, num_layers, _, train, bidirectional = args[:9]
        batch_first = False
    else:  # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        data, hx, params, has_biases, num_layers, _, train, bidirectional, batch_first = args[:9]
    if train:
        raise LRPUnsupportedError("LRP needs the model in eval mode (nn.LSTM in training mode applies dropout)")
    n_dir = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    if len(params) != per * num_layers * n_dir:
        raise LRPUnsupportedError("LRP has no rule for nn.LSTM with proj_size > 0")
    h0, c0 = hx
    if packed:
        bs = batch_sizes.cpu()
        n_t, n_b = len(bs), int(bs[0])
        lengths = torch.tensor([int((bs > r).sum()) for r in range(n_b)])
        x = data.new_zeros(n_t, n_b, data.shape[-1])
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), bs.cumsum(0)])
        rows = [data[offsets[t]:offsets[t + 1]] for t in range(n_t)]
        x = torch.stack([torch.cat([r, data.new_zeros(n_b - r.shape[0], data.shape[-1])]) for r in rows])
    else:
        x = data.transpose(0, 1) if batch_first else data
        lengths = torch.full((x.shape[1],), x.shape[0], dtype=torch.long)
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(n_dir):
            k = (layer * n_dir + d) * per
            w_ih, w_hh = params[k], params[k + 1]
            b = params[k + 2] + params[k + 3] if has_biases else None
            idx = layer * n_dir + d
            out, h, c = _lstm_direction(x, lengths, h0[idx], c0[idx], w_ih, w_hh, b, eps, reverse=d == 1)
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = torch.cat(outs, -1)
    h_n_t, c_n_t = torch.stack(h_n), torch.stack(c_n)
    if packed:
        out = torch.cat([x[t, :int(bs[t])] for t in range(len(bs))])
    else:
        out = x.transpose(0, 1) if batch_first else x
    return out, h_n_t, c_n_t


# ---------------------------------------------------------------------------------------------- the mode

def _activation_classes() -> tuple[type, ...]:
    classes: list[type] = [nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.Tanh, nn.SiLU, nn.ELU, nn.SELU,
                           nn.CELU, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Identity]
    try:  # transformers' activation modules (GELUActivation, NewGELUActivation, …) when available
        from transformers import activations as hf_act

        for name in ("GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation",
                     "ClippedGELUActivation", "AccurateGELUActivation", "GELUTanh", "PytorchGELUTanh",
                     "SiLUActivation", "MishActivation", "LinearActivation", "ReLUSquaredActivation"):
            cls = getattr(hf_act, name, None)
            if isinstance(cls, type):
                classes.append(cls)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


_ACTIVATIONS = _activation_classes()

_LINEAR = {"linear", "conv1d", "conv2d", "conv3d"}
_IDENTITY = {"gelu", "tanh", "tanh_", "silu", "elu", "selu", "celu", "leaky_relu", "mish", "hardswish", "hardtanh",
             "relu", "relu_", "relu6", "prelu"}
_GATES = {"sigmoid", "sigmoid_"}
_SOFTMAX = {"softmax", "_softmax", "log_softmax"}
_PRODUCTS = {"mul", "__mul__", "__rmul__", "multiply"}
_INPLACE_PRODUCTS = {"mul_", "__imul__", "multiply_"}
_NORMALISERS = {"sqrt", "rsqrt", "reciprocal", "norm", "linalg_vector_norm", "vector_norm", "std", "var"}
_NO_RULE = {"exp", "exp_", "log", "log_", "log1p", "pow", "pow_", "__pow__", "__rpow__", "square", "erf", "erfc",
            "softplus", "sin", "cos", "atan", "atan2", "logsigmoid", "group_norm", "batch_norm_stats",
            "__truediv__", "div", "true_divide", "__rtruediv__"}
_RNN = {"gru": "nn.GRU (GRU cells)", "gru_cell": "nn.GRUCell", "rnn_tanh": "nn.RNN (tanh cells)",
        "rnn_relu": "nn.RNN (ReLU cells)", "multi_head_attention_forward": "nn.MultiheadAttention "
        "(F.multi_head_attention_forward; write attention with F.scaled_dot_product_attention or softmax)"}


class LRPMode(TorchFunctionMode):
    """While active, the forward pass is unchanged and the backward pass implements LRP-ε (module docstring).

    ``epsilon``: the ε of the ε-rule (absolute, in the units of each layer's pre-activations).
    """

    def __init__(self, epsilon: float = 1e-3) -> None:
        super().__init__()
        if not (epsilon >= 0 and math.isfinite(epsilon)):
            raise ValueError(f"epsilon must be a finite number ≥ 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self._stack: list[nn.Module] = []
        self._handles: list = []
        self._act_depth = 0
        self._gates: dict[int, weakref.ref] = {}

    # module chain, for error messages and the activation-module rule
    def _pre(self, module: nn.Module, args: tuple) -> None:
        self._stack.append(module)
        if isinstance(module, _ACTIVATIONS):
            self._act_depth += 1

    def _post(self, module: nn.Module, args: tuple, output: object) -> object:
        while self._stack:
            top = self._stack.pop()
            if isinstance(top, _ACTIVATIONS):
                self._act_depth -= 1
            if top is module:
                break
        if isinstance(module, _ACTIVATIONS) and self._act_depth == 0 and args and torch.is_tensor(args[0]) \
                and torch.is_tensor(output) and output.shape == args[0].shape:
            return self._gate(identity_rule(args[0], output))
        return None

    # product rule: outputs of elementwise activations are the gates of a product
    def _gate(self, t: torch.Tensor) -> torch.Tensor:
        self._gates[id(t)] = weakref.ref(t)
        return t

    def _is_gate(self, t: torch.Tensor) -> bool:
        ref = self._gates.get(id(t))
        return ref is not None and ref() is t

    def _product(self, name: str, args: tuple, kwargs: dict, func: Callable):
        a = args[0]
        b = args[1] if len(args) > 1 else kwargs.get("other")
        def relevant(t: object) -> bool:  # parameters are weights, not input-dependent factors
            return torch.is_tensor(t) and t.requires_grad and not isinstance(t, nn.Parameter)

        if not (relevant(a) and relevant(b)):
            return func(*args, **kwargs)  # a product with a constant or a weight is linear
        if name in _INPLACE_PRODUCTS:
            raise LRPUnsupportedError(f"LRP has no rule for the in-place product {name} of two input-dependent "
                                      f"tensors (called in {self.where()}); write it out of place (a * b)")
        ga, gb = self._is_gate(a), self._is_gate(b)
        if ga and not gb:
            return a.detach() * b
        if gb and not ga:
            return a * b.detach()
        return _RefusedProduct.apply(a, b, self.where())

    def where(self) -> str:
        return " > ".join(type(m).__name__ for m in self._stack) or "the top level"

    def reset(self) -> None:
        """Forget the module chain (after a forward pass stopped early by an exception)."""
        self._stack.clear()
        self._act_depth = 0
        self._gates.clear()

    def __enter__(self) -> LRPMode:
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        self.reset()
        self._handles = [register_module_forward_pre_hook(self._pre), register_module_forward_hook(self._post)]
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self.reset()
        return super().__exit__(*exc)

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if self._act_depth > 0 or name in ("__get__", "__set__") or not _requires_grad(args, kwargs):
            return func(*args, **kwargs)
        if name in _LINEAR:
            return stabilize(func(*args, **kwargs), self.epsilon)
        if name in _IDENTITY:
            return self._gate(identity_rule(args[0], func(*args, **kwargs)))
        if name in _PRODUCTS or name in _INPLACE_PRODUCTS:
            return self._product(name, args, kwargs, func)
        if name in _GATES or name in _SOFTMAX or name in _NORMALISERS:
            return func(*args, **kwargs).detach()
        if name == "layer_norm":
            return _ln_rule(*_bind(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"),
                                   {"weight": None, "bias": None, "eps": 1e-5}))
        if name == "rms_norm":
            x, shape, weight, eps = _bind(args, kwargs, ("input", "normalized_shape", "weight", "eps"),
                                          {"weight": None, "eps": None})
            eps = torch.finfo(x.dtype).eps if eps is None else eps
            return _ln_rule(x, shape, weight, None, eps, center=False)
        if name == "scaled_dot_product_attention":
            return _sdpa_rule(*args, **kwargs)
        if name == "lstm":
            return lstm_lrp(args, kwargs, self.epsilon)
        if name in _RNN:
            raise LRPUnsupportedError(f"LRP has no rule for {_RNN[name]} (called in {self.where()}); supported: "
                                      "Linear/Conv, LayerNorm/RMSNorm, softmax and scaled-dot-product attention, "
                                      "LSTM, elementwise activations, pooling")
        if name in _NO_RULE:
            # division by a constant (or by a detached normaliser) is linear: only tensor ÷ relevant tensor is not
            if name in ("__truediv__", "div", "true_divide") and not (torch.is_tensor(args[1]) and
                                                                      args[1].requires_grad):
                return func(*args, **kwargs)
            raise LRPUnsupportedError(f"LRP has no relevance rule for torch.{name} on a tensor that depends on the "
                                      f"input (called in {self.where()}); write it as an activation module or "
                                      "with nn.LayerNorm / F.scaled_dot_product_attention")
        return func(*args, **kwargs)


def _bind(args: tuple, kwargs: dict, names: tuple[str, ...], defaults: dict) -> tuple:
    vals = dict(zip(names, args))
    for k, v in kwargs.items():
        vals[k] = v
    return tuple(vals[n] if n in vals else defaults[n] for n in names)


# ---------------------------------------------------------------------------------------------- the method

class LRP(SaliencyMethod):
    """LRP-ε relevance of each word for the state (module docstring).  Word saliency = |Σ_{k, pieces} R_{i,k}|,
    the absolute relevance of the word embedding, as Ding et al. (2017) visualise it.  The relevance put in at
    the state is R_d = s_d·∂S/∂s_d for the read-out S of the state (``"sum"``: R = s; ``"norm"``: R = s²/‖s‖;
    ``"vector"``: per unit, combined over units by the Euclidean norm, see :mod:`mi_explain.methods.base`).
    ``diagnostics["lrp_conservation"]``: Σ_words R / Σ_d R_d per state (the least-squares slope over read-outs;
    1 without biases and ε = 0, less when biases, position embeddings or special tokens hold relevance).
    ``signed=True`` (a scalar read-out only): Σ_{k, pieces} R_{i,k} with its sign (positive = evidence for S)."""

    name = "lrp"
    description = "|sum over the word's embedding dims of LRP-epsilon relevance| (modified gradient x input)"
    saliency_label = "|Σ R| (LRP-ε)"

    def __init__(self, reduction: str | Callable = "vector", projections: int = 16, epsilon: float = 1e-3,
                 signed: bool = False) -> None:
        self.readout = resolve_reduction(reduction, projections)
        self.signed = check_signed(signed, self.readout, self.name)
        if self.signed:
            self.description = "sum over the word's embedding dims of LRP-epsilon relevance, signed"
            self.saliency_label = "Σ R (LRP-ε, signed)"
        LRPMode(epsilon)  # validates
        self.epsilon = float(epsilon)

    def options(self) -> dict:
        return {"reduction": self.readout.name, "projections": self.readout.projections, "epsilon": self.epsilon,
                "signed": self.signed}

    def relevance(self, batch: Batch, texts: torch.Tensor, which: torch.Tensor, proj: torch.Tensor,
                  readout: Readout) -> tuple[torch.Tensor, torch.Tensor]:
        """Relevance at the word embeddings [B, T, K] of rows (texts, states, read-outs of ``readout``) and the
        relevance put in at the state [B]."""
        xr = batch.x[texts].clone().requires_grad_(True)
        mode = LRPMode(self.epsilon)
        with torch.enable_grad():
            with mode:
                states = list(batch.fn(xr, texts))
            seeds = batch.relevance_seeds(readout, states, which, proj)
            total_in = sum((g.float() * s.detach().float()).sum(-1) for g, s in zip(seeds, states))
            (grad,) = torch.autograd.grad(states, xr, grad_outputs=seeds, allow_unused=True)
        rel = (xr.detach() * grad).float() if grad is not None else torch.zeros_like(xr)
        return rel, total_in

    def attribute(self, batch: Batch) -> Attribution:
        p, _, _ = batch.x.shape
        n_pl = p * batch.n_states
        squares = torch.zeros(n_pl, batch.n_words, device=batch.x.device)
        # conservation: slope of Σ_words R on R_in, accumulated on the device (one host copy at the end)
        num, den = torch.zeros(n_pl, device=batch.x.device), torch.zeros(n_pl, device=batch.x.device)
        readout = batch.readout_for(self.readout)
        for rows, texts, which, proj in batch.chunks(readout):
            rel, total_in = self.relevance(batch, texts, which, proj, readout)
            w = words_sum(rel.sum(-1)[:, None], batch.word_index[texts], batch.n_words)[:, 0]
            pl = rows // readout.projections
            accumulate(squares, pl, w, self.signed)
            num.index_add_(0, pl, w.sum(-1) * total_in)
            den.index_add_(0, pl, total_in ** 2)
        cons = (num / den.clamp(min=1e-30)).view(p, batch.n_states).cpu()
        return Attribution(values=combine(squares, readout, p, batch.n_states, self.signed),
                           diagnostics=[{"lrp_conservation": cons[i].tolist()} for i in range(p)])
