"""model + tokenizer + texts → (x, word groups, phi): the HuggingFace side of an explanation.

``encode`` tokenizes (single texts or pairs), groups word pieces into words and marks special tokens
and padding as not perturbed.  ``HFStates`` turns a model and captured layers into the ``phi_rows``
function every method calls, and selects the target state of each layer (``select_target``: all
positions, the first or last one, a position, or the model's prediction: its logits or the logit of
the class it predicts for the clean text).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .hooks import LayerCapture, LayerSpec

__all__ = ["HEAD_TARGETS", "Encoded", "HFStates", "encode", "max_model_length", "select_target"]

#: targets that explain the model's output head instead of a layer: "logits" (the whole logit vector
#: [C]; for a [B, T, V] language-model head, at the last real position) and "prediction" (the logit of
#: the class the model predicts for the clean text, one number).
HEAD_TARGETS = ("logits", "prediction")

Text = str | tuple[str, str]


@dataclass
class Encoded:
    """A padded batch of P texts.

    input_ids, attention_mask, word_index: [P, T] (word_index: column of each token, -1 = not perturbed);
    pieces: [P, W]; extra: other model inputs [P, T] (token_type_ids); words/tokens/segments: per text.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_index: torch.Tensor
    pieces: torch.Tensor
    extra: dict[str, torch.Tensor]
    words: list[list[str]]
    tokens: list[list[str]]
    segments: list[list[int]]
    token_to_word: list[list[int]]


def max_model_length(model: nn.Module, tokenizer) -> int | None:  # noqa: ANN001
    """The longest input the model accepts (None if unknown)."""
    limits = []
    tl = getattr(tokenizer, "model_max_length", None)
    if isinstance(tl, int) and 0 < tl < 1_000_000:
        limits.append(tl)
    cfg = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            limits.append(v)
            break
    return min(limits) if limits else None


def _check_text(text: object, i: int) -> Text:
    parts = text if isinstance(text, tuple) else (text,)
    if isinstance(text, list):
        raise TypeError(f"text {i}: a text pair must be a tuple (first, second), not a list")
    if len(parts) not in (1, 2):
        raise ValueError(f"text {i}: a text pair must have exactly 2 parts, got {len(parts)}")
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"text {i}: expected str or a (str, str) pair, got {type(part).__name__}")
        if not part.strip():
            raise ValueError(f"text {i} is empty or whitespace only: nothing to explain")
    return text  # type: ignore[return-value]


