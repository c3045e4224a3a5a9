"""Word attributes (Eq. 8–9) on hand-built explanations with a tiny known embedding matrix, plus the
packaged lexicons and the real MiniLM."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import CORPUS, WORDS  # noqa: E402

from mi_explain import explain  # noqa: E402
from mi_explain.adapters import encode  # noqa: E402
from mi_explain.attributes import ALL_WORDS, _encode_words, vocabulary_words, word_attributes  # noqa: E402
from mi_explain.concepts import load_concepts  # noqa: E402
from mi_explain.results import Explanation  # noqa: E402

TEXT = "domestic tension and unhappiness"
# whole words of the conftest vocabulary: alphabetic, not "##" pieces, not special, not punctuation
VOCAB = sorted({w for w in WORDS if w.isalpha() and w != "unhappiness"} | {"un", "happi"})
SIGMA = [[0.5, 1.0, 2.0, 1.0], [0.25, 2.0, 4.0, 3.0]]  # layers × (domestic, tension, and, unhappiness)


def make_explanation(**overrides) -> Explanation:
    kw = dict(
        words=["domestic", "tension", "and", "unhappiness"], layers=["layer 0", "layer 1"],
        sigma=torch.tensor(SIGMA), tokens=["[CLS]", "domestic", "tension", "and", "un", "##happiness", "[SEP]"],
        token_to_word=[-1, 0, 1, 2, 3, 3, -1], pieces=[1, 1, 1, 2], embedding_dim=3, prior_scale=1.0,
        objective=torch.zeros(2), converged=torch.ones(2, dtype=torch.bool),
        at_bound=torch.zeros(2, 4, dtype=torch.bool), steps=1, regularization=torch.ones(2), text=TEXT,
    )
    kw.update(overrides)
    return Explanation(**kw)


def row(tok, token: str) -> int:
    i = tok.convert_tokens_to_ids(token)
    assert i != tok.unk_token_id, token
    return i


@pytest.fixture()
def line_embeddings(bert_tokenizer):
    """Every token on the first axis: "tension" at 0, "and"/"the" at 1, "film"/"bird" at 3, the rest at 2."""
    emb = torch.nn.Embedding(len(bert_tokenizer), 3)
    with torch.no_grad():
        emb.weight.zero_()
        emb.weight[:, 0] = 2.0
        emb.weight[row(bert_tokenizer, "tension"), 0] = 0.0
        for w in ("and", "the"):
            emb.weight[row(bert_tokenizer, w), 0] = 1.0
        for w in ("film", "bird"):
            emb.weight[row(bert_tokenizer, w), 0] = 3.0
    return emb


@pytest.fixture()
def piece_embeddings(bert_tokenizer):
    """un=(1,0,0), ##happiness=(0,1,0), happi=(1,0,1), ##ness=(0,1,1), ##s=(0,0,5), sad=(0,0,2), rest 0."""
    emb = torch.nn.Embedding(len(bert_tokenizer), 3)
    vec = {"un": (1, 0, 0), "##happiness": (0, 1, 0), "happi": (1, 0, 1), "##ness": (0, 1, 1),
           "##s": (0, 0, 5), "sad": (0, 0, 2)}
    with torch.no_grad():
        emb.weight.zero_()
        for t, v in vec.items():
            emb.weight[row(bert_tokenizer, t)] = torch.tensor(v, dtype=torch.float32)
    return emb


# ----------------------------------------------------------------------------------------------------
# closed forms
# ----------------------------------------------------------------------------------------------------

def test_vocabulary_is_the_whole_words(bert_tokenizer):
    ids, words = vocabulary_words(bert_tokenizer)
    assert sorted(words) == VOCAB
    assert bert_tokenizer.convert_ids_to_tokens(ids) == words
    ids_small, _ = vocabulary_words(bert_tokenizer, n_rows=min(ids) + 1)
    assert ids_small == [min(ids)]


