"""mi_explain.coherency_study: settings and presets, the scale part against its ground truth, saved maps,
the per-model row stack, and a partial rerun that keeps the other parts' scores."""

from __future__ import annotations

import json

import pytest
import torch

from mi_explain import Explanation, SaliencyExplanation
from mi_explain import coherency_study as study

pytestmark = pytest.mark.usefixtures("one_thread")


def test_presets_and_overrides():
    small = study.CoherencySettings()
    assert {k: getattr(small, k) for k in study.PRESETS["small"]} == study.PRESETS["small"]
    full = study.CoherencySettings.preset("full", sentences=3, lstm=None)
    assert full.sentences == 3 and full.reverse_steps == study.PRESETS["full"]["reverse_steps"]
    with pytest.raises(ValueError, match="preset: unknown 'huge'"):
        study.CoherencySettings.preset("huge")
    with pytest.raises(TypeError, match=r"no field\(s\) \['sentencez'\]"):
        study.CoherencySettings.preset("small", sentencez=3)
    with pytest.raises(ValueError, match="methods: unknown \\['saliency'\\]"):
        study.CoherencySettings(methods=["saliency"])
    with pytest.raises(ValueError, match="transformers: 1 saved models for 4 alphas"):
        study.CoherencySettings(transformers=["a"])
    assert study.method_options("perturbation", full) == {"steps": 300}
    assert study.method_options("lrp", small) == {"projections": 64}
    assert study.method_options("information", small) == {}


def test_scale_part_finds_the_copy_and_the_dropped_word(tmp_path):
    settings = study.CoherencySettings(methods=["information", "gradient"], out=str(tmp_path))
    rows = study.part_scale(settings)
    ours, grad = rows["information"], rows["gradient"]
    assert 0.8 < ours["ratio_mean"] < 1.2 and ours["dropped_at_bound"]  # same σ for 100·h; word 2 discarded
    assert grad["ratio_min"] == pytest.approx(100.0, rel=1e-3) and grad["ratio_max"] == pytest.approx(100.0, rel=1e-3)
    assert grad["dropped_share"] < 0.02 and not grad["dropped_at_bound"]


def _maps(n_words: int = 3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    common = dict(words=[f"w{i}" for i in range(n_words)], layers=["l0", "l1"], tokens=[], token_to_word=[],
                  pieces=[1] * n_words, embedding_dim=4, objective=[0.0, 0.0], converged=[True, True], steps=3)
    sigma = torch.rand(2, n_words, generator=g) + 0.1
    return {"information": Explanation(sigma=sigma, at_bound=torch.zeros(2, n_words, dtype=torch.bool),
                                       regularization=[1.0, 1.0], prior_scale=2.0, **common),
            "gradient": SaliencyExplanation(scores=torch.rand(2, n_words, generator=g), prior_scale=2.0,
                                            method="gradient", **common)}


def test_stack_rows_keeps_the_last_layer_rows_and_divides_sigma_by_the_prior():
    a, b = _maps(seed=1), _maps(seed=2)
    for m in ("information", "gradient"):
        stacked = study.stack_rows([a[m], b[m]])
        assert type(stacked) is type(a[m]) and stacked.layers == ["0", "1"]
        if m == "information":  # row i: model i's first (only explained) layer, σ in units of its σ_prior
            assert torch.allclose(stacked.sigma, torch.stack([a[m].sigma[0], b[m].sigma[0]]) / 2.0)
            assert stacked.prior_scale == 1.0
        else:
            assert torch.allclose(stacked.scores, torch.stack([a[m].scores[0], b[m].scores[0]]))


def test_a_partial_rerun_keeps_the_other_parts_and_their_maps(tmp_path):
    maps = _maps()
    study.save_maps(tmp_path, "layers", maps)
    (tmp_path / "scores.json").write_text(json.dumps({"layers": {"accuracy": 0.5}, "commands": {"layers": "old"}}))
    settings = study.CoherencySettings(methods=["gradient"], out=str(tmp_path))
    res, rows = study.run(settings, ["scale"], command="new", record={"preset": "small"})
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved == json.loads(json.dumps(res, default=float))
    assert res["layers"] == {"accuracy": 0.5} and list(res["scale"]) == ["gradient"] and res["preset"] == "small"
    assert res["commands"] == {"layers": "old", "scale": "new"}
    assert list(rows) == ["layers"] and list(rows["layers"][0]) == ["gradient"]  # only the chosen methods' maps
    back = rows["layers"][0]["gradient"]
    assert isinstance(back, SaliencyExplanation) and torch.equal(back.scores, maps["gradient"].scores)
    with pytest.raises(ValueError, match="parts: unknown \\['report'\\]"):
        study.run(settings, ["report"])


def test_pick_sentences_and_used_vocabulary(bert_tokenizer):
    import pandas as pd

    val = pd.DataFrame({"sentence": ["too short", "one two three four", "a b c d e f g h i j k l m n o p"]})
    settings = study.CoherencySettings(sentences=3, max_words=5)
    assert study.pick_sentences(val, settings) == [study.EXAMPLE, "one two three four"]
    ids = study.used_vocabulary(bert_tokenizer, pd.DataFrame({"sentence": ["the film", "the bird"]}))
    assert ids.tolist() == sorted(set(bert_tokenizer.convert_tokens_to_ids(["the", "film", "bird"])))
