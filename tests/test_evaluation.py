"""Faithfulness metrics (mi_explain.evaluation) against a classifier whose true word ranking is known."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from mi_explain import evaluation as ev

pytestmark = pytest.mark.usefixtures("one_thread")


class BagOfWords(nn.Module):
    """logits [B, 2] = Σ_t mask_t · W[id_t] + b: each token adds a fixed vote; no interactions, so removing
    words changes the logit margin additively and the true ranking is the order of the words' margins."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(weights.shape[0], weights.shape[1], mode="sum")
        with torch.no_grad():
            self.bag.weight.copy_(weights)
        self.bias = nn.Parameter(bias if bias is not None else torch.zeros(weights.shape[1]))
        self.calls = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: torch.Tensor):
        self.calls += 1
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        return self.bag(input_ids, per_sample_weights=mask.float()) + self.bias


def margin_weights(tokenizer, margins: dict[str, float], special: float = 5.0) -> torch.Tensor:
    """W [V, 2] with class-1 margin W[:, 1] − W[:, 0] = margins[word piece]; special tokens get a large
    margin (removing them would change every score) and [MASK]/[PAD] none."""
    w = torch.zeros(len(tokenizer), 2, dtype=torch.float32)
    for tok, m in margins.items():
        w[tokenizer.convert_tokens_to_ids(tok), 1] = m
    for tok in (tokenizer.cls_token, tokenizer.sep_token):
        w[tokenizer.convert_tokens_to_ids(tok), 1] = special
    return w


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


TEXT = "the film is funny sad and"
MARGINS = {"the": 0.1, "film": -0.4, "is": 0.05, "funny": 2.0, "sad": -1.5, "and": 0.7}


@pytest.fixture(scope="module")
def bow(bert_tokenizer):
    # margin of the full text: 0.95 + bias 0.3 > 0, so the predicted (target) class is 1
    return BagOfWords(margin_weights(bert_tokenizer, MARGINS, special=0.0), torch.tensor([0.0, 0.3]))


def true_importance(words: list[str]) -> torch.Tensor:
    return torch.tensor([MARGINS[w] for w in words], dtype=torch.float64)


# ------------------------------------------------------------------------------------------ small maths

def test_bin_sizes_conventions():
    assert ev.bin_sizes(10) == [(0.01, 1), (0.05, 1), (0.1, 1), (0.2, 2), (0.5, 5)]
    assert ev.bin_sizes(3) == [(0.01, 1), (0.05, 1), (0.1, 1), (0.2, 1), (0.5, 2)]
    assert ev.bin_sizes(200) == [(0.01, 2), (0.05, 10), (0.1, 20), (0.2, 40), (0.5, 100)]
    assert ev.bin_sizes(10, convention="ferret") == [(0.1, 1), (0.2, 2), (0.5, 5)]
    assert ev.bin_sizes(3, convention="ferret") == [(0.5, 1)]
    with pytest.raises(ValueError, match="convention"):
        ev.bin_sizes(3, convention="lime")
    with pytest.raises(ValueError, match="fractions"):
        ev.bin_sizes(3, bins=[0.0])


