"""mi_explain.coherency_report: the generated block (commands, figure link, only the chosen methods' rows,
chance levels) and its place in the document."""

from __future__ import annotations

import math

from mi_explain import coherency_report as report

RES = {
    "commands": {"scale": "cmd A", "timestamps": "cmd A", "models": "cmd B"},
    "scale": {"information": {"ratio_mean": 1.0, "ratio_min": 0.9, "ratio_max": 1.1, "dropped_share": 0.0,
                              "dropped_at_bound": True},
              "gradient": {"ratio_mean": 100.0, "ratio_min": 100.0, "ratio_max": 100.0, "dropped_share": 0.001,
                           "dropped_at_bound": False}},
    "timestamps": {"length": 8, "hidden": 64, "token_accuracy": 0.9, "sequence_accuracy": 0.5, "examples": 2,
                   "scores": {"gradient": {"mass": [0.5, 0.7], "top1": [1.0, 1.0], "auc": [0.9, float("nan")]}}},
    "models": {"alphas": [0.0, 1e-3], "accuracy": [0.8, 0.75], "sentences": 3,
               "scores": {"gradient": {"rho": float("nan"), "values": [1.0, 2.0]},
                          "lrp": {"rho": -1.0, "values": [2.0, 1.0]}}},
}


def test_mean_sd():
    assert report.mean_sd([1.0, 3.0]) == "2.00 ± 1.41"
    assert report.mean_sd([2.0, float("nan")]) == "2.00 ± 0.00"
    assert report.mean_sd([float("nan")]) == "n/a"


def test_tables_name_the_commands_and_keep_only_the_chosen_methods(tmp_path):
    doc = tmp_path / "docs" / "coherency.md"
    block = report.tables(RES, ["gradient"], [tmp_path / "docs" / "img" / "coherency.png"], doc, threads=1)
    lines = block.splitlines()
    assert lines[0] == report.BEGIN and lines[-1] == report.END
    assert "scale, timestamps: `cmd A`; models: `cmd B`" in block and "1 thread(s), methods: gradient" in block
    assert "![coherency](img/coherency.png)" in block  # relative to the document
    assert "| gradient | 100 [100, 100] | 0.001 |" in block and "| information |" not in block
    assert "| gradient | 0.60 ± 0.14 | 1.00 ± 0.00 | 0.90 ± 0.00 |" in block  # NaN AUC left out
    assert "chance: mass = top-1 = 0.125" in block
    assert "| gradient | n/a | 1, 2 |" in block and "| lrp |" not in block
    assert "**Layers**" not in block  # a part without scores has no table
    both = report.tables(RES, ["information", "lrp"], [], doc, threads=2)
    assert "| information | 1 [0.9, 1.1] | 0 (at bound: True) |" in both and "| lrp | -1.00 | 2, 1 |" in both
    assert "![coherency]" not in both and not math.isnan(RES["models"]["scores"]["lrp"]["rho"])


def test_write_doc_replaces_only_the_generated_block(tmp_path):
    doc = tmp_path / "sub" / "c.md"
    report.write_doc(doc, f"{report.BEGIN}\none\n{report.END}")
    assert doc.read_text() == f"# Coherency study\n\n{report.BEGIN}\none\n{report.END}\n"
    doc.write_text(f"intro\n\n{report.BEGIN}\none\n{report.END}\n\nafter\n")
    report.write_doc(doc, f"{report.BEGIN}\ntwo\n{report.END}")
    assert doc.read_text() == f"intro\n\n{report.BEGIN}\ntwo\n{report.END}\n\nafter\n"
    plain = tmp_path / "plain.md"
    plain.write_text("text\n\n")
    report.write_doc(plain, "BLOCK")
    assert plain.read_text() == "text\n\nBLOCK\n"


def test_figures_draw_the_combined_grid_first(tmp_path):
    import torch

    from mi_explain import SaliencyExplanation

    e = SaliencyExplanation(scores=torch.rand(2, 3), words=["a", "b", "c"], layers=["0", "1"], tokens=[],
                            token_to_word=[], pieces=[1, 1, 1], embedding_dim=4, prior_scale=1.0,
                            objective=[0.0, 0.0], converged=[True, True], steps=1, method="gradient")
    paths = report.figures({"layers": ({"gradient": e}, None), "models": ({"gradient": e}, ["α=0", "α=1"])},
                           ["information", "gradient"], tmp_path)
    assert [p.name for p in paths] == ["coherency.png", "coherency_layers.png", "coherency_models.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
