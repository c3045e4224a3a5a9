"""The resumable faithfulness study (mi_explain.evaluation_study) on a tiny random-weight BERT classifier."""

from __future__ import annotations

import json

import pytest
import torch

from mi_explain import evaluation_study as study

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["the film is funny , sad and surprisingly tender", "domestic tension and unhappiness"]
FAST = {"information": {"steps": 20, "samples": 2, "n_reference": 4}, "integrated_gradients": {"n_steps": 4},
        "perturbation": {"steps": 20}, "lrp": {"projections": 1}}


def test_study_runs_all_methods_resumes_and_reports(tiny_bert, bert_tokenizer, tmp_path):
    res = tmp_path / "r" / "study.jsonl"
    n = study.run_study(tiny_bert, bert_tokenizer, TEXTS, res, model_name="tiny", method_options=FAST,
                        progress=False)
    assert n == len(TEXTS) * len(study.DEFAULT_METHODS)
    lines = res.read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert {r["method"] for r in recs} == set(study.DEFAULT_METHODS)
    assert all(len(r["importance"]) == len(r["words"]) and r["seconds"] >= 0 for r in recs)
    # nothing left to do; an interrupted last line is redone, the complete ones are not
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS, res, model_name="tiny", method_options=FAST) == 0
    res.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS, res, model_name="tiny", method_options=FAST) == 1
    other = tmp_path / "other.jsonl"  # pairs in another results file count as done too
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS, other, model_name="tiny", done_in=[res],
                           method_options=FAST) == 0
    frame = study.load_results(res)
    assert set(frame["method"]) == set(study.DEFAULT_METHODS)
    assert frame.groupby(["method", "metric"]).size().loc[("gradient", "aopc_comprehensiveness")] == len(TEXTS)
    table = study.study_table(frame)
    assert table.count("\n| tiny |") == len(study.DEFAULT_METHODS) and "AOPC comp." in table
    assert all(f"| tiny | {m} | {len(TEXTS)} |" in table for m in study.DEFAULT_METHODS)
    cmp = study.compare_paired(frame)
    assert set(cmp["baseline"]) == set(study.DEFAULT_METHODS) - {"information"}
    assert set(cmp["verdict"]) <= {"wins", "loses", "ties"}
    md = study.write_report(frame, tmp_path / "docs" / "faith.md", figure=tmp_path / "docs" / "faith.png",
                            header=study.report_header("sst2", ["tiny"], 2, smoke=True))
    text = md.read_text()
    assert "Smoke run" in text and "](faith.png)" in text and "wins" in text
    assert (tmp_path / "docs" / "faith.png").stat().st_size > 1000
    import pandas as pd

    lam = pd.DataFrame({"model": ["tiny"] * 3, "text_id": [0, 1, 2], "rate": [1.0] * 3,
                        "kendall": [0.5, 0.7, float("nan")], "spearman": [0.6, 0.8, float("nan")]})
    text = study.write_report(frame, tmp_path / "r.md", header="# t", lambda_frame=lam).read_text()
    assert "| tiny | 1 | 0.6000 ± 0.1000 | 0.7000 ± 0.1000 | 2 | 1 |" in text
    # several models: one figure each, named so that the Markdown link works as written
    two = pd.concat([frame, frame.assign(model="MiniLM (BERT row)")])
    text = study.write_report(two, tmp_path / "docs" / "two.md", figure=tmp_path / "docs" / "img" / "f.png",
                              header="# t").read_text()
    assert "](img/f_minilm_bert_row.png)" in text and "](img/f_tiny.png)" in text
    assert (tmp_path / "docs" / "img" / "f_minilm_bert_row.png").exists()