def test_closed_form_single_piece_word(bert_tokenizer, line_embeddings):
    near, far = ["and", "the"], ["film", "bird"]
    wa = word_attributes(make_explanation(), line_embeddings, bert_tokenizer, "tension",
                         {"near": near, "far": far})
    sigma = np.array([1.0, 2.0])
    d_vocab = np.mean([{"tension": 0.0, "and": 1.0, "the": 1.0, "film": 9.0, "bird": 9.0}.get(w, 4.0)
                       for w in VOCAB])
    assert wa.word == "tension" and wa.position == 1 and wa.pieces == 1 and wa.n_vocab == len(VOCAB)
    np.testing.assert_allclose(wa.sigma, sigma)
    np.testing.assert_allclose(wa.A_i, d_vocab / (2 * sigma**2), rtol=1e-12)
    np.testing.assert_allclose(wa.r["near"], 1.0 / (2 * sigma**2), rtol=1e-12)
    np.testing.assert_allclose(wa.r["far"], 9.0 / (2 * sigma**2), rtol=1e-12)
    np.testing.assert_allclose(wa.A_c["near"], (d_vocab - 1.0) / (2 * sigma**2), rtol=1e-12)
    for c in ("near", "far"):
        np.testing.assert_allclose(wa.r[c], wa.A_i - wa.A_c[c], rtol=1e-12)
    # a concept far from the word keeps more of it: larger r, at every layer
    assert (wa.r["far"] > wa.r["near"]).all()
    assert wa.ranking() == ["far", ALL_WORDS, "near"]
    # "all words" is the baseline itself: A_c = 0, r = A_i
    np.testing.assert_allclose(wa.r[ALL_WORDS], wa.A_i)
    np.testing.assert_allclose(wa.A_c[ALL_WORDS], 0.0)
    # the layer only rescales: the max/min ratio is the same at every layer
    np.testing.assert_allclose(wa.max_min_ratio(), [9.0, 9.0])
    np.testing.assert_allclose(wa.max_min_ratio(include_all_words=False), [9.0, 9.0])


def test_matches_full_gaussian_log_likelihood(bert_tokenizer):
    """Eq. 8–9 evaluated literally with the normalised density log N(x'; x_i, σ²I) — the constants cancel."""
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.Embedding(len(bert_tokenizer), 3)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(len(bert_tokenizer), 3, generator=g))
    concepts = {"a": ["film", "bird", "rice"], "b": ["funny", "sad", "tender", "great"]}
    wa = word_attributes(make_explanation(), emb, bert_tokenizer, "domestic", concepts)
    w = emb.weight.detach().double()
    x_i = w[row(bert_tokenizer, "domestic")]
    for li, s in enumerate([0.5, 0.25]):
        dist = torch.distributions.Normal(x_i, torch.full_like(x_i, s))

        def mean_logp(words, dist=dist):
            return float(torch.stack([dist.log_prob(w[row(bert_tokenizer, t)]).sum() for t in words]).mean())

        base = mean_logp(VOCAB)
        assert wa.A_i[li] == pytest.approx(float(dist.log_prob(x_i).sum()) - base, rel=1e-9)
        for c, words in concepts.items():
            assert wa.A_c[c][li] == pytest.approx(mean_logp(words) - base, rel=1e-9, abs=1e-9)


def test_multi_piece_word_align_and_mean(bert_tokenizer, piece_embeddings):
    """"unhappiness" = un ##happiness (P = 2): candidates with 1, 2 and 3 pieces."""
    assert _encode_words(bert_tokenizer, ["sad", "happiness", "happinesss"]) == [
        [row(bert_tokenizer, "sad")],
        [row(bert_tokenizer, "happi"), row(bert_tokenizer, "##ness")],
        [row(bert_tokenizer, t) for t in ("happi", "##ness", "##s")],
    ]
    e = make_explanation()
    concepts = {"one": ["sad"], "two": ["happiness"], "three": ["happinesss"]}
    sigma = np.array([1.0, 3.0])
    wa = word_attributes(e, piece_embeddings, bert_tokenizer, "unhappiness", concepts)
    assert wa.pieces == 2
    # align: one piece fills both slots; two pieces piece by piece; three pieces keep pieces 0 and 1
    np.testing.assert_allclose(wa.r["one"], (5.0 + 5.0) / (2 * sigma**2))  # ‖(0,0,2)−un‖² + ‖(0,0,2)−##happiness‖²
    np.testing.assert_allclose(wa.r["two"], (1.0 + 1.0) / (2 * sigma**2))
    np.testing.assert_allclose(wa.r["three"], (1.0 + 1.0) / (2 * sigma**2))
    # mean: P·‖m' − m_i‖² with m_i = (.5, .5, 0)
    wm = word_attributes(e, piece_embeddings, bert_tokenizer, "unhappiness", concepts, pieces="mean")
    np.testing.assert_allclose(wm.r["one"], 2 * 4.5 / (2 * sigma**2))
    np.testing.assert_allclose(wm.r["two"], 2 * 1.0 / (2 * sigma**2))
    np.testing.assert_allclose(wm.r["three"], 2 * (2 / 36 + 49 / 9) / (2 * sigma**2))  # m' = (1, 1, 7) / 3
    # the word itself is the density's maximum: left out by default, r = 0 when kept
    wa_self = word_attributes(e, piece_embeddings, bert_tokenizer, 3, {"self": ["unhappiness", "sad"]})
    assert wa_self.skipped["self"] == {"unhappiness": "the explained word itself"}
    assert wa_self.concept_words["self"] == ["sad"]
    kept = word_attributes(e, piece_embeddings, bert_tokenizer, 3, {"self": ["unhappiness"]}, exclude_word=False)
    np.testing.assert_allclose(kept.r["self"], 0.0)
    assert np.isinf(kept.max_min_ratio()).all()