def encode(
    tokenizer,  # noqa: ANN001
    texts: Sequence[Text],
    *,
    granularity: str = "word",
    perturb_special: bool = False,
    max_length: int | None = None,
    truncation: bool = False,
) -> Encoded:
    """Tokenize texts (or pairs) and group tokens into the columns of the σ map."""
    if granularity not in ("word", "token"):
        raise ValueError(f"granularity must be 'word' or 'token', got {granularity!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("a fast tokenizer is required (it maps word pieces to words); "
                        "load it with AutoTokenizer.from_pretrained(..., use_fast=True)")
    texts = [_check_text(t, i) for i, t in enumerate(texts)]
    firsts = [t[0] if isinstance(t, tuple) else t for t in texts]
    seconds = [t[1] if isinstance(t, tuple) else None for t in texts]
    pairs = any(s is not None for s in seconds)
    if pairs and not all(s is not None for s in seconds):
        raise ValueError("mixing single texts and text pairs in one call is not supported")
    # one call per text, padded here: works for tokenizers without a pad token (GPT-2) too
    kw = {"truncation": True, "max_length": max_length} if truncation else {}
    encs = [tokenizer(f, s, **kw) if pairs else tokenizer(f, **kw) for f, s in zip(firsts, seconds)]
    lengths = [len(e["input_ids"]) for e in encs]
    if max_length is not None:
        for i, n in enumerate(lengths):
            if n > max_length:
                raise ValueError(f"text {i} has {n} tokens, over the model's maximum of {max_length}; "
                                 "pass truncation=True to cut it")
    n_prob, n_tok = len(encs), max(lengths)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((n_prob, n_tok), int(pad_id), dtype=torch.long)
    mask = torch.zeros(n_prob, n_tok, dtype=torch.long)
    extra_keys = [k for k in encs[0].keys() if k not in ("input_ids", "attention_mask", "offset_mapping")]
    extra = {k: torch.zeros(n_prob, n_tok, dtype=torch.long) for k in extra_keys}
    word_index = torch.full((n_prob, n_tok), -1, dtype=torch.long)
    words, tokens, segments, t2w, pieces_l = [], [], [], [], []
    for b, e in enumerate(encs):
        n = lengths[b]
        ids[b, :n] = torch.tensor(e["input_ids"])
        mask[b, :n] = 1
        for k in extra_keys:
            extra[k][b, :n] = torch.tensor(e[k])
        toks = tokenizer.convert_ids_to_tokens(e["input_ids"])
        wid = e.word_ids()
        sid = e.sequence_ids()
        keys: dict[tuple, int] = {}
        w_list, seg, cnt, row = [], [], [], []
        for t in range(n):
            special = wid[t] is None
            if special and not perturb_special:
                row.append(-1)
                continue
            if special or granularity == "token":
                key: tuple = ("tok", t)
                label = toks[t]
            else:
                key = ("word", sid[t] or 0, wid[t])
                span = e.word_to_chars(wid[t], sequence_index=sid[t] or 0)
                src = firsts[b] if not sid[t] else seconds[b]
                label = src[span.start:span.end].strip() if span is not None else toks[t]
                label = label or toks[t]
            if key not in keys:
                keys[key] = len(w_list)
                w_list.append(label)
                seg.append(int(sid[t]) if sid[t] is not None else (seg[-1] if seg else 0))
                cnt.append(0)
            col = keys[key]
            cnt[col] += 1
            row.append(col)
        if not w_list:
            raise ValueError(f"text {b} has no token to perturb (only special tokens)")
        word_index[b, :n] = torch.tensor(row)
        words.append(w_list)
        segments.append(seg)
        pieces_l.append(cnt)
        t2w.append(row)
        tokens.append(toks)
    n_words = max(len(w) for w in words)
    pieces = torch.zeros(n_prob, n_words, dtype=torch.long)
    for b, cnt in enumerate(pieces_l):
        pieces[b, : len(cnt)] = torch.tensor(cnt)
    return Encoded(ids, mask, word_index, pieces, extra, words, tokens, segments, t2w)


def select_target(hidden: torch.Tensor, mask: torch.Tensor, target: str | int) -> tuple[torch.Tensor, torch.Tensor]:
    """From a layer's hidden states [B, T, H] and attention mask [B, T], the explained vectors
    [B, T', H] and their validity mask [B, T'] (T' = T for "tokens", 1 otherwise)."""
    if hidden.ndim == 2:  # a layer that already pools (e.g. a CNN branch after max-pooling)
        return hidden[:, None], torch.ones(hidden.shape[0], 1, dtype=torch.bool, device=hidden.device)
    if hidden.ndim != 3:
        raise ValueError(f"expected a layer output [batch, seq, hidden], got shape {tuple(hidden.shape)}")
    b = torch.arange(hidden.shape[0], device=hidden.device)
    one = torch.ones(hidden.shape[0], 1, dtype=torch.bool, device=hidden.device)
    m = mask.to(hidden.device).bool()
    if target in HEAD_TARGETS:  # a [B, T, V] head: the next-token prediction at the last real position
        target = "last"
    if target == "tokens":
        return hidden, m
    if target in ("cls", "first"):
        first = m.float().argmax(1)  # first real position (left padding safe)
        return hidden[b, first][:, None], one
    if target == "last":
        last = m.shape[1] - 1 - m.flip(1).float().argmax(1)
        return hidden[b, last][:, None], one
    if isinstance(target, int) and not isinstance(target, bool):
        lengths = m.sum(1)
        pos = torch.full_like(lengths, target) if target >= 0 else lengths + target
        if (pos < 0).any() or (pos >= lengths).any():
            raise IndexError(f"target position {target} is outside a text of {int(lengths.min())} tokens")
        first = m.float().argmax(1)
        return hidden[b, first + pos][:, None], one
    raise ValueError("target must be 'tokens', 'cls', 'first', 'last', an int position, 'logits' or 'prediction', "
                     f"got {target!r}")


def _rnn_backward_allowed(model: nn.Module, device: torch.device):
    """cuDNN refuses RNN backward in eval mode: use the native kernels for models with RNN layers on CUDA."""
    if device.type == "cuda" and any(isinstance(m, nn.RNNBase) for m in model.modules()):
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


