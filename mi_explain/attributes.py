r"""Word attributes (Guan et al., ICML 2019, Sec. 3.3, Eq. 8–9): which concepts of a word a layer uses.

Given an :class:`~mi_explain.Explanation` (σ per layer and word), a word ``x_i`` of its
sentence and concepts ``c`` given as word lists, we compute for every layer

* ``A_i   = log p(x_i|s) − E_{x'∈V} log p(x'|s)``          (Eq. 8: the word vs. random words)
* ``A_c   = E_{x'∈c} log p(x'|s) − E_{x'∈V} log p(x'|s)``  (Eq. 9: the concept's words vs. random words)
* ``r_i,c = A_i − A_c``  the information of ``x_i`` that remains once the common attribute ``c`` is removed.

**The density.**  The explanation learned, per layer, Gaussian noise ``ε_i ~ N(0, σ_i² I)`` on each of the
``P`` word-piece embeddings of word ``i`` (one σ_i shared by its pieces; Eq. 5–7), so
``p(x̃_i|s) = N(x_i, σ_i² I_{K_i})`` with ``K_i = P·K``:

    log p(x'|s) = −K_i/2 · log(2π σ_i²) − ‖x' − x_i‖² / (2 σ_i²)

**Words with several pieces.**  With ``granularity="word"`` a word split into ``P`` pieces is one unit
``x_i = (x_{i,1}, …, x_{i,P})`` of ``K_i = P·K`` dimensions sharing one σ_i.  A candidate word ``x'`` may
be split into a different number ``Q`` of pieces (``unhappiness`` is 4 pieces for MiniLM, ``sadness`` 1),
so it has to be placed in the same ``P·K``-dimensional space.  Two rules, each applied alike to the word
itself and to every candidate (the word itself always lands exactly on ``x_i``, the density's maximum):

* ``pieces="align"`` (default): stretch or shrink the candidate's piece sequence to ``P`` slots by
  left-anchored nearest resampling, slot ``p`` (0-based) taking piece ``⌊p·Q/P⌋``: a one-piece word fills
  every slot, a word with as many pieces as ``x_i`` is compared piece by piece, a longer word keeps evenly
  spaced pieces starting with its first (for ``P = 1``: its first piece, usually the stem).  The paper's
  density is then used as it is:

      log p(x'|s) = −K_i/2 · log(2π σ_i²) − Σ_p ‖x'_{⌊p·Q/P⌋} − x_{i,p}‖² / (2 σ_i²)

* ``pieces="mean"``: compare mean piece embeddings ``m_i = (1/P) Σ_p x_{i,p}`` and ``m' = (1/Q) Σ_q x'_q``
  with the exact marginal of the learned noise for that statistic, ``m̃_i ~ N(m_i, σ_i²/P · I_K)``:

      log q(m'|s) = −K/2 · log(2π σ_i²/P) − P · ‖m' − m_i‖² / (2 σ_i²)

  Averaging shrinks a candidate towards the centre of the embedding cloud by a factor that grows with its
  number of pieces, so concepts rich in split words (inflected verbs, rare adjectives) look closer to
  ``x_i`` than single-token ones only because of how they are tokenized — which is why it is not the
  default.  For ``P = Q = 1`` both rules are the paper's formula.

In both cases the normalising term is the same for every candidate and cancels in Eq. 8–9.  With the
expected quadratic terms (squared embedding units)

    D(x') = Σ_p ‖x'_{⌊p·Q/P⌋} − x_{i,p}‖²   ("align")     or     P · ‖m' − m_i‖²   ("mean")
    D_V = E_{x'∈V} D(x')      (V: the vocabulary's words, see below)
    D_c = E_{x'∈c} D(x')      (the concept's words)

we get, in nats:

    A_i   = D_V / (2 σ_i²)
    A_c   = (D_V − D_c) / (2 σ_i²)
    r_i,c = D_c / (2 σ_i²)

Consequences worth knowing (they follow from the isotropic Gaussian of Eq. 6, not from our choices):
``r`` does not depend on the vocabulary at all (only ``A_i`` and ``A_c`` do); a concept whose words are far
from ``x_i`` in the embedding space has a *larger* ``r`` (less of the word is explained by it); the
"all words" concept has ``A_c = 0`` and ``r = A_i``; and across layers only ``σ_i`` changes, so each layer
scales every concept's ``r`` by the same factor ``1/σ_i²``: the concepts' order and the ratio
``max_c r / min_c r`` are the same at every layer — they are a property of the embedding geometry, and the
layer tells how strongly it is weighted.

**The vocabulary ``V`` ("all words").**  The whole words of the tokenizer's vocabulary: every entry that
is not a special token, whose text (``tokenizer.decode``) is purely alphabetic (any script), and that the
tokenizer maps back to exactly that one entry when it appears as a word inside a sentence (so word-piece
continuations like ``##ing``, ``[unused0]``, punctuation, numbers and, for byte-level BPE, the variants
without a leading space are left out), and whose id has a row in the model's embedding matrix.  For the
uncased BERT/MiniLM vocabulary this is 22,501 of 30,522 entries.  The expectation is the plain mean
over all of them (``vocab_sample=None``) or over ``vocab_sample`` of them drawn uniformly without
replacement with ``seed``.

**Candidate words** (concept words) are tokenized as a word inside a sentence (after a one-word prefix,
so byte-level BPE tokenizers give the same pieces as mid-sentence; pieces grouped by the tokenizer's word
ids, as ``explain`` groups them), dropped when they hit the unknown
token, have an id outside the embedding matrix, have more than ``max_pieces`` pieces, duplicate another
word's pieces, or (``exclude_word=True``) are the explained word itself; what was dropped and why is in
``WordAttributes.skipped``.  A concept left with no word is an error.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .hooks import find_input_embeddings
from .results import Explanation

__all__ = ["ALL_WORDS", "WordAttributes", "vocabulary_words", "word_attributes"]

ALL_WORDS = "all words"
_PREFIX = "a "  # a candidate word is tokenized as the second word of "a <word>"
_CHUNK = 4096

_VOCAB_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------------------------------
# tokenization of candidate words
# ----------------------------------------------------------------------------------------------------

def _check_fast(tokenizer) -> None:  # noqa: ANN001
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("a fast tokenizer is required (word pieces are grouped with word_ids); "
                        "load it with AutoTokenizer.from_pretrained(..., use_fast=True)")


def _encode_words(tokenizer, words: Sequence[str]) -> list[list[int]]:  # noqa: ANN001
    """The ids of each word's pieces as the tokenizer splits it inside a sentence: the tokens of
    ``_PREFIX + word`` outside the prefix's word, grouped by ``word_ids`` like ``explain`` groups them."""
    if not words:
        return []
    texts = [_PREFIX + w for w in words]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer directly: the same pieces, ~5x faster for long lists
        from tokenizers import Tokenizer

        plain = Tokenizer.from_str(backend.to_str())
        plain.no_padding()
        plain.no_truncation()
        encs = plain.encode_batch(texts, add_special_tokens=False)
        return [[int(i) for i, w in zip(e.ids, e.word_ids) if w is not None and w > 0] for e in encs]
    enc = tokenizer(texts, add_special_tokens=False)
    return [[int(i) for i, w in zip(ids, enc.word_ids(k)) if w is not None and w > 0]
            for k, ids in enumerate(enc["input_ids"])]


