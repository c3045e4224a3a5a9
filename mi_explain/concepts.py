"""Ready-made concepts (named word lists) for word-attribute analysis (paper Sec. 3.3, Fig. 8).

A concept ``c`` is a set of words sharing an attribute, e.g. *negative emotion* or *noun*; see
:func:`mi_explain.attributes.word_attributes`.  The paper mined its concepts from the Microsoft Concept
Graph and refined them by hand; that resource is not distributed in a package, so the sets here come from
lexical resources whose data ship inside PyPI wheels (nothing is downloaded at run time):

``"sentiment"`` → ``{"positive": [...], "negative": [...]}``
    The VADER sentiment lexicon (Hutto & Gilbert, ICWSM 2014), file ``vader_lexicon.txt`` of the
    ``vaderSentiment==3.3.2`` wheel (MIT licence).  7,520 entries, each rated by 10 people on a −4…+4
    scale; we keep the purely alphabetic entries (7,217: emoticons and tokens with digits or punctuation
    are dropped) whose mean valence is ≥ +``threshold`` (positive) or ≤ −``threshold`` (negative).  With
    the default threshold 1.0: 2,435 positive and 3,143 negative words.  The lexicon also holds some
    internet slang (e.g. "lol").

``"pos"`` → ``{"noun": [...], "verb": [...], "adjective": [...], "adverb": [...]}``
    Parts of speech from the word-form table ``resources/lemma_lu.csv.gz`` of the ``lemminflect==0.2.3``
    wheel (MIT licence), which LemmInflect derived from the NIH SPECIALIST Lexicon.  Each row is
    ``form,category,lemmas``; we keep lowercase alphabetic forms listed under exactly one of the four open
    categories (unambiguous words: "run", a noun and a verb, is in neither list).

``"all"`` → the union of both dicts.

Words are returned lowercase (both sources are lowercase or filtered to lowercase), sorted, without
duplicates.  Inspect provenance with ``CONCEPT_SETS``.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["CONCEPT_SETS", "fig8_concepts", "load_concepts", "pos_concepts", "sentiment_concepts"]

CONCEPT_SETS: dict[str, str] = {
    "sentiment": "positive / negative words of the VADER lexicon (vaderSentiment==3.3.2, MIT), |valence| ≥ threshold",
    "pos": "noun / verb / adjective / adverb, unambiguous word forms of the SPECIALIST-derived table in "
           "lemminflect==0.2.3 (MIT)",
    "all": "the union of 'sentiment' and 'pos'",
}

_POS_NAMES = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def _package_file(package: str, relative: str, pin: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the concept lexicon needs the package {pin!r}: pip install {pin}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{pin} is installed but its data file {path} is missing")
    return path


@cache
def _vader() -> tuple[tuple[str, float], ...]:
    path = _package_file("vaderSentiment", "vader_lexicon.txt", "vaderSentiment==3.3.2")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isalpha():
            rows.append((parts[0].lower(), float(parts[1])))
    return tuple(rows)


@cache
def _lemminflect_pos() -> dict[str, frozenset[str]]:
    path = _package_file("lemminflect", "resources/lemma_lu.csv.gz", "lemminflect==0.2.3")
    cats: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split(",")
            if len(parts) < 2:
                continue
            form, category = parts[0], parts[1]
            if form.isalpha() and form.islower():
                cats.setdefault(form, set()).add(category)
    return {w: frozenset(c) for w, c in cats.items()}


def sentiment_concepts(threshold: float = 1.0) -> dict[str, list[str]]:
    """``{"positive": [...], "negative": [...]}`` from the VADER lexicon (mean valence ≥ ±threshold)."""
    if not threshold >= 0:
        raise ValueError(f"threshold must be ≥ 0, got {threshold}")
    pos = sorted({w for w, v in _vader() if v >= threshold and v > 0})
    neg = sorted({w for w, v in _vader() if v <= -threshold and v < 0})
    return {"positive": pos, "negative": neg}


def pos_concepts() -> dict[str, list[str]]:
    """``{"noun", "verb", "adjective", "adverb"}`` → unambiguous lowercase word forms (lemminflect)."""
    out: dict[str, list[str]] = {name: [] for name in _POS_NAMES.values()}
    for word, cats in _lemminflect_pos().items():
        open_cats = cats & _POS_NAMES.keys()
        if len(open_cats) == 1:
            out[_POS_NAMES[next(iter(open_cats))]].append(word)
    return {name: sorted(words) for name, words in out.items()}


def fig8_concepts() -> dict[str, list[str]]:
    """The concepts of our Fig. 8: negative, "negative noun" (negative ∩ noun: nouns of negative emotions and
    states, the closest to the paper's "negative emotion"), positive, noun, verb, adjective, adverb."""
    c = load_concepts("all")
    nouns = set(c["noun"])
    return {
        "negative": c["negative"],
        "negative noun": [w for w in c["negative"] if w in nouns],
        "positive": c["positive"],
        "noun": c["noun"],
        "verb": c["verb"],
        "adjective": c["adjective"],
        "adverb": c["adverb"],
    }


def load_concepts(name: str = "all", **options) -> dict[str, list[str]]:
    """A ready concept set by name: ``"sentiment"`` (options: ``threshold``), ``"pos"`` or ``"all"``.

    Returns a new ``{concept name: [words]}`` dict (safe to edit) to pass to ``word_attributes``.
    """
    if name == "sentiment":
        return sentiment_concepts(**options)
    if name == "pos":
        if options:
            raise TypeError(f"load_concepts('pos') takes no options, got {sorted(options)}")
        return pos_concepts()
    if name == "all":
        return {**sentiment_concepts(**options), **pos_concepts()}
    raise ValueError(f"unknown concept set {name!r}; available: {', '.join(CONCEPT_SETS)}")
