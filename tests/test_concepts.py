"""mi_explain.concepts: the packaged concept sets (sizes, disjointness, thresholds, errors)."""

from __future__ import annotations

import pytest

from mi_explain.concepts import CONCEPT_SETS, fig8_concepts, load_concepts


def test_packaged_concepts():
    sentiment = load_concepts("sentiment")
    assert set(sentiment) == {"positive", "negative"}
    assert len(sentiment["positive"]) > 1000 and len(sentiment["negative"]) > 1000
    assert {"happiness", "joy", "love"} <= set(sentiment["positive"])
    assert {"unhappiness", "sadness", "misery"} <= set(sentiment["negative"])
    assert not set(sentiment["positive"]) & set(sentiment["negative"])
    strict = load_concepts("sentiment", threshold=2.5)
    assert 0 < len(strict["negative"]) < len(sentiment["negative"])
    pos = load_concepts("pos")
    assert set(pos) == {"noun", "verb", "adjective", "adverb"} and all(len(v) > 1000 for v in pos.values())
    assert "unhappiness" in pos["noun"] and "quickly" in pos["adverb"] and "abhorrent" in pos["adjective"]
    assert not any("run" in v for v in pos.values())  # noun and verb: ambiguous, in neither
    assert all(w.isalpha() and w.islower() for v in pos.values() for w in v)
    assert set(load_concepts("all")) == set(sentiment) | set(pos) and set(CONCEPT_SETS) == {"sentiment", "pos", "all"}
    with pytest.raises(ValueError, match="unknown concept set 'emotions'; available: sentiment, pos, all"):
        load_concepts("emotions")


def test_fig8_concepts_are_built_from_the_lexicons():
    c = fig8_concepts()
    assert list(c) == ["negative", "negative noun", "positive", "noun", "verb", "adjective", "adverb"]
    assert set(c["negative noun"]) == set(c["negative"]) & set(c["noun"]) and c["negative noun"]