def vocabulary_words(tokenizer, n_rows: int | None = None) -> tuple[list[int], list[str]]:  # noqa: ANN001
    """The whole words of the tokenizer's vocabulary (the "all words" set V): ``(ids, texts)``.

    An entry counts when it is not special, its decoded text is alphabetic, the tokenizer maps that text
    (as a word inside a sentence) back to exactly this one entry, and ``id < n_rows`` (the embedding
    matrix's size, when given).  Cached per tokenizer.
    """
    _check_fast(tokenizer)
    try:
        per_tok = _VOCAB_CACHE.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable: no cache
        per_tok = {}
    if None not in per_tok:
        special = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
        ids = sorted({int(i) for i in tokenizer.get_vocab().values()} - special)
        texts = tokenizer.batch_decode([[i] for i in ids], skip_special_tokens=False,
                                       clean_up_tokenization_spaces=False)
        cand = [(i, t.strip()) for i, t in zip(ids, texts) if t.strip().isalpha()]
        pieces = _encode_words(tokenizer, [t for _, t in cand])
        per_tok[None] = [(i, t) for (i, t), p in zip(cand, pieces) if p == [i]]
    words = per_tok[None]
    if n_rows is not None:
        words = [(i, t) for i, t in words if i < n_rows]
    return [i for i, _ in words], [t for _, t in words]