def test_auc_and_rank_correlations_on_hand_computed_cases():
    assert ev.normalised_auc([1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert ev.normalised_auc([0.2, 0.2]) == pytest.approx(0.2)
    assert ev.normalised_auc([1.0, 0.0, 0.0, 0.0]) == pytest.approx(1 / 6)
    # one discordant pair of three: τ = (2 − 1)/3; ρ = 1 − 6·2/(3·8) = 0.5
    assert ev.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert ev.spearman_rho([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # ties: τ_b = (n_c − n_d)/√((n0 − n1)(n0 − n2)) = (2 − 0)/√(2·3)
    assert ev.kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(ev.kendall_tau([1, 1, 1], [1, 2, 3]))


def test_word_importance_sign_conventions():
    from mi_explain import Explanation, SaliencyExplanation

    common = dict(words=["a", "b", "c"], layers=["layer 0", "layer 1"], tokens=["a", "b", "c"],
                  token_to_word=[0, 1, 2], pieces=[1, 1, 1], embedding_dim=4, prior_scale=1.0,
                  objective=torch.zeros(2), converged=torch.ones(2, dtype=torch.bool), steps=1)
    sigma = torch.tensor([[1.0, 1.0, 1.0], [0.1, 2.0, 0.5]])
    ours = Explanation(sigma=sigma, at_bound=torch.zeros(2, 3, dtype=torch.bool), regularization=torch.ones(2),
                       **common)
    imp = ev.word_importance(ours)  # last layer: σ small = important
    assert imp.tolist() == pytest.approx([-math.log(0.1), -math.log(2.0), -math.log(0.5)])
    assert torch.argsort(-imp).tolist() == [0, 2, 1]
    assert ev.word_importance(ours, "layer 0").tolist() == pytest.approx([0.0, 0.0, 0.0])
    base = SaliencyExplanation(scores=torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.9, 0.1]]), method="gradient",
                               **common)
    assert ev.word_importance(base).tolist() == pytest.approx([0.3, -0.9, 0.1])  # the score itself
    assert ev.word_importance(base, absolute=True).tolist() == pytest.approx([0.3, 0.9, 0.1])
    assert ev.word_importance([3, -4]).tolist() == [3.0, -4.0]


# ------------------------------------------------------------------------------------------ variants

def test_special_tokens_never_removed_and_word_pieces_grouped(bert_tokenizer):
    (text,) = ev.prepare_texts(bert_tokenizer, ["domestic tension and unhappiness"])
    assert text.words == ["domestic", "tension", "and", "unhappiness"]
    cls, sep = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id
    mask_id, pad_id = bert_tokenizer.mask_token_id, bert_tokenizer.pad_token_id
    un, happiness = bert_tokenizer.convert_tokens_to_ids(["un", "##happiness"])
    none = torch.zeros(4, dtype=torch.bool)
    ids, _ = ev.make_variant(text, none, "delete", None)
    assert ids.tolist() == [cls, sep]  # every word gone, the special tokens stay
    keep_last = torch.tensor([False, False, False, True])
    ids, _ = ev.make_variant(text, keep_last, "delete", None)
    assert ids.tolist() == [cls, un, happiness, sep]  # both pieces of the word kept together
    drop_last = ~keep_last
    ids, _ = ev.make_variant(text, drop_last, "mask", mask_id)
    assert ids.tolist()[0] == cls and ids.tolist()[-1] == sep
    assert ids.tolist()[-3:-1] == [mask_id, mask_id]  # both pieces masked
    assert len(ids) == len(text.input_ids)
    ids, _ = ev.make_variant(text, drop_last, "pad", pad_id)
    assert ids.tolist()[-3:-1] == [pad_id, pad_id] and ids.tolist()[0] == cls
    with pytest.raises(ValueError, match="removal"):
        ev.make_variant(text, none, "blank", None)
    with pytest.raises(ValueError, match="one entry per word"):
        ev.make_variant(text, torch.ones(3, dtype=torch.bool), "delete", None)


def test_pairs_keep_both_separators(bert_tokenizer):
    (text,) = ev.prepare_texts(bert_tokenizer, [("how do i cook rice ?", "what is the best way ?")])
    ids, extra = ev.make_variant(text, torch.zeros(text.n_words, dtype=torch.bool), "delete", None)
    assert ids.tolist() == [bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id, bert_tokenizer.sep_token_id]
    assert extra["token_type_ids"].tolist() == [0, 0, 1]


@pytest.mark.parametrize("removal", ["delete", "mask", "pad"])
def test_three_removal_modes_give_the_same_scores_on_a_bag_of_words(bert_tokenizer, bow, removal):
    # [MASK] and [PAD] have zero votes, so for this model all three removals are equivalent: exact numbers
    df = ev.evaluate(bow, bert_tokenizer, [TEXT], {"true": [true_importance(TEXT.split())]}, removal=removal)
    full = sum(MARGINS.values()) + 0.3
    p0 = sigmoid(full)
    top = sorted(MARGINS.values(), reverse=True)  # 2.0, 0.7, 0.1, 0.05, -0.4, -1.5
    # n = 6 words: ERASER bins k = ⌈b·6⌉ = 1, 1, 1, 2, 3
    ks = [1, 1, 1, 2, 3]
    comp = [p0 - sigmoid(full - sum(top[:k])) for k in ks]
    suff = [p0 - sigmoid(0.3 + sum(top[:k])) for k in ks]
    got_comp = df[df.metric == "comprehensiveness"]["value"].tolist()
    got_suff = df[df.metric == "sufficiency"]["value"].tolist()
    assert got_comp == pytest.approx(comp, abs=1e-6)
    assert got_suff == pytest.approx(suff, abs=1e-6)
    scal = df[df.step.isna()].set_index("metric")["value"]
    assert scal["p_full"] == pytest.approx(p0, abs=1e-6)
    assert scal["aopc_comprehensiveness"] == pytest.approx(sum(comp) / 5, abs=1e-6)
    assert scal["aopc_sufficiency"] == pytest.approx(sum(suff) / 5, abs=1e-6)
    dele = [sigmoid(full - sum(top[:k])) for k in range(7)]
    ins = [sigmoid(0.3 + sum(top[:k])) for k in range(7)]
    assert df[df.metric == "deletion"]["value"].tolist() == pytest.approx(dele, abs=1e-6)
    assert df[df.metric == "insertion"]["value"].tolist() == pytest.approx(ins, abs=1e-6)
    assert df[df.metric == "deletion"]["step"].tolist() == pytest.approx([k / 6 for k in range(7)])
    auc = sum((dele[i] + dele[i + 1]) / 2 for i in range(6)) / 6
    assert scal["deletion_auc"] == pytest.approx(auc, abs=1e-6)
    assert scal["loo_kendall"] == pytest.approx(1.0)  # occlusion is monotone in the margin
    assert scal["loo_spearman"] == pytest.approx(1.0)


def test_mask_differs_from_delete_when_mask_has_a_vote(bert_tokenizer):
    w = margin_weights(bert_tokenizer, MARGINS, special=0.0)
    w[bert_tokenizer.mask_token_id, 1] = -3.0
    model = BagOfWords(w)
    imp = {"true": [true_importance(TEXT.split())]}
    d = ev.evaluate(model, bert_tokenizer, [TEXT], imp, removal="delete", curves=False, loo=False)
    m = ev.evaluate(model, bert_tokenizer, [TEXT], imp, removal="mask", curves=False, loo=False)
    cd = d[d.metric == "comprehensiveness"]["value"].iloc[0]
    cm = m[m.metric == "comprehensiveness"]["value"].iloc[0]
    full = sum(MARGINS.values())
    assert cm == pytest.approx(sigmoid(full) - sigmoid(full - 2.0 - 3.0), abs=1e-6)
    assert cd == pytest.approx(sigmoid(full) - sigmoid(full - 2.0), abs=1e-6)


def test_ferret_convention_and_explicit_target(bert_tokenizer, bow):
    imp = {"true": [true_importance(TEXT.split())]}
    df = ev.evaluate(bow, bert_tokenizer, [TEXT], imp, convention="ferret", targets=0, curves=False, loo=False)
    comp = df[df.metric == "comprehensiveness"]
    assert comp["step"].tolist() == [0.2, 0.5]  # ⌊0.2·6⌋ = 1, ⌊0.5·6⌋ = 3; smaller bins are empty
    full = sum(MARGINS.values()) + 0.3
    q0 = 1 - sigmoid(full)  # class 0
    assert comp["value"].tolist() == pytest.approx([q0 - (1 - sigmoid(full - 2.0)),
                                                    q0 - (1 - sigmoid(full - 2.8))], abs=1e-6)
    assert set(df["target"]) == {0}


# ------------------------------------------------------------------------------------------ ground truth

def _all_rankings(n: int) -> list[torch.Tensor]:
    out = []
    for perm in itertools.permutations(range(n)):
        v = torch.empty(n, dtype=torch.float64)
        v[list(perm)] = torch.arange(n, 0, -1, dtype=torch.float64)  # perm[0] most important
        out.append(v)
    return out


def test_true_ranking_is_best_and_random_is_at_chance(bert_tokenizer, bow):
    text = ev.prepare_texts(bert_tokenizer, [TEXT])[0]
    scorer = ev.VariantScorer(bow, bert_tokenizer.pad_token_id, batch_size=128, progress=False)
    cache: dict = {}
    everything = {f"perm{i}": v for i, v in enumerate(_all_rankings(text.n_words))}  # all 720 orders
    rows = ev.evaluate_text(scorer, text, everything, cache=cache)
    assert len(cache) == 2 ** 6  # every subset of words scored once, whatever the number of rankings
    import pandas as pd

    df = pd.DataFrame(rows)
    scal = df[df.step.isna()].pivot(index="method", columns="metric", values="value")
    chance = scal.mean()  # exact expectation over a uniformly random ranking
    true = pd.DataFrame(ev.evaluate_text(scorer, text, {"true": true_importance(text.words)}, cache=cache))
    t = true[true.step.isna()].set_index("metric")["value"]
    # the true ranking is the best of all 720 orders on every metric (ties allowed)
    for metric, sign in ev.SCALAR_METRICS.items():
        if sign == 0:
            continue
        best = scal[metric].max() if sign > 0 else scal[metric].min()
        assert t[metric] == pytest.approx(best, abs=1e-9), metric
        assert sign * (t[metric] - chance[metric]) > 0.05, metric
    # random rankings (a different generator) average to the exact chance value within 4 standard errors
    n_rand = 300
    rand = {f"r{i}": ev.random_importance(text.n_words, seed=1000 + i) for i in range(n_rand)}
    r = pd.DataFrame(ev.evaluate_text(scorer, text, rand, cache=cache))
    rs = r[r.step.isna()].pivot(index="method", columns="metric", values="value")
    for metric in ("aopc_comprehensiveness", "aopc_sufficiency", "deletion_auc", "insertion_auc", "loo_kendall"):
        se = float(scal[metric].std()) / math.sqrt(n_rand)  # spread of one random ranking / √n
        assert abs(float(rs[metric].mean()) - float(chance[metric])) < 4 * se, metric
    assert abs(float(chance["loo_kendall"])) < 1e-9  # over all orders τ averages to exactly 0


def test_true_ranking_beats_random_over_texts_and_summary(bert_tokenizer):
    texts = ["the film is funny , sad and surprisingly tender", "it is not a good movie but the actors are great"]
    gen = torch.Generator().manual_seed(0)
    margins = {}
    for w in sorted({w for t in texts for w in t.split()}):
        margins[w] = float(torch.randn(1, generator=gen)) * 1.5
    model = BagOfWords(margin_weights(bert_tokenizer, margins, special=0.0))
    true = [torch.tensor([margins[w] for w in t.split()]) for t in texts]
    # the predicted class may be 0: the true ranking for the target class is the signed margin toward it
    with torch.no_grad():
        prepared = ev.prepare_texts(bert_tokenizer, texts)
        scorer = ev.VariantScorer(model, 0, progress=False)
        preds = [int(scorer.probabilities([(p.input_ids, p.extra)]).argmax()) for p in prepared]
    true = [v if y == 1 else -v for v, y in zip(true, preds)]
    rand = [ev.random_importance(len(t.split()), seed=i) for i, t in enumerate(texts)]
    df = ev.evaluate(model, bert_tokenizer, texts, {"true": true, "random": rand}, batch_size=7)
    s = ev.summarize(df)
    scal = s[s.step.isna()].set_index(["method", "metric"])
    for metric, sign in ev.SCALAR_METRICS.items():
        if sign:
            assert sign * (scal.loc[("true", metric), "mean"] - scal.loc[("random", metric), "mean"]) > 0, metric
    assert (scal["n"] == 2).all()
    assert scal.loc[("true", "loo_kendall"), "mean"] == pytest.approx(1.0)
    assert set(s.columns) == {"method", "metric", "step", "mean", "se", "n", "better"}


def test_batched_scoring_matches_one_by_one(bert_tokenizer, bow):
    (text,) = ev.prepare_texts(bert_tokenizer, ["domestic tension and unhappiness"])
    masks = [torch.tensor(m, dtype=torch.bool) for m in itertools.product([False, True], repeat=4)]
    seqs = [ev.make_variant(text, m, "delete", None) for m in masks]
    big = ev.VariantScorer(bow, 0, batch_size=16, progress=False)
    small = ev.VariantScorer(bow, 0, batch_size=1, progress=False)
    assert torch.allclose(big.probabilities(seqs), small.probabilities(seqs), atol=1e-7)
    assert big.forward_passes == 1 and small.forward_passes == 16


def test_errors_name_the_problem(bert_tokenizer, bow):
    with pytest.raises(ValueError, match="3 importance values for 6 words"):
        ev.evaluate(bow, bert_tokenizer, [TEXT], {"bad": [torch.ones(3)]})
    with pytest.raises(ValueError, match="1 rankings for 2 texts"):
        ev.evaluate(bow, bert_tokenizer, [TEXT, TEXT], {"m": [torch.ones(6)]})
    with pytest.raises(ValueError, match="NaN"):
        ev.evaluate(bow, bert_tokenizer, [TEXT], {"m": [torch.full((6,), float("nan"))]})
    with pytest.raises(ValueError, match="target 5"):
        ev.evaluate(bow, bert_tokenizer, [TEXT], {"m": [torch.ones(6)]}, targets=5)
    with pytest.raises(ValueError, match="batch_size"):
        ev.VariantScorer(bow, 0, batch_size=0)
    (text,) = ev.prepare_texts(bert_tokenizer, [TEXT])
    scorer = ev.VariantScorer(bow, 0)
    with pytest.raises(ValueError, match="needs the tokenizer"):
        ev.evaluate_text(scorer, text, {"m": torch.ones(6)}, removal="mask")
    with pytest.raises(ValueError, match="removal must be one of"):
        ev.evaluate_text(scorer, text, {"m": torch.ones(6)}, removal="drop")


def test_hf_classifier_and_figure(tiny_bert, bert_tokenizer, tmp_path):
    texts = ["the film is funny , sad and surprisingly tender", "domestic tension and unhappiness"]
    prepared = ev.prepare_texts(bert_tokenizer, texts)
    imps = {"random": [ev.random_importance(p.n_words, i) for i, p in enumerate(prepared)],
            "first": [torch.arange(p.n_words, 0, -1).double() for p in prepared]}
    df = ev.evaluate(tiny_bert, bert_tokenizer, texts, imps, removal="mask", batch_size=8)
    assert set(df.metric) == set(ev.SCALAR_METRICS) | set(ev.CURVE_METRICS)
    assert df.value.notna().all() or df[df.value.isna()].metric.isin(["loo_kendall", "loo_spearman"]).all()
    from mi_explain.plotting import faithfulness_curves

    fig = faithfulness_curves(df)
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_curves_are_interpolated_per_text_on_one_grid():
    import pandas as pd

    from mi_explain.plotting import _on_grid

    df = pd.DataFrame({"method": "m", "text_id": [0] * 5, "metric": "deletion", "step": [0, 0.25, 0.5, 0.75, 1.0],
                       "value": [1.0, 0.5, 0.25, 0.0, 0.0]})
    g = _on_grid(df)
    assert g["step"].tolist() == pytest.approx([i / 10 for i in range(11)])
    assert g["value"].tolist()[0] == 1.0 and g["value"].tolist()[5] == 0.25 and g["value"].tolist()[10] == 0.0
    assert g["value"].tolist()[1] == pytest.approx(0.8)  # between 1.0 at 0 and 0.5 at 0.25
