"""From explained sentences to the paper's quantities: the words a model uses for prediction (Fig. 5/6)
and the mean information per layer (via :func:`mi_explain.information.corpus_information`).

A word is *used for prediction* in a sentence when it is among the ``top_k`` words with the smallest σ at
the prediction state (the classifier keeps most of it) and its σ is not at the upper bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

from mi_explain.information import corpus_information
from mi_explain.results import Explanation

__all__ = ["STOPWORDS", "information_table", "relative_use", "used_words", "word_counts"]

#: common English function words (Fig. 6 marks them: the paper finds non-pretrained models rely on them)
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves 's 't
n't 're 've 'll 'd 'm s t
""".split())

PUNCTUATION = frozenset(".,!?;:'\"`-()[]{}…")


def is_stopword(word: str) -> bool:
    """Stopword or punctuation (lower-cased)."""
    w = word.lower()
    return w in STOPWORDS or all(ch in PUNCTUATION for ch in w)


def used_words(e: Explanation, top_k: int, first_segment_only: bool = False) -> list[int]:
    """Column indices of the ``top_k`` smallest-σ words of a one-row (prediction-state) explanation,
    skipping words at the upper bound; ``first_segment_only``: only the first text of a pair."""
    sigma = e.sigma[0]
    cols = [j for j in range(e.n_words) if not bool(e.at_bound[0, j])
            and not (first_segment_only and e.segments is not None and e.segments[j] != 0)]
    cols.sort(key=lambda j: float(sigma[j]))
    return cols[:top_k]


def word_counts(explanations: Sequence[Explanation], top_k: int):
    """DataFrame (word, count, sentences, stopword) over sentences, most used first (ties in alphabetical
    order, so that the table does not depend on string hashing): ``count`` = sentences in which the word is
    used for prediction, ``sentences`` = sentences containing it."""
    import pandas as pd

    used, seen = Counter(), Counter()
    for e in explanations:
        words = [w.lower() for w in e.words]
        seen.update(set(words))
        used.update({words[j] for j in used_words(e, top_k)})
    rows = [(w, c, seen[w], is_stopword(w)) for w, c in sorted(used.items(), key=lambda wc: (-wc[1], wc[0]))]
    return pd.DataFrame(rows, columns=["word", "count", "sentences", "stopword"])


def relative_use(e: Explanation, row: int = 0) -> torch.Tensor:
    """[n_words] in [0, 1]: 1 − (log σ − min)/(max − min) over the row's words (1 = most kept)."""
    u = torch.log(e.sigma[row].double())
    lo, hi = float(u.min()), float(u.max())
    return (1 - (u - lo) / (hi - lo)).float() if hi > lo else torch.ones_like(u).float()


def information_table(explanations: Sequence[Explanation]):
    """:func:`corpus_information` of the layer sweep (one row per layer, nats/dim)."""
    return corpus_information(explanations)