# ----------------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class WordAttributes:
    """Eq. 8–9 for one word of an explained sentence, per layer (all values in nats).

    ``A_i``: ``[L]``; ``A_c`` and ``r``: ``{concept: [L]}`` (with ``"all words"`` first when it was
    requested: ``A_c = 0``, ``r = A_i``); ``distance``: ``{concept: D_c}``, the mean quadratic term of
    the concept's words (squared embedding units, see the module docstring; ``"all words"``: ``D_V``);
    ``concept_words``: the words used; ``skipped``: ``{concept: {word: reason}}``; ``n_vocab``: |V|.
    """

    word: str
    position: int
    pieces: int
    layers: list[str]
    sigma: np.ndarray
    at_bound: np.ndarray
    A_i: np.ndarray
    A_c: dict[str, np.ndarray]
    r: dict[str, np.ndarray]
    distance: dict[str, float]
    concept_words: dict[str, list[str]]
    skipped: dict[str, dict[str, str]]
    n_vocab: int
    embedding_dim: int
    text: str | tuple[str, str] | None = None
    options: dict = field(default_factory=dict)

    @property
    def concepts(self) -> list[str]:
        """The concept names in ``r`` (including ``"all words"`` when present)."""
        return list(self.r)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def max_min_ratio(self, include_all_words: bool = True) -> np.ndarray:
        """``[L]``: ``max_c r_i,c / min_c r_i,c`` over the concepts, per layer (the ratio the paper quotes).

        Under the isotropic noise model it is the same at every layer (``max D_c / min D_c``).  ``inf`` when
        a concept has ``r = 0`` (all its words have the word's own embedding); needs two concepts.
        """
        names = [c for c in self.r if include_all_words or c != ALL_WORDS]
        if len(names) < 2:
            raise ValueError(f"max/min ratio needs at least two concepts, got {names}")
        values = np.stack([self.r[c] for c in names])
        lo, hi = values.min(0), values.max(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.inf)

    def ranking(self) -> list[str]:
        """Concepts from the largest ``r`` (least used) to the smallest (most used); the same at all layers."""
        return sorted(self.r, key=lambda c: -self.distance[c])

    def to_dataframe(self):
        """Long pandas DataFrame: one row per (layer, concept) with columns layer, layer_index, concept,
        r, A_c, A_i, sigma, at_bound, distance, n_words (concept words used; V's size for "all words")."""
        import pandas as pd

        rows = []
        for li, label in enumerate(self.layers):
            for c in self.r:
                rows.append({
                    "layer": label, "layer_index": li, "concept": c, "r": float(self.r[c][li]),
                    "A_c": float(self.A_c[c][li]), "A_i": float(self.A_i[li]), "sigma": float(self.sigma[li]),
                    "at_bound": bool(self.at_bound[li]), "distance": self.distance[c],
                    "n_words": self.n_vocab if c == ALL_WORDS else len(self.concept_words[c]),
                })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (non-finite floats as None)."""
        def f(x: float) -> float | None:
            return float(x) if math.isfinite(float(x)) else None

        return {
            "word": self.word, "position": self.position, "pieces": self.pieces, "layers": list(self.layers),
            "text": list(self.text) if isinstance(self.text, tuple) else self.text,
            "sigma": [f(v) for v in self.sigma], "at_bound": [bool(b) for b in self.at_bound],
            "A_i": [f(v) for v in self.A_i],
            "A_c": {c: [f(v) for v in a] for c, a in self.A_c.items()},
            "r": {c: [f(v) for v in a] for c, a in self.r.items()},
            "distance": {c: f(d) for c, d in self.distance.items()},
            "max_min_ratio": [f(v) for v in self.max_min_ratio()] if len(self.r) > 1 else None,
            "ranking": self.ranking(),
            "concept_sizes": {c: len(w) for c, w in self.concept_words.items()},
            "skipped": {c: len(s) for c, s in self.skipped.items()},
            "n_vocab": self.n_vocab, "embedding_dim": self.embedding_dim, "options": dict(self.options),
        }

    def plot(self, ax=None, *, logy: bool = False, title: str | None = None, legend: bool = True):
        """r_i,c per layer, one line per concept (the paper's Fig. 8). Returns the Axes."""
        from .plotting import word_attributes

        return word_attributes(self, ax=ax, logy=logy, title=title, legend=legend, all_words=ALL_WORDS)

    def save_plot(self, path, **kwargs) -> None:  # noqa: ANN001
        from .plotting import save_figure

        ax = self.plot(**kwargs)
        ax.figure.tight_layout()
        save_figure(ax.figure, path, dpi=150)

    def __repr__(self) -> str:
        ratio = f", max/min r={float(self.max_min_ratio()[0]):.3g}" if len(self.r) > 1 else ""
        return (f"WordAttributes(word={self.word!r}, position={self.position}, pieces={self.pieces}, "
                f"layers={self.n_layers}, concepts={self.concepts}{ratio})")


# ----------------------------------------------------------------------------------------------------
# the computation
# ----------------------------------------------------------------------------------------------------

def _resolve_word(e: Explanation, word: str | int) -> int:
    if isinstance(word, bool) or not isinstance(word, (str, int, np.integer)):
        raise TypeError(f"word must be a string or a column index, got {type(word).__name__}")
    if isinstance(word, (int, np.integer)):
        j = int(word)
        if not -e.n_words <= j < e.n_words:
            raise IndexError(f"word index {j} out of range for {e.n_words} words: {e.words}")
        return j % e.n_words
    if word in e.words:
        return e.words.index(word)
    folded = [w.casefold() for w in e.words]
    if word.casefold() in folded:
        return folded.index(word.casefold())
    raise ValueError(f"word {word!r} is not in the sentence; its words are: {e.words}")


def _resolve_layers(e: Explanation, layers: Sequence[int | str] | int | str | None) -> list[int]:
    if layers is None:
        return list(range(e.n_layers))
    items = [layers] if isinstance(layers, (int, str)) else list(layers)
    if not items:
        raise ValueError("layers is empty")
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in e.layers:
                raise KeyError(f"no layer {item!r}; the explanation's layers are {e.layers}")
            out.append(e.layers.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -e.n_layers <= int(item) < e.n_layers:
                raise IndexError(f"layer index {item} out of range for {e.n_layers} layers: {e.layers}")
            out.append(int(item) % e.n_layers)
        else:
            raise TypeError(f"layers must hold ints or layer labels, got {item!r}")
    return out


def _word_token_ids(e: Explanation, j: int, tokenizer, n_rows: int) -> list[int]:  # noqa: ANN001
    tokens = [t for t, w in zip(e.tokens, e.token_to_word) if w == j]
    if len(tokens) != e.pieces[j]:
        raise ValueError(f"the explanation lists {len(tokens)} tokens for word {e.words[j]!r} but "
                         f"{e.pieces[j]} pieces: it was not made by explain() with a tokenizer")
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(tokens)]
    back = tokenizer.convert_ids_to_tokens(ids)
    if list(back) != tokens or any(i is None or i < 0 for i in ids):
        raise ValueError(f"the tokens of {e.words[j]!r} in the explanation ({tokens}) are not in this "
                         "tokenizer's vocabulary: pass the tokenizer the explanation was made with")
    if any(i >= n_rows for i in ids):
        raise ValueError(f"token ids {ids} of {e.words[j]!r} are outside the model's embedding matrix "
                         f"({n_rows} rows): pass the model the explanation was made with")
    return ids


def _check_concepts(concepts: Mapping[str, Sequence[str]], all_words: bool) -> dict[str, list[str]]:
    if not isinstance(concepts, Mapping):
        raise TypeError("concepts must be a dict {name: [words]} (e.g. mi_explain.concepts.load_concepts('all'))")
    if not concepts:
        raise ValueError("no concept given: pass {name: [words]}")
    out = {}
    for name, words in concepts.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"concept names must be non-empty strings, got {name!r}")
        if all_words and name == ALL_WORDS:
            raise ValueError(f"the concept name {ALL_WORDS!r} is reserved for the vocabulary baseline "
                             "(pass all_words=False to use it for your own list)")
        if isinstance(words, str) or not isinstance(words, Sequence | set | frozenset):
            raise TypeError(f"concept {name!r} must be a list of words, got {type(words).__name__}")
        words = list(words)
        if not words:
            raise ValueError(f"concept {name!r} is empty: give it at least one word")
        bad = [w for w in words if not isinstance(w, str)]
        if bad:
            raise TypeError(f"concept {name!r} holds non-strings: {bad[:5]}")
        out[name] = words
    return out


