"""docs/results.md from committed summaries alone: export a tiny runs root (a swept BERT, a trained-only CNN, Fig. 8
and Fig. 9 study outputs), delete the runs, regenerate the page, and find the summaries' numbers on it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mi_explain.glue.report import main as report_main
from mi_explain.glue.results_page import NOT_RUN, write_results_page
from mi_explain.glue.summaries import summary_path
from mi_explain.glue.sweep import main as sweep_main

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCES = ["a rare bird has more than enough charm to make it memorable .",
             "the film is funny , sad and surprisingly tender", "domestic tension and unhappiness",
             "it is not a good movie but the actors are great", "the actors are funny and the film is memorable",
             "a sad film"]


def _scores(run: Path, task: str, metrics: dict, n_eval: int) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "scores.json").write_text(json.dumps({
        "metrics": metrics, "headline": next(iter(metrics)), "n_train": 100, "n_eval": n_eval, "epochs": 1.0,
        "train_seconds": 120.0, "bf16": False, "device": "cpu", "note": ""}))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, tiny_bert, bert_tokenizer) -> Path:
    base = tmp_path_factory.mktemp("results")
    glue = base / "glue" / "sst2"
    glue.mkdir(parents=True)
    for split in ("train", "validation"):
        (glue / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{i % 2}\n"
                                                                          for i, s in enumerate(SENTENCES)))
    root = base / "runs"
    tiny_bert.save_pretrained(root / "sst2" / "bert" / "model")
    bert_tokenizer.save_pretrained(root / "sst2" / "bert" / "model")
    _scores(root / "sst2" / "bert", "sst2", {"accuracy": 0.8716}, 872)
    _scores(root / "sst2" / "cnn", "sst2", {"accuracy": 0.8073}, 872)
    _scores(root / "qqp" / "bert", "qqp", {"accuracy": 0.834, "f1": 0.7712}, 5000)
    config = base / "sst2_bert.yaml"
    config.write_text("\n".join([
        "task: sst2", "family: bert", f"data_dir: {base / 'glue'}", "max_length: 32", "n_sentences: 4",
        "n_drawn: 0", "example_indices: [0]", "n_reference: 6", "explain_batch_size: 4", "explain_tol: 0.3",
        "explain_steps: 12", "explain_samples: 4", "progress: false"]) + "\n")
    sweep_main(["--config", str(config), "--output_root", str(root)])
    fig8 = base / "fig8"
    fig8.mkdir()
    rows = [{"model": m, "layer": f"layer {i}", "layer_index": i, "concept": c, "r": r * (1 + 0.1 * i)}
            for m, scale in (("BERT", 1.0), ("LSTM", 2.0)) for i in range(2)
            for c, r in (("negative", 1.0 * scale), ("positive", 1.31 * scale), ("noun", 1.1 * scale))]
    pd.DataFrame(rows).to_csv(fig8 / "attributes.csv", index=False)
    fig9 = base / "fig9"
    for model, values in (("bert", [[0.9, 0.91, 0.905], [0.8, 0.85, 0.95]]), ("lstm", [[1.5, 1.7, 1.4]])):
        (fig9 / model).mkdir(parents=True)
        hist = [{"step": 10 * s, "layer": f"layer {li}", "layer_index": li, "information": v[s]}
                for s in range(3) for li, v in enumerate(values)]
        pd.DataFrame(hist).to_csv(fig9 / model / "mi_history.csv", index=False)
    (fig9 / "bert" / "result.json").write_text(json.dumps({"steps": 188, "n_train": 3000, "dev_accuracy": 0.8211,
                                                           "n_probe": 8, "every": 25,
                                                           "probe_options": {"tol": 0.2, "steps": 50}}))
    return base


def test_export_then_page_from_the_summaries_alone(runs_root: Path, tmp_path: Path, capsys) -> None:
    data, img, page = tmp_path / "docs" / "data", tmp_path / "docs" / "img", tmp_path / "docs" / "results.md"
    report_main(["--export", str(runs_root / "runs"), "--data", str(data), "--img", str(img), "--tag", "t",
                 "--fig8", str(runs_root / "fig8"), "--fig9", str(runs_root / "fig9")])
    assert "nothing found for: training" in capsys.readouterr().out  # no curve.jsonl in this root
    for kind in ("scores", "information", "words", "sweeps", "maps", "fig8", "fig9"):
        assert summary_path(data, kind, "t").is_file(), kind
    moved = runs_root.parent / "moved_away"
    shutil.move(str(runs_root), moved)  # nothing but the summaries is left
    try:
        report_main(["--from-data", str(data), "--out", str(page), "--img", str(img), "--tag", "t"])
    finally:
        shutil.move(str(moved), runs_root)
    md = page.read_text()
    assert "0.8716 ± 0.0113" in md and "0.8073 ± 0.0134" in md  # scores with √(p(1−p)/n)
    assert "| 0.7712 |" in md and "**0.9323**" in md and "not GLUE's dev split" in md
    assert md.count(NOT_RUN) >= 5 and "| Transformer | not run yet |" in md
    info = pd.read_csv(summary_path(data, "information", "t"))
    for r in info.itertuples():
        assert f"| BERT | {r.layer} | {r.n_texts} | {r.information:.3f} ± {r.information_sem:.3f} |" in md
    sweeps = json.loads(summary_path(data, "sweeps", "t").read_text())
    assert sweeps[0]["texts"] == 5 and sweeps[0]["seconds_per_text"]["mean"] > 0
    assert f"| {sweeps[0]['stopword_share']:.2f} |" in md
    words = pd.read_csv(summary_path(data, "words", "t"), keep_default_na=False)
    top = words.iloc[0]
    assert f"*{top.word}* ({top['count']})" in md
    maps = json.loads(summary_path(data, "maps", "t").read_text())
    assert [m["idx"] for m in maps] == [0] and maps[0]["prediction_sigma"]
    assert len(maps[0]["sigma"]) == len(maps[0]["layers"]) >= 2
    assert "validation row 0" in md and SENTENCES[0] in md
    assert "| BERT | 1.310, 1.310 |" in md and "| LSTM | 1.310, 1.310 | negative, noun, positive |" in md
    assert re.search(r"Fig\. 8: max/min r over concepts > 1\.2 for LSTM and CNN \| .*LSTM 1\.310–1\.310 \| holds", md)
    assert "| BERT | layer 1 | 0.800 | 0.950 | 0.950 |" in md and "| LSTM | layer 0 | 1.500 | 1.700 | 1.400 |" in md
    assert "largest change of a layer but the last 0.005" in md
    decrease = next(line for line in md.splitlines() if line.startswith("| Information decreases"))
    assert "(on what is run; the rest not run yet)" in decrease  # one of twelve sweeps exists
    assert ("- BERT: 188 training steps on 3000 SST-2 sentences → validation accuracy 0.821; probe: 8 validation "
            "texts every 25 steps (tol 0.20, at most 50 steps)") in md
    assert "- LSTM: – training steps" in md  # no result.json: said as unknown, not invented
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(images) >= 5 and all((page.parent / p).is_file() for p in images), images
    assert str(runs_root) not in md  # the page knows nothing of the runs


def test_page_without_summaries_is_an_error_and_training_alone_works(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no GLUE summaries with tag 'cpu'"):
        write_results_page(tmp_path, tmp_path / "r.md", tmp_path / "img")
    (tmp_path / "glue_scores_cpu.csv").write_text(
        "task,family,metric,value,headline,n_train,n_eval,epochs,train_seconds,bf16\n"
        "cola,bert,matthews_correlation,0.2918,True,8051,1043,4.0,1500.0,True\n")
    md = write_results_page(tmp_path, tmp_path / "r.md", tmp_path / "img").read_text()
    assert "| BERT | not run yet | **0.9323** | 0.2918 | **0.6110** |" in md
    assert "Table 2: BERT (pretrained) scores best on every task | SST-2: not run yet" in md
    assert "| CoLA: BERT 0.2918 vs" not in md and md.count("| not run yet |") >= 4


def test_fig9_rise_then_fall_needs_an_interior_peak_beyond_the_noise() -> None:
    from mi_explain.glue.results_page import fig9_rise_then_fall

    def hist(values, sems=None):
        rows = {"step": [0, 10, 20, 30], "layer": ["layer 0"] * 4, "information": values}
        if sems is not None:
            rows["information_sem"] = sems
        return pd.DataFrame(rows)

    assert fig9_rise_then_fall(hist([1.0, 1.3, 1.2, 1.0])) == (["layer 0"], False)
    assert fig9_rise_then_fall(hist([1.0, 1.3, 1.2, 1.0], [0.01] * 4)) == (["layer 0"], True)
    # the same shape inside the noise, a peak at the first probe, a peak at the last one: no rise-then-fall
    assert fig9_rise_then_fall(hist([1.0, 1.3, 1.2, 1.0], [0.15] * 4)) == ([], True)
    assert fig9_rise_then_fall(hist([1.4, 1.3, 1.2, 1.0], [0.01] * 4))[0] == []
    assert fig9_rise_then_fall(hist([1.0, 1.1, 1.2, 1.3], [0.01] * 4))[0] == []


def test_layer_rises_flags_only_stacked_layer_pairs_beyond_the_noise() -> None:
    from mi_explain.glue.results_page import layer_rises

    tab = pd.DataFrame({"layer": ["layer 0", "layer 1", "layer 2", "layer 3", "prediction state"],
                        "information": [1.0, 0.9, 1.0, 1.02, 1.5], "information_sem": [0.01, 0.01, 0.01, 0.02, 0.01]})
    rises = layer_rises(tab)
    assert [(a, b) for a, b, _, _ in rises] == [("layer 1", "layer 2")]  # +0.02 ± 0.022 is noise
    assert rises[0][2] == pytest.approx(0.1) and rises[0][3] == pytest.approx(0.01 * 2 ** 0.5)