def test_single_piece_target_keeps_first_piece_of_long_candidates(bert_tokenizer, piece_embeddings):
    e = make_explanation()  # "tension" is all zeros in piece_embeddings
    wa = word_attributes(e, piece_embeddings, bert_tokenizer, "tension", {"c": ["happinesss"]})
    np.testing.assert_allclose(wa.r["c"], 2.0 / (2 * np.array([1.0, 2.0]) ** 2))  # ‖happi‖² = 2
    wm = word_attributes(e, piece_embeddings, bert_tokenizer, "tension", {"c": ["happinesss"]}, pieces="mean")
    np.testing.assert_allclose(wm.r["c"], (1 / 9 + 1 / 9 + 49 / 9) / (2 * np.array([1.0, 2.0]) ** 2))


def test_max_pieces_and_duplicates(bert_tokenizer, piece_embeddings):
    e = make_explanation()
    wa = word_attributes(e, piece_embeddings, bert_tokenizer, "tension",
                         {"c": ["happinesss", "sad", "SAD", "happiness"]}, max_pieces=2)
    assert wa.concept_words["c"] == ["sad", "happiness"]
    assert wa.skipped["c"] == {"happinesss": "3 pieces > max_pieces=2", "SAD": "same pieces as 'sad'"}
    with pytest.raises(ValueError, match="none of its 1 words"):
        word_attributes(e, piece_embeddings, bert_tokenizer, "tension", {"c": ["happinesss"]}, max_pieces=2)


def test_token_granularity_column(bert_tokenizer, piece_embeddings):
    """With granularity="token" each piece is its own column (P = 1)."""
    e = make_explanation(words=["domestic", "tension", "and", "un", "##happiness"],
                         sigma=torch.tensor([[1.0, 1.0, 1.0, 2.0, 1.0]]), layers=["layer 0"],
                         token_to_word=[-1, 0, 1, 2, 3, 4, -1], pieces=[1, 1, 1, 1, 1], objective=torch.zeros(1),
                         converged=torch.ones(1, dtype=torch.bool), at_bound=torch.zeros(1, 5, dtype=torch.bool),
                         regularization=torch.ones(1))
    wa = word_attributes(e, piece_embeddings, bert_tokenizer, "un", {"c": ["sad"]})
    assert wa.pieces == 1
    np.testing.assert_allclose(wa.r["c"], [5.0 / (2 * 4.0)])


def test_vocab_sample_is_seeded(bert_tokenizer, line_embeddings):
    e = make_explanation()
    a = word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": ["and"]}, vocab_sample=5, seed=1)
    b = word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": ["and"]}, vocab_sample=5, seed=1)
    assert a.n_vocab == 5 and np.array_equal(a.A_i, b.A_i)
    everything = word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": ["and"]}, vocab_sample=10**6)
    assert everything.n_vocab == len(VOCAB)
    np.testing.assert_allclose(a.r["c"], everything.r["c"])  # r does not depend on the vocabulary