class _Table:
    """Embeddings (float64, CPU) of a set of token ids, computed once through the model's embedding module
    (so an embedding layer with its own forward, e.g. a scaled one, is respected)."""

    def __init__(self, emb: torch.nn.Module, ids: Sequence[int], n_rows: int) -> None:
        unique = torch.tensor(sorted(set(int(i) for i in ids)), dtype=torch.long)
        self.row = torch.full((n_rows,), -1, dtype=torch.long)
        self.row[unique] = torch.arange(len(unique))
        dev = emb.weight.device
        parts = []
        with torch.no_grad():
            for s in range(0, len(unique), _CHUNK):
                parts.append(emb(unique[s:s + _CHUNK].to(dev)).detach().to("cpu", torch.float64))
        self.vectors = torch.cat(parts, 0)
        self.norms = (self.vectors**2).sum(1)  # [U] ‖x‖²

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.vectors[self.row[ids]]


def _quadratic(table: _Table, groups: Sequence[Sequence[int]], x_i: torch.Tensor, mode: str) -> float:
    """D: the mean over the candidate words (piece-id groups) of the density's quadratic term,
    Σ_p ‖x'_{⌊pQ/P⌋} − x_{i,p}‖² ("align") or P·‖mean(x') − mean(x_i)‖² ("mean")."""
    n_slots = x_i.shape[0]
    flat = torch.tensor([i for g in groups for i in g], dtype=torch.long)
    q = torch.tensor([len(g) for g in groups], dtype=torch.long)
    start = torch.cumsum(q, 0) - q
    if mode == "align":
        # ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², from per-token scalars: no [n, P, K] tensor is formed
        dots = table.vectors @ x_i.T  # [U, P]
        slot = start[:, None] + (torch.arange(n_slots)[None] * q[:, None]) // n_slots  # [n, P]: piece ⌊p·Q/P⌋
        rows = table.row[flat[slot]]
        per_word = table.norms[rows].sum(1) - 2 * dots[rows, torch.arange(n_slots)[None]].sum(1) + float((x_i**2).sum())
        return float(per_word.mean())
    m_i = x_i.mean(0)
    total = 0.0
    for s in range(0, len(groups), _CHUNK):
        qs = q[s:s + _CHUNK]
        lo, hi = int(start[s]), int(start[s] + qs.sum())
        owner = torch.repeat_interleave(torch.arange(len(qs)), qs)
        sums = torch.zeros(len(qs), x_i.shape[1], dtype=torch.float64).index_add_(0, owner, table(flat[lo:hi]))
        total += n_slots * float(((sums / qs[:, None] - m_i) ** 2).sum())
    return total / len(groups)