def test_study_refuses_unknown_methods_and_states(tiny_bert, bert_tokenizer, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        study.run_study(tiny_bert, bert_tokenizer, TEXTS, tmp_path / "x.jsonl", model_name="m", methods=["lime"])
    with pytest.raises(ValueError, match="information_state"):
        study.explain_ranking("information", tiny_bert, bert_tokenizer, TEXTS[0], 0, information_state="pooler")


def test_lambda_sensitivity_reference_row_is_one(tiny_bert, bert_tokenizer):
    lf = study.lambda_sensitivity(tiny_bert, bert_tokenizer, TEXTS[:1], rates=(0.1, 1.0))
    assert list(lf["rate"]) == [0.1, 1.0]
    assert lf.loc[lf["rate"] == 0.1, "kendall"].iloc[0] == pytest.approx(1.0)


def test_lambda_sensitivity_resumes_from_its_cache(tiny_bert, bert_tokenizer, tmp_path, monkeypatch):
    cache = tmp_path / "lambda.jsonl"
    first = study.lambda_sensitivity(tiny_bert, bert_tokenizer, TEXTS[:2], rates=(0.1, 1.0), cache=cache,
                                     model_name="tiny")
    assert len(cache.read_text().splitlines()) == 2  # one line per finished text
    calls = []
    real = study.explain_ranking
    monkeypatch.setattr(study, "explain_ranking", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = study.lambda_sensitivity(tiny_bert, bert_tokenizer, TEXTS[:2], rates=(0.1, 1.0), cache=cache,
                                     model_name="tiny")
    assert calls == [] and again.equals(first)  # read back, not recomputed
    study.lambda_sensitivity(tiny_bert, bert_tokenizer, TEXTS[:1], rates=(0.1, 1.0), cache=cache, model_name="other")
    assert len(calls) == 2  # another model is computed anew (reference + one other rate)


def test_batched_explanations_match_one_at_a_time(tiny_bert, bert_tokenizer):
    for method in ("gradient", "integrated_gradients", "lrp"):
        together = study.explain_rankings(method, tiny_bert, bert_tokenizer, TEXTS, 1, options=FAST.get(method))
        for text, got in zip(TEXTS, together):
            alone = study.explain_ranking(method, tiny_bert, bert_tokenizer, text, 1, options=FAST.get(method))
            assert got.shape == alone.shape
            assert bool((got - alone).abs().max() <= 1e-4 * alone.abs().max()), method


def test_study_recomputes_rows_whose_settings_changed(tiny_bert, bert_tokenizer, tmp_path):
    """Rows are done only under the settings they were made with: another step cap of the information method
    recomputes the information rows (and nothing else), and the report reads the rows of the settings asked."""
    res = tmp_path / "study.jsonl"
    methods = ["information", "gradient"]
    fast = {"information": {"steps": 6, "samples": 2, "n_reference": 4}}
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS, res, model_name="m", methods=methods,
                           method_options=fast, progress=False) == 4
    other = {"information": {**fast["information"], "steps": 4}}
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS, res, model_name="m", methods=methods,
                           method_options=other, progress=False) == 2
    recs = [json.loads(x) for x in res.read_text().splitlines()]
    info_steps = [r["settings"]["steps"] for r in recs if r["method"] == "information"]
    assert info_steps == [6, 6, 4, 4]
    assert all(r["settings"]["rate"] == 0.1 for r in recs if r["method"] == "information")
    for opts, steps in ((fast, 6), (other, 4)):
        settings = study.study_settings(methods, method_options=opts)
        frame = study.load_results(res, settings=settings)
        secs = frame[(frame["metric"] == "seconds") & (frame["method"] == "information")]
        assert len(secs) == len(TEXTS)
        assert settings["information"]["steps"] == steps
    assert len(study.load_results(res)[lambda f: (f["metric"] == "seconds")]) == 4  # no settings: last of each
    with pytest.raises(ValueError, match="requested settings"):
        study.load_results(res, settings=study.study_settings(methods, removal="mask"))
    # λ and the removal are settings too
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS[:1], res, model_name="m", methods=methods,
                           method_options=fast, rate=0.5, progress=False) == 1


def test_ig_and_lrp_rank_by_the_signed_share_of_the_predicted_logit(tiny_bert, bert_tokenizer):
    """The study's default (PREDICTION_OPTIONS): integrated gradients and LRP keep the sign of each word's
    share of the logit (ferret's order), whose magnitude is the unsigned score; the settings say so, so that
    rows of the two conventions never mix."""
    for method in ("integrated_gradients", "lrp"):
        for target in (None, 0):
            signed = study.explain_rankings(method, tiny_bert, bert_tokenizer, TEXTS, target, options=FAST[method])
            plain = study.explain_rankings(method, tiny_bert, bert_tokenizer, TEXTS, target,
                                           options={**FAST[method], "signed": False})
            for s, p in zip(signed, plain):
                assert torch.allclose(s.abs(), p, rtol=1e-4, atol=1e-6), method
            assert any(bool((s < 0).any()) for s in signed) and any(bool((s > 0).any()) for s in signed), method
    st = study.study_settings(["gradient", "integrated_gradients", "lrp", "perturbation"])
    assert st["integrated_gradients"]["signed"] is True and st["lrp"]["signed"] is True
    assert st["gradient"]["reduction"] == "sum" and "signed" not in st["perturbation"]
    assert study.study_settings(["lrp"], method_options={"lrp": {"signed": False}})["lrp"]["signed"] is False
    # one unit: the "sum" read-out gives the gradient the same magnitudes as 16 "vector" projections
    fast = study.explain_rankings("gradient", tiny_bert, bert_tokenizer, TEXTS[:1], None)[0]
    vec = study.explain_rankings("gradient", tiny_bert, bert_tokenizer, TEXTS[:1], None,
                                 options={"reduction": "vector"})[0]
    assert torch.allclose(fast, vec, rtol=1e-4)


