"""The console command: one-line errors with exit code 2, checks before the model loads, every output."""

from __future__ import annotations

import json

import pytest
import torch

import mi_explain.cli as cli
from mi_explain import Explanation
from mi_explain.cli import build_parser, main, resolve_model_path
from mi_explain.cli_checks import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_bert, bert_tokenizer) -> str:
    """A folder with a saved tiny random BERT and its tokenizer, as a user would pass to --model."""
    d = tmp_path_factory.mktemp("tiny_model")
    tiny_bert.save_pretrained(d)
    bert_tokenizer.save_pretrained(d)
    return str(d)


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if the model loader is reached."""
    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")
    monkeypatch.setattr(cli, "load_model", boom)


def _error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mi-explain: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _texts(tmp_path, name: str, content: str) -> str:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    return str(p)


# ------------------------------------------------------------------------------ checked before loading

@pytest.mark.parametrize(("extra", "expected"), [
    (["--layers", "abc"], "argument --layers: 'abc' is not a layer"),
    (["--layers", "1,,2"], "'' is not a layer"),
    (["--text-pair", ""], "--text-pair is empty"),
    (["--text-pair", "   "], "--text-pair is empty"),
    (["--rate", "-1"], "argument --rate: -1 must be a positive"),
    (["--rate", "fast"], "'fast' is not a number"),
    (["--steps", "0"], "argument --steps: 0 must be ≥ 1"),
    (["--samples", "1"], "argument --samples: 1 must be ≥ 2"),
    (["--normalization", "mean"], "argument --normalization: invalid choice: 'mean'"),
    (["--seed", "x"], "argument --seed: 'x' is not an integer"),
    (["--target", "middle"], "argument --target: 'middle': use tokens, cls, first, last"),
    (["--method", "shap"], "argument --method: invalid choice: 'shap'"),
    (["--value", "scores"], "--value scores is for the baselines"),
    (["--method", "lrp", "--value", "sigma"], "--value sigma is defined only for --method information"),
    (["--device", "tpu9"], "--device tpu9: not a device"),
    (["--regularization", "0,1"], "argument --regularization: 0 must be a positive"),
])
def test_option_mistakes_are_one_line(capsys, tmp_path, no_loading, extra, expected):
    line = _error(capsys, ["explain", "--model", "minilm", "--text", "a bird", "--out", str(tmp_path), *extra])
    assert expected in line


def test_cuda_without_cuda(capsys, tmp_path, no_loading):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = _error(capsys, ["explain", "--model", "minilm", "--text", "a bird", "--device", "cuda",
                           "--out", str(tmp_path)])
    assert "--device cuda: CUDA is not available" in line and "--device cpu" in line


def test_inputs_are_checked(capsys, tmp_path, no_loading):
    base = ["explain", "--model", "minilm", "--out", str(tmp_path / "o")]
    assert "exactly one of --text" in _error(capsys, base)
    assert "exactly one of --text" in _error(capsys, [*base, "--text", "a", "--text-file", "f.txt"])
    assert "--text is empty" in _error(capsys, [*base, "--text", " "])
    assert "no such file" in _error(capsys, [*base, "--text-file", str(tmp_path / "missing.txt")])
    mixed = _texts(tmp_path, "mixed.txt", "a bird\nis it\ta bird ?\n")
    line = _error(capsys, [*base, "--text-file", mixed])
    assert "mixes single texts (line 1) and tab-separated pairs (line 2)" in line
    three = _texts(tmp_path, "three.tsv", "a\tb\tc\n")
    assert "line 1: 3 tab-separated fields" in _error(capsys, [*base, "--text-file", three])
    half = _texts(tmp_path, "half.tsv", "a bird\t \n")
    assert "line 1: an empty text in a pair" in _error(capsys, [*base, "--text-file", half])
    blank = _texts(tmp_path, "blank.txt", "\n  \n")
    assert "no texts" in _error(capsys, [*base, "--text-file", blank])
    pairs = _texts(tmp_path, "p.tsv", "a\tb\n")
    assert "--text-pair goes with --text" in _error(capsys, [*base, "--text-file", pairs, "--text-pair", "x"])
    assert "--reference-file" in _error(capsys, [*base, "--text", "a", "--reference-file", str(tmp_path / "no")])


def test_output_folder_and_model_path_are_checked(capsys, tmp_path, no_loading):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    base = ["explain", "--text", "a bird"]
    line = _error(capsys, [*base, "--model", "minilm", "--out", str(a_file / "sub")])
    assert "is a file, so the folder cannot be created" in line
    assert "exists and is not a folder" in _error(capsys, [*base, "--model", "minilm", "--out", str(a_file)])
    out = ["--out", str(tmp_path / "o")]
    assert "no such folder" in _error(capsys, [*base, "--model", str(tmp_path / "nope"), *out])
    assert "no such folder" in _error(capsys, [*base, "--model", "./models/nope", *out])
    empty = tmp_path / "empty_model"
    empty.mkdir()
    line = _error(capsys, [*base, "--model", str(empty), *out])
    assert "has no config.json, weights" in line and "save_pretrained" in line
    assert "is a file" in _error(capsys, [*base, "--model", str(a_file), *out])
    assert not (tmp_path / "o").exists()  # nothing created by a failed check


def test_unknown_hub_id_offline(capsys, tmp_path, no_loading, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = _error(capsys, ["explain", "--model", "someone/not-a-cached-model", "--text", "a", "--out", str(tmp_path)])
    assert "the Hub is offline" in line


def test_debug_shows_the_traceback(tmp_path, no_loading):
    with pytest.raises(UsageError, match="--text-pair is empty"):
        main(["explain", "--model", "minilm", "--text", "a", "--text-pair", "", "--out", str(tmp_path), "--debug"])


def test_usage_mistakes_outside_explain(capsys, tmp_path):
    assert "invalid choice: 'frobnicate'" in _error(capsys, ["frobnicate"])
    assert "the following arguments are required" in _error(capsys, [])
    assert "sweep needs --config" in _error(capsys, ["sweep"])
    assert "--config nope.yaml: no such file" in _error(capsys, ["sweep", "--config", "nope.yaml"])
    assert "no such file" in _error(capsys, ["show", str(tmp_path / "none.json")])
    bad = _texts(tmp_path, "bad.json", '{"format": 1')
    assert f"{bad}: not valid JSON" in _error(capsys, ["show", bad])


def test_sweep_option_mistakes_are_one_line(capsys, tmp_path):
    config = _texts(tmp_path, "c.yaml", "task: sst2\n")
    line = _error(capsys, ["sweep", "--config", config, "--n_sentences", "many"])
    assert line.startswith("mi-explain: error: sweep: argument --n_sentences/--n-sentences: invalid int value")
    bad = _texts(tmp_path, "bad.yaml", "task: sst2\nfrobs: 3\n")
    assert "unknown option(s) ['frobs']" in _error(capsys, ["sweep", "--config", bad])


def test_sweep_passes_its_options_to_the_glue_sweep(monkeypatch, tmp_path):
    import mi_explain.glue.sweep as sweep

    seen = {}
    monkeypatch.setattr(sweep, "main", lambda argv: seen.setdefault("argv", argv))
    config = _texts(tmp_path, "c.yaml", "task: sst2\n")
    assert main(["sweep", "--config", config, "--n_sentences", "3"]) == 0
    assert seen["argv"] == ["--config", config, "--n_sentences", "3"]


def test_help_gives_every_default():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    for name in ("explain", "show"):
        for action in sub[name]._actions:
            if action.dest == "help" or action.help is None:
                continue
            assert "default" in action.help or "required" in action.help or action.dest == "file", (name, action.dest)
    helps = {a.dest: a.help for a in sub["explain"]._actions}
    from mi_explain.estimator import EstimatorConfig

    assert f"{EstimatorConfig.scale_factor:g} × the spread" in helps["scale"] and "runs/explain" in helps["out"]


# ------------------------------------------------------------------------------ runs

def test_tiny_model_folder_pairs_from_a_file_and_show(capsys, tmp_path, model_dir):
    pairs = _texts(tmp_path, "pairs.tsv", "is it a rare bird ?\tit is\n\nthe film is funny\tit is sad\n")
    out = tmp_path / "run"
    code = main(["explain", "--model", model_dir, "--text-file", pairs, "--layers", "0,-1", "--target", "cls",
                 "--steps", "8", "--out", str(out), "--quiet", "--batch-size", "1"])
    assert code == 0, capsys.readouterr().err
    assert "--- text 1" in capsys.readouterr().out
    from mi_explain.results import read_jsonl

    items = read_jsonl(out / "explanations.jsonl")
    assert [e.text for e in items] == [("is it a rare bird ?", "it is"), ("the film is funny", "it is sad")]
    assert items[0].layers == ["layer 0", "layer 2"] and items[0].target == "cls"
    assert (out / "sigma.csv").read_text().startswith("text,layer,word,sigma")
    assert (out / "explanations.html").read_text().count('class="mi-explain"') == 2

    assert main(["show", str(out / "explanations.jsonl")]) == 0
    table = capsys.readouterr().out
    assert "--- 1:" in table and "funny" in table and "layer 2" in table
    assert main(["show", str(out / "explanations.jsonl"), "--as", "png", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p_0.png").stat().st_size > 0 and (tmp_path / "p_1.png").stat().st_size > 0


def test_errors_found_after_loading_are_one_line(capsys, tmp_path, model_dir):
    base = ["explain", "--model", model_dir, "--out", str(tmp_path), "--quiet", "--steps", "4"]
    assert "layer index 9 out of range: the model has 3 layers" in _error(capsys, [*base, "--text", "a bird",
                                                                                   "--layers", "9"])
    long = " ".join(["bird"] * 80)
    line = _error(capsys, [*base, "--text", long])
    assert "over the model's maximum of 64" in line and "pass --truncation" in line
    assert main([*base, "--text", long, "--truncation", "--layers", "0"]) == 0
    capsys.readouterr()  # that run may warn in one line (4 steps: not converged)
    line = _error(capsys, [*base, "--text", "a bird", "--layer-modules", "encoder.nothing"])
    assert line.startswith("mi-explain: error: --layer-modules:")
    assert main([*base, "--text", "a bird", "--layer-modules", "encoder.layer.1", "--regularization", "0.5"]) == 0
    e = Explanation.load(tmp_path / "explanation.json")
    assert e.layers == ["layer 0"] and e.regularization.tolist() == [0.5]


def test_baseline_method(capsys, tmp_path, model_dir):
    out = tmp_path / "g"
    code = main(["explain", "--model", model_dir, "--text", "a rare bird", "--method", "gradient", "--layers", "0",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert (out / "scores.csv").exists() and (out / "scores.png").exists()
    html = (out / "explanation.html").read_text()
    assert "gradient · target tokens" in html
    assert "--rate" not in capsys.readouterr().err
    assert main(["show", str(out / "explanation.json")]) == 0
    assert "gradient · target tokens; scores per layer and word" in capsys.readouterr().out
    line = _error(capsys, ["explain", "--model", model_dir, "--text", "a bird", "--method", "gradient",
                           "--rate", "0.5", "--out", str(out)])
    assert "--rate apply only to --method information, not to gradient" in line


@pytest.mark.slow
def test_cli_explains_and_writes_files(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["explain", "--model", "minilm", "--text", "a rare bird has charm", "--layers", "0,5",
                 "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "rare" in printed and "information per layer" in printed
    for name in ["explanation.json", "sigma.csv", "sigma.png", "explanation.html"]:
        assert (out / name).stat().st_size > 0, name
    e = Explanation.load(out / "explanation.json")
    assert e.layers == ["layer 0", "layer 5"] and e.words == ["a", "rare", "bird", "has", "charm"]
    assert json.loads((out / "explanation.json").read_text())["options"]["model"] == "minilm"
    assert main(["show", str(out / "explanation.json"), "--as", "html"]) == 0
    assert (out / "explanation.html").read_text().startswith("<!DOCTYPE html>")


def test_hub_ids_and_paths_pass_through():
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"
    assert resolve_model_path("/some/folder") == "/some/folder"


def test_unconverged_layers_are_named_in_one_line(capsys, tmp_path, model_dir):
    code = main(["explain", "--model", model_dir, "--out", str(tmp_path), "--quiet", "--steps", "2",
                 "--text", "a rare bird", "--layers", "0,1"])
    cap = capsys.readouterr()
    assert code == 0
    warn = [line for line in cap.err.splitlines() if line.startswith("mi-explain: warning:")]
    assert len(warn) == 1 and "layer 0" in warn[0] and "layer 1" in warn[0] and "within 2 steps" in warn[0]
    assert "(not converged)" in cap.out  # the printed map marks the layers too