def word_attributes(
    explanation: Explanation,
    model: torch.nn.Module,
    tokenizer,  # noqa: ANN001
    word: str | int,
    concepts: Mapping[str, Sequence[str]],
    *,
    layers: Sequence[int | str] | int | str | None = None,
    vocab_sample: int | None = None,
    seed: int = 0,
    pieces: str = "align",
    max_pieces: int | None = None,
    exclude_word: bool = True,
    all_words: bool = True,
) -> WordAttributes:
    """A_i, A_c and r_i,c (Eq. 8–9) of one word of an explained sentence, per layer.

    explanation: made by :func:`mi_explain.explain` with this ``model`` and ``tokenizer`` (any
    granularity: with ``"word"`` a split word is one column of P pieces, see the module docstring).
    word: a string (its first occurrence among ``explanation.words``; exact match first, then ignoring
    case) or a column index.  concepts: ``{name: [words]}`` (e.g. :func:`mi_explain.concepts.load_concepts`).
    layers: indices or labels of ``explanation.layers`` (None: all).  vocab_sample: average "all words" over
    this many vocabulary words drawn with ``seed`` (None: all of them).  pieces: how a candidate with
    another number of pieces than the word is compared, "align" or "mean".  max_pieces: drop concept words
    split into more pieces.  exclude_word: drop the word itself from the concepts.  all_words: add the
    vocabulary as the concept "all words" (A_c = 0, r = A_i), as in the paper's figure.
    """
    if not isinstance(explanation, Explanation):
        raise TypeError(f"explanation must be an Explanation, got {type(explanation).__name__}")
    _check_fast(tokenizer)
    concepts = _check_concepts(concepts, all_words)
    if pieces not in ("align", "mean"):
        raise ValueError(f"pieces must be 'align' or 'mean', got {pieces!r}")
    if max_pieces is not None and int(max_pieces) < 1:
        raise ValueError(f"max_pieces must be ≥ 1, got {max_pieces}")
    j = _resolve_word(explanation, word)
    rows = _resolve_layers(explanation, layers)
    emb = find_input_embeddings(model)
    n_rows = int(emb.weight.shape[0])
    ids = _word_token_ids(explanation, j, tokenizer, n_rows)
    x_i = _Table(emb, ids, n_rows)(torch.tensor(ids))
    if x_i.shape[1] != explanation.embedding_dim:
        raise ValueError(f"the model's embeddings have {x_i.shape[1]} dimensions but the explanation "
                         f"{explanation.embedding_dim}: pass the model the explanation was made with")
    n_pieces = len(ids)

    # concept words → piece ids, with the reasons for each word left out
    unk = getattr(tokenizer, "unk_token_id", None)
    used: dict[str, list[str]] = {}
    groups: dict[str, list[list[int]]] = {}
    skipped: dict[str, dict[str, str]] = {}
    all_encoded = iter(_encode_words(tokenizer, [w for words in concepts.values() for w in words]))
    for name, words in concepts.items():
        encoded = [next(all_encoded) for _ in words]
        seen: dict[tuple[int, ...], str] = {}
        used[name], groups[name], skipped[name] = [], [], {}
        for w, p in zip(words, encoded):
            key = tuple(p)
            if not p:
                why = "no token"
            elif unk is not None and unk in p:
                why = "unknown to the tokenizer"
            elif max(p) >= n_rows:
                why = "outside the model's embedding matrix"
            elif max_pieces is not None and len(p) > int(max_pieces):
                why = f"{len(p)} pieces > max_pieces={int(max_pieces)}"
            elif exclude_word and list(p) == ids:
                why = "the explained word itself"
            elif key in seen:
                why = f"same pieces as {seen[key]!r}"
            else:
                seen[key] = w
                used[name].append(w)
                groups[name].append(list(p))
                continue
            skipped[name].setdefault(w, why)
        if not groups[name]:
            reasons = sorted(set(skipped[name].values()))
            raise ValueError(f"concept {name!r}: none of its {len(words)} words is usable "
                             f"({'; '.join(reasons)}), e.g. {words[:5]}; no word of it is in the vocabulary "
                             "of this tokenizer and model")

    # the vocabulary baseline
    v_ids, _ = vocabulary_words(tokenizer, n_rows)
    if not v_ids:
        raise ValueError("the tokenizer's vocabulary has no whole word with a row in the model's embeddings")
    if vocab_sample is not None:
        if int(vocab_sample) < 1:
            raise ValueError(f"vocab_sample must be ≥ 1 or None, got {vocab_sample}")
        if int(vocab_sample) < len(v_ids):
            gen = torch.Generator().manual_seed(int(seed))
            pick = torch.randperm(len(v_ids), generator=gen)[: int(vocab_sample)].sort().values
            v_ids = [v_ids[k] for k in pick.tolist()]
    table = _Table(emb, v_ids + [i for g in groups.values() for p in g for i in p], n_rows)
    d_vocab = _quadratic(table, [[i] for i in v_ids], x_i, pieces)
    distance = {name: _quadratic(table, g, x_i, pieces) for name, g in groups.items()}

    sigma = explanation.sigma[rows, j].double().numpy()
    scale = 1.0 / (2.0 * sigma**2)  # per layer
    a_i = scale * d_vocab
    a_c = {name: scale * (d_vocab - d) for name, d in distance.items()}
    r = {name: scale * d for name, d in distance.items()}
    if all_words:
        a_c = {ALL_WORDS: np.zeros_like(a_i), **a_c}
        r = {ALL_WORDS: a_i.copy(), **r}
        distance = {ALL_WORDS: d_vocab, **distance}
    return WordAttributes(
        word=explanation.words[j], position=j, pieces=n_pieces,
        layers=[explanation.layers[k] for k in rows], sigma=sigma,
        at_bound=explanation.at_bound[rows, j].numpy().astype(bool),
        A_i=a_i, A_c=a_c, r=r, distance={k: float(v) for k, v in distance.items()},
        concept_words=used, skipped=skipped, n_vocab=len(v_ids), embedding_dim=int(x_i.shape[1]),
        text=explanation.text,
        options={"vocab_sample": vocab_sample, "seed": seed, "pieces": pieces, "max_pieces": max_pieces,
                 "exclude_word": exclude_word, "all_words": all_words, "vocab_distance": d_vocab},
    )
