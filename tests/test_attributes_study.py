"""mi_explain.attributes_study (Fig. 8 for any models): model specs, the default model folders, and a run on a
saved tiny classifier with its tokenizer and a concept file."""

from __future__ import annotations

import json

import pytest

from mi_explain import attributes_study as study
from mi_explain.attributes import ALL_WORDS

pytestmark = pytest.mark.usefixtures("one_thread")


def test_model_specs_and_default_models(tmp_path):
    assert study.model_specs(["a=x/y", "MiniLM (pretrained)=minilm"]) == [("a", "x/y"),
                                                                          ("MiniLM (pretrained)", "minilm")]
    for bad in ("no-equals-sign", "=path", "name="):
        with pytest.raises(ValueError, match="NAME=PATH"):
            study.model_specs([bad])
    with pytest.raises(FileNotFoundError, match="no saved model under .*glue_train.py"):
        study.default_models(tmp_path)
    for fam in ("lstm", "bert"):
        (tmp_path / fam / "model").mkdir(parents=True)
        (tmp_path / fam / "model" / "config.json").write_text("{}")
    (tmp_path / "cnn" / "model").mkdir(parents=True)  # no config.json: not a saved model
    assert study.default_models(tmp_path) == [("BERT", str(tmp_path / "bert" / "model")),
                                              ("LSTM", str(tmp_path / "lstm" / "model"))]
    with pytest.raises(ValueError, match="at least one"):
        study.run([], tmp_path / "out")


@pytest.mark.filterwarnings("ignore::mi_explain.UnconvergedWarning")  # 10 steps: a smoke size
def test_run_on_a_saved_classifier(tiny_bert, bert_tokenizer, tmp_path):
    tiny_bert.save_pretrained(tmp_path / "model")
    bert_tokenizer.save_pretrained(tmp_path / "model")
    concepts = {"near": ["sad", "funny"], "far": ["rice"]}
    out = tmp_path / "fig8"
    summary = study.run([("tiny one", str(tmp_path / "model"))], out, concepts=concepts, steps=10,
                        figure=tmp_path / "img" / "f.png")
    assert summary == json.loads((out / "summary.json").read_text(encoding="utf-8"))
    info = summary["models"]["tiny one"]
    assert info["pieces"] == 2 and len(info["layers"]) == 3 and set(info["r"]) == {ALL_WORDS, "near", "far"}
    assert summary["concepts"] == {"near": 2, "far": 1} and summary["word"] == study.WORD
    assert info["words"] == study.TEXT.split() and len(info["sigma_all_words"]) == 3
    assert (out / "fig8.png").stat().st_size > 1000 and (tmp_path / "img" / "f.png").is_file()
    assert (out / "explanations" / "tiny_one.json").is_file()
    csv = (out / "attributes.csv").read_text().splitlines()
    assert csv[0].startswith("model,layer,layer_index,concept,r,") and len(csv) == 1 + 3 * 3
    assert all(row.startswith("tiny one,") for row in csv[1:])
    with pytest.raises(FileNotFoundError, match="not a saved model folder"):
        study.run([("x", str(tmp_path / "nowhere"))], out)