def test_script_runs_resumes_and_rewrites_its_page_from_the_results(tiny_bert, bert_tokenizer, tmp_path):
    """scripts/faithfulness_study.py end to end (run as a command) on a saved tiny classifier and a local GLUE
    folder: the page names the signed convention and the command that made it (relative paths, without
    --report_only); --report_only rewrites it from the results file without explaining anything."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    glue = tmp_path / "glue" / "sst2"
    glue.mkdir(parents=True)
    (glue / "train.tsv").write_text("sentence\tlabel\na fine film\t1\n")
    (glue / "validation.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t1\n" for t in TEXTS))
    tiny_bert.save_pretrained(tmp_path / "model")
    bert_tokenizer.save_pretrained(tmp_path / "model")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "MPLBACKEND": "Agg", "TRANSFORMERS_VERBOSITY": "error",
           "PYTHONPATH": os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])}
    args = ["--task", "sst2", "--data_dir", str(tmp_path / "glue"), "--models", str(tmp_path / "model"),
            "--names", "tiny", "--methods", "integrated_gradients", "lrp", "random", "--n_texts", "2",
            "--lambda_rates", "--results", str(tmp_path / "r.jsonl"), "--report", str(tmp_path / "page.md")]

    def run(*extra: str) -> None:
        proc = subprocess.run([sys.executable, str(repo / "scripts" / "faithfulness_study.py"), *args, *extra],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    run()
    page = (tmp_path / "page.md").read_text()
    assert "signed share of the logit" in page and "| tiny | integrated_gradients | 2 |" in page
    assert "python scripts/faithfulness_study.py --task sst2 --data_dir glue --models model" in page
    assert str(tmp_path) not in page
    n_records = len((tmp_path / "r.jsonl").read_text().splitlines())
    assert n_records == 6
    (tmp_path / "page.md").unlink()
    run("--report_only")
    again = (tmp_path / "page.md").read_text()
    command = [line for line in again.splitlines() if line.startswith("python scripts/faithfulness_study.py")]
    assert again == page and len(command) == 1 and "--report_only" not in command[0]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == n_records  # nothing explained again
    run("--unsigned", "--report_only")  # no rows under the unsigned settings: none shown, none mixed in
    assert "| tiny | integrated_gradients |" not in (tmp_path / "page.md").read_text()


def test_study_refuses_rows_of_the_same_name_made_on_other_weights(tiny_bert, bert_tokenizer, tmp_path):
    """A retrained or replaced model must not silently reuse (or mix with) the rows of the model before it."""
    import copy

    res = tmp_path / "r.jsonl"
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS[:1], res, model_name="m", methods=["random"]) == 1
    rec = json.loads(res.read_text().splitlines()[0])
    assert rec["weights"] == study.model_digest(tiny_bert)
    other = copy.deepcopy(tiny_bert)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    with pytest.raises(ValueError, match="rows of model 'm' computed on other weights"):
        study.run_study(other, bert_tokenizer, TEXTS[:1], res, model_name="m", methods=["random"])
    assert study.run_study(other, bert_tokenizer, TEXTS[:1], res, model_name="m2", methods=["random"]) == 1
    assert study.run_study(tiny_bert, bert_tokenizer, TEXTS[:1], res, model_name="m", methods=["random"]) == 0
    # rows written before the study stored digests are taken as they are
    res.write_text(json.dumps({k: v for k, v in rec.items() if k != "weights"}) + "\n")
    assert study.run_study(other, bert_tokenizer, TEXTS[:1], res, model_name="m", methods=["random"]) == 0
    cache = tmp_path / "lam.jsonl"
    study.lambda_sensitivity(tiny_bert, bert_tokenizer, TEXTS[:1], rates=(0.1, 1.0), cache=cache, model_name="m",
                             options={"steps": 4, "tol": 0.5})
    with pytest.raises(ValueError, match="λ-check rows of model 'm' computed on other weights"):
        study.lambda_sensitivity(other, bert_tokenizer, TEXTS[:1], rates=(0.1, 1.0), cache=cache, model_name="m",
                                 options={"steps": 4, "tol": 0.5})