class HFStates:
    """phi for the estimator: forward a batch of perturbed embeddings through ``model`` and return the
    target state of each captured layer, flattened and zeroed at padding: [B, T'·H] per layer."""

    def __init__(self, model: nn.Module, specs: Sequence[LayerSpec], encoded: Encoded, target: str | int,
                 autocast: bool = False) -> None:
        self.model = model
        self.specs = list(specs)
        self.encoded = encoded
        self.target = target
        self.autocast = autocast
        self.capture = LayerCapture(self.specs)
        self._captures: dict[tuple[int, ...], LayerCapture] = {}
        #: [P] the class each text's clean prediction picks (target "prediction"; set by ``fix_prediction``).
        self.classes: torch.Tensor | None = None
        cfg = getattr(model, "config", None)
        self.forward_kwargs = {"use_cache": False} if getattr(cfg, "use_cache", None) is not None else {}

    #: the estimator may ask for a subset of the states (``only``); the pass then stops at the last of them
    supports_only = True

    def _capture_for(self, only: Sequence[int] | None) -> LayerCapture:
        if only is None:
            return self.capture
        key = tuple(int(i) for i in only)
        if key not in self._captures:
            self._captures[key] = LayerCapture([self.specs[i] for i in key])
        return self._captures[key]

    def hidden(self, rows: torch.Tensor, only: Sequence[int] | None = None, **inputs: torch.Tensor
               ) -> list[torch.Tensor]:
        """Hidden states [B, T, H] of every captured layer (or of the layers ``only``, in that order; the
        forward pass stops after the last of them) for ``rows`` of the batch."""
        dev = rows.device
        mask = self.encoded.attention_mask.to(dev)[rows]
        extra = {k: v.to(dev)[rows] for k, v in self.encoded.extra.items()}

        def forward() -> None:
            if self.autocast:
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
                    self.model(attention_mask=mask, **extra, **inputs, **self.forward_kwargs)
            else:
                self.model(attention_mask=mask, **extra, **inputs, **self.forward_kwargs)

        capture = self._capture_for(only)
        with capture, _rnn_backward_allowed(self.model, dev):
            return capture.run(forward)

    def fix_prediction(self, hidden: list[torch.Tensor]) -> None:
        """For target "prediction": remember the class predicted from the clean logits ``hidden`` [P, C]."""
        if self.target == "prediction":
            rows = torch.arange(hidden[0].shape[0], device=hidden[0].device)
            vec, _ = select_target(hidden[0].float(), self.encoded.attention_mask.to(rows.device), "logits")
            self.classes = vec[:, 0].argmax(-1)

    def target_vectors(self, h: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The explained vectors [B, T', H] of one captured state ``h`` of ``rows`` and their mask [B, T']."""
        mask = self.encoded.attention_mask.to(h.device)[rows.to(h.device)]
        vec, vmask = select_target(h, mask, self.target)
        if self.target == "prediction":
            if self.classes is None:
                raise RuntimeError("target 'prediction' needs the clean prediction first (HFStates.fix_prediction)")
            cls = self.classes.to(h.device)[rows.to(h.device)]
            vec = vec.gather(-1, cls[:, None, None].expand(-1, vec.shape[1], 1))
        return vec, vmask

    def states(self, hidden: list[torch.Tensor], rows: torch.Tensor) -> list[torch.Tensor]:
        """Flattened target states [B, T'·H] (zero at padding) of every captured layer."""
        out = []
        for h in hidden:
            vec, vmask = self.target_vectors(h.float(), rows)
            out.append((vec * vmask[..., None]).reshape(vec.shape[0], -1))
        return out

    def __call__(self, x_tilde: torch.Tensor, rows: torch.Tensor, only: Sequence[int] | None = None
                 ) -> list[torch.Tensor]:
        """Target states of ``x_tilde`` [B, T, K] for ``rows``: every captured state, or those ``only``."""
        dtype = next(self.model.parameters()).dtype
        return self.states(self.hidden(rows, only, inputs_embeds=x_tilde.to(dtype)), rows)

    def element_counts(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        """[P, L]: real elements of each target state (the D of Eq. 7's mean)."""
        cols = []
        for h in hidden:
            vec, vmask = self.target_vectors(h, torch.arange(h.shape[0], device=h.device))
            cols.append(vmask.sum(1).float().cpu() * vec.shape[-1])
        return torch.stack(cols, 1)