def test_layer_selection_dataframe_and_plot(bert_tokenizer, line_embeddings, tmp_path):
    e = make_explanation()
    wa = word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"near": ["and"], "far": ["film"]},
                         layers=["layer 1"])
    assert wa.layers == ["layer 1"] and wa.A_i.shape == (1,)
    assert word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": ["and"]}, layers=-1).layers == [
        "layer 1"]
    full = word_attributes(e, line_embeddings, bert_tokenizer, "Tension", {"near": ["and"], "far": ["film"]})
    df = full.to_dataframe()
    assert len(df) == 2 * 3 and set(df["concept"]) == {ALL_WORDS, "near", "far"}
    assert df.loc[(df.concept == "far") & (df.layer_index == 0), "r"].item() == pytest.approx(4.5)
    d = full.to_dict()
    assert d["ranking"] == ["far", ALL_WORDS, "near"] and d["max_min_ratio"] == [9.0, 9.0]
    ax = full.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["layer 0", "layer 1"]
    assert {line.get_label() for line in ax.get_lines()} >= {"far", "near", ALL_WORDS}
    assert ax.get_title(loc="left") == "“tension”   max/min r = 9"
    plt.close(ax.figure)
    full.save_plot(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert "tension" in repr(full)


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------

def test_bad_input_errors(bert_tokenizer, line_embeddings, roberta_tokenizer):
    e = make_explanation()
    ok = {"c": ["and"]}
    with pytest.raises(ValueError, match=r"'sorrow' is not in the sentence.*'domestic', 'tension'"):
        word_attributes(e, line_embeddings, bert_tokenizer, "sorrow", ok)
    with pytest.raises(IndexError, match="out of range for 4 words"):
        word_attributes(e, line_embeddings, bert_tokenizer, 4, ok)
    with pytest.raises(ValueError, match="concept 'c' is empty"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": []})
    with pytest.raises(ValueError, match="concept 'c': none of its 2 words is usable.*unknown to the tokenizer"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": ["zzz", "xyz"]})
    with pytest.raises(ValueError, match="no concept"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", {})
    with pytest.raises(TypeError, match="must be a list of words"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", {"c": "and"})
    with pytest.raises(TypeError, match="dict"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", ["and"])
    with pytest.raises(ValueError, match="reserved"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", {ALL_WORDS: ["and"]})
    with pytest.raises(ValueError, match="pieces must be"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", ok, pieces="sum")
    with pytest.raises(KeyError, match="no layer"):
        word_attributes(e, line_embeddings, bert_tokenizer, "tension", ok, layers=["layer 7"])
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        word_attributes(e, torch.nn.Embedding(len(roberta_tokenizer), 3), roberta_tokenizer, "tension", ok)
    with pytest.raises(ValueError, match="3 dimensions"):
        word_attributes(make_explanation(embedding_dim=4), line_embeddings, bert_tokenizer, "tension", ok)
    with pytest.raises(ValueError, match="outside the model's embedding matrix"):
        word_attributes(e, torch.nn.Embedding(8, 3), bert_tokenizer, "tension", ok)


# ----------------------------------------------------------------------------------------------------
# tokenization of candidates, real explain(), packaged lexicons, real MiniLM
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bert_tokenizer", "roberta_tokenizer", "gpt2_tokenizer"])
def test_candidates_get_their_in_sentence_pieces(name, request):
    """A word's pieces as a candidate are those it has inside a sentence (also for byte-level BPE)."""
    tok = request.getfixturevalue(name)
    text = CORPUS[1]
    enc = encode(tok, [text])
    ids = enc.input_ids[0].tolist()
    for j, word in enumerate(enc.words[0]):
        if j == 0:
            continue  # byte-level BPE marks the first word differently (no leading space)
        in_sentence = [ids[t] for t, w in enumerate(enc.token_to_word[0]) if w == j]
        assert _encode_words(tok, [word]) == [in_sentence], word


def test_on_a_real_explanation(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, TEXT, steps=20, progress=False)
    wa = word_attributes(e, tiny_bert, bert_tokenizer, "unhappiness", {"a": ["sad", "funny"], "b": ["film"]})
    assert wa.pieces == 2 and wa.layers == e.layers
    sigma = e.sigma[:, 3].double().numpy()
    np.testing.assert_allclose(wa.r["b"] * 2 * sigma**2, wa.distance["b"], rtol=1e-9)
    assert all(np.isfinite(v).all() and (v > 0).all() for v in wa.r.values())
    np.testing.assert_allclose(wa.max_min_ratio(), wa.max_min_ratio()[0], rtol=1e-9)


def test_real_minilm_unhappiness(minilm):
    """The real vocabulary, a 4-piece word and the packaged lexicon (hand-set σ: no optimisation)."""
    model, tok, _ = minilm
    assert tok.tokenize("unhappiness") == ["un", "##ha", "##pp", "##iness"]
    e = make_explanation(tokens=["[CLS]", "domestic", "tension", "and", "un", "##ha", "##pp", "##iness", "[SEP]"],
                         token_to_word=[-1, 0, 1, 2, 3, 3, 3, 3, -1], pieces=[1, 1, 1, 4], embedding_dim=384)
    wa = word_attributes(e, model, tok, "unhappiness", load_concepts("sentiment"))
    assert wa.pieces == 4 and 20000 < wa.n_vocab < 25000
    assert wa.skipped["negative"].get("unhappiness") == "the explained word itself"
    assert math.isfinite(wa.max_min_ratio()[0]) and wa.max_min_ratio()[0] > 1.0
    for c in wa.r:
        np.testing.assert_allclose(wa.r[c] * 2 * np.array([1.0, 9.0]), wa.distance[c], rtol=1e-6)
