"""The one driver: every method through the same path, the model's prediction and module inputs as states,
prior_scale / max_length, a reusable σ_s, and one load for the results of every method."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import mi_explain
from mi_explain import Explanation, SaliencyExplanation, available_methods, estimate_regularization, explain
from mi_explain.driver import model_batch, state_specs
from mi_explain.hooks import frozen
from mi_explain.results import read_jsonl
from mi_explain.results.io import append_jsonl
from tests.conftest import CORPUS

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "domestic tension and unhappiness"
FAST = {"information": {"steps": 30, "samples": 4, "progress": False}, "gradient": {"projections": 2},
        "integrated_gradients": {"projections": 2, "n_steps": 2}, "perturbation": {"steps": 5},
        "lrp": {"projections": 2}}


def _clean_states(model, tok, text, **kw):  # noqa: ANN001, ANN202
    specs = state_specs(model, kw.pop("layers", None), kw.pop("layer_modules", None), kw.get("target", "tokens"))
    with frozen(model):
        batch, enc = model_batch(model, tok, [text], specs, **kw)
        return batch, enc, batch.clean().states


def _inputs(tok, text):  # noqa: ANN001, ANN202
    enc = tok(text, return_tensors="pt")
    return {k: v for k, v in enc.items() if k != "offset_mapping"}


def test_logits_and_prediction_states_are_the_models_output(tiny_bert, bert_tokenizer):
    with torch.no_grad():
        logits = tiny_bert(**_inputs(bert_tokenizer, TEXT)).logits[0]
    batch, _, clean = _clean_states(tiny_bert, bert_tokenizer, TEXT, target="logits")
    assert batch.labels == ["logits"] and torch.allclose(clean[0][0], logits, atol=1e-5)
    batch, _, clean = _clean_states(tiny_bert, bert_tokenizer, TEXT, target="prediction")
    assert batch.labels == ["prediction"] and clean[0].shape == (1, 1)
    assert torch.allclose(clean[0][0, 0], logits.max(), atol=1e-5)
    # the explained number stays the clean prediction's class, also for the other class's higher logit
    assert int(batch.fn.classes[0]) == int(logits.argmax())


def test_prediction_gradient_matches_autograd(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, TEXT, method="gradient", target="prediction", reduction="sum")
    assert isinstance(e, SaliencyExplanation) and e.layers == ["prediction"] and e.target == "prediction"
    enc = _inputs(bert_tokenizer, TEXT)
    emb = tiny_bert.get_input_embeddings()
    x = emb(enc["input_ids"]).detach().requires_grad_(True)
    with frozen(tiny_bert):
        logits = tiny_bert(inputs_embeds=x, attention_mask=enc["attention_mask"],
                           token_type_ids=enc["token_type_ids"]).logits[0]
        (g,) = torch.autograd.grad(logits[logits.argmax()], x)
    per_token = g[0].abs().mean(-1)  # [T]: [CLS] domestic tension and un ##happiness [SEP]
    expected = torch.stack([per_token[1], per_token[2], per_token[3], per_token[4:6].mean()])
    assert torch.allclose(e.scores[0], expected, rtol=1e-4, atol=1e-7)


def test_head_targets_refuse_layers_and_need_a_head(tiny_bert, bert_tokenizer, tiny_models):
    with pytest.raises(ValueError, match="leave layers and layer_modules unset"):
        explain(tiny_bert, bert_tokenizer, TEXT, target="logits", layers=[0])
    distil, tok, _ = tiny_models["distilbert"]  # a bare encoder: no logits
    with pytest.raises(TypeError, match="no tensor field 'logits'"):
        explain(distil, tok, TEXT, target="prediction", method="gradient")
    e = explain(tiny_bert, bert_tokenizer, TEXT, target="logits", **FAST["information"])
    assert e.sigma.shape == (1, 4) and e.layers == ["logits"] and bool(torch.isfinite(e.sigma).all())


def test_module_input_capture(tiny_bert, bert_tokenizer):
    with torch.no_grad():
        pooled = tiny_bert.bert(**_inputs(bert_tokenizer, TEXT)).pooler_output[0]
    batch, _, clean = _clean_states(tiny_bert, bert_tokenizer, TEXT, layers=[0],
                                    layer_modules=[(tiny_bert.classifier, "input")], target="cls")
    assert batch.labels == ["classifier (input)"] and torch.allclose(clean[0][0], pooled, atol=1e-5)
    batch, _, out = _clean_states(tiny_bert, bert_tokenizer, TEXT, layers=[0],
                                  layer_modules={"head": tiny_bert.classifier}, target="cls")
    assert batch.labels == ["head"] and out[0].shape == (1, 2)
    with pytest.raises(ValueError, match="neither 'input' nor 'output'"):
        explain(tiny_bert, bert_tokenizer, TEXT, layer_modules=[(tiny_bert.classifier, "inside")])


def test_prior_scale_and_max_length(tiny_bert, bert_tokenizer):
    e = explain(tiny_bert, bert_tokenizer, TEXT, layers=[0], prior_scale=0.5, **FAST["information"])
    assert e.prior_scale == 0.5 and e.options["prior_scale"] == 0.5
    assert e.options["regularization"] == "random_tokens×32"  # the default σ_s, recorded as used
    assert torch.allclose(e.word_information, torch.log(0.5 / e.sigma).clamp(min=0))
    with pytest.raises(ValueError, match="5 tokens|over the model's maximum of 5"):
        explain(tiny_bert, bert_tokenizer, TEXT, layers=[0], max_length=5, **FAST["information"])
    cut = explain(tiny_bert, bert_tokenizer, TEXT, layers=[0], max_length=5, truncation=True, **FAST["information"])
    assert cut.words == ["domestic", "tension", "and"] and cut.options["max_length"] == 5
    with pytest.raises(ValueError, match="over the model's maximum of 64"):
        explain(tiny_bert, bert_tokenizer, TEXT, max_length=65)


def test_the_sigma_s_used_is_recorded_for_functions():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))

    def phi(xb: torch.Tensor) -> torch.Tensor:
        return xb.sum(1)

    opts = {"steps": 20, "samples": 4, "progress": False}
    assert mi_explain.explain_function(phi, x, **opts).options["regularization"] == "gaussian×64"
    assert mi_explain.explain_function(phi, x, n_reference=8, **opts).options["regularization"] == "gaussian×8"
    ref = torch.randn(5, 4, 3)
    e = mi_explain.explain_function(phi, x, reference_inputs=ref, **opts)
    assert e.options["regularization"] == "reference_inputs×5"
    assert float(e.regularization[0]) == pytest.approx(float(phi(ref).var(0).mean().sqrt()), rel=1e-5)
    assert mi_explain.explain_function(phi, x, regularization=2.0, **opts).options["regularization"] == "given"


def test_estimate_regularization_is_reused_exactly(tiny_bert, bert_tokenizer):
    reg = estimate_regularization(tiny_bert, bert_tokenizer, CORPUS, layers=[0, 2])
    assert reg.layers == ["layer 0", "layer 2"] and reg.n_texts == len(CORPUS) and bool((reg.sigma_s > 0).all())
    a = explain(tiny_bert, bert_tokenizer, TEXT, layers=[0, 2], regularization=reg, **FAST["information"])
    b = explain(tiny_bert, bert_tokenizer, TEXT, layers=[0, 2], reference_texts=CORPUS, **FAST["information"])
    assert torch.equal(a.regularization, reg.sigma_s) and torch.equal(a.sigma, b.sigma)
    assert a.options["regularization"] == "reference_texts"
    with pytest.raises(ValueError, match=r"no σ_s for \['layer 1'\]"):
        explain(tiny_bert, bert_tokenizer, TEXT, layers=[1], regularization=reg)
    with pytest.raises(ValueError, match="estimated for target='tokens', not 'cls'"):
        explain(tiny_bert, bert_tokenizer, TEXT, layers=[0], target="cls", regularization=reg)
    with pytest.raises(ValueError, match="at least 2 texts"):
        estimate_regularization(tiny_bert, bert_tokenizer, CORPUS[:1])


@pytest.mark.parametrize("method", available_methods())
def test_every_method_round_trips_through_one_load(tiny_bert, bert_tokenizer, method, tmp_path):
    e = explain(tiny_bert, bert_tokenizer, ("domestic tension", "and unhappiness"), method=method, layers=[0, 1],
                **FAST[method])
    assert e.method == method and type(e) is (Explanation if method == "information" else SaliencyExplanation)
    for back in (mi_explain.load(e.save(tmp_path / "e.json")), Explanation.load(tmp_path / "e.json")):
        assert type(back) is type(e) and back.method == method
        assert torch.equal(back.values(), e.values()) and back.to_dict() == e.to_dict()
        assert back.segments == [0, 0, 1, 1] and back.text == ("domestic tension", "and unhappiness")
    append_jsonl(tmp_path / "all.jsonl", e, {"m": method})
    (got, meta), = read_jsonl(tmp_path / "all.jsonl", with_meta=True)
    assert type(got) is type(e) and meta == {"m": method}


def test_files_of_the_previous_format_load_into_the_right_class(tiny_bert, bert_tokenizer, tmp_path):
    e = explain(tiny_bert, bert_tokenizer, TEXT, method="gradient", layers=[0], projections=2)
    old = e.to_dict()
    old.update(format="mi_explain.explanation/1", sigma=old.pop("scores"), at_bound=[[False] * 4],
               regularization=["nan"])
    del old["method"]
    back = mi_explain.results.io.from_dict(old)
    assert isinstance(back, SaliencyExplanation) and back.method == "gradient" and torch.equal(back.scores, e.scores)


def test_methods_and_results_import_nothing_above_them():
    root = Path(mi_explain.__file__).parent
    above = {"driver", "api", "callbacks", "cli", "glue", "attributes", "information", "scripts"}
    for sub in ("methods", "results"):
        for path in (root / sub).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level >= 2:
                    top = (node.module or "").split(".")[0]
                    assert top not in above, f"{path.name} imports ..{node.module}"


def test_prediction_of_a_language_model_head_is_the_next_token(tiny_models):
    gpt2, tok, _ = tiny_models["gpt2"]
    text = "a rare bird has charm"
    with torch.no_grad():
        logits = gpt2(**tok(text, return_tensors="pt")).logits[0, -1]  # [V] at the last position
    batch, _, clean = _clean_states(gpt2, tok, text, target="prediction")
    assert torch.allclose(clean[0][0, 0], logits.max(), atol=1e-5)
    e = explain(gpt2, tok, text, target="prediction", method="gradient", reduction="sum")
    assert e.layers == ["prediction"] and bool(torch.isfinite(e.scores).all()) and float(e.scores.sum()) > 0
