"""The Transformer, LSTM and CNN families of mi_explain.models: tiny CPU configs, the real MiniLM tokenizer."""

from __future__ import annotations

import pytest
import torch

from mi_explain import explain
from mi_explain.hooks import find_layers
from mi_explain.models import FAMILIES, build_model

TINY = {
    "transformer": dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=64, dropout=0.0, attention_dropout=0.0),
    "lstm": dict(embedding_size=16, hidden_size=8, num_hidden_layers=3, dropout=0.0),
    "cnn": dict(embedding_size=16, num_filters=4, dropout=0.0),
}
LAYERS = {
    "transformer": ["transformer.layers.0", "transformer.layers.1"],
    "lstm": ["lstm.layers.0", "lstm.layers.1", "lstm.layers.2"],
    "cnn": ["cnn.layers.0", "cnn.layers.1", "cnn.layers.2", "cnn.layers.3"],
}
SHORT = "a rare bird"
LONG = "the film is funny , sad and surprisingly tender , and a rare bird has charm"


pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


@pytest.fixture(scope="module")
def tok():
    """The BERT WordPiece tokenizer of the packaged MiniLM (vocab 30522)."""
    from transformers import AutoTokenizer

    from mi_explain.resources import packaged_model_path

    return AutoTokenizer.from_pretrained(packaged_model_path("minilm"))


def tiny(family: str, tok, num_labels: int = 2, seed: int = 0):  # noqa: ANN001
    torch.manual_seed(seed)
    model = build_model(family, vocab_size=len(tok), num_labels=num_labels, pad_token_id=tok.pad_token_id,
                        **TINY[family])
    return model.eval()


def logits(model, batch: dict) -> torch.Tensor:  # noqa: ANN001
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_input_ids_and_inputs_embeds_agree(family, tok):
    model = tiny(family, tok)
    batch = tok([SHORT, LONG], padding=True, return_tensors="pt")
    ids = batch.pop("input_ids")
    by_ids = logits(model, {"input_ids": ids, **batch})
    by_embeds = logits(model, {"inputs_embeds": model.get_input_embeddings()(ids), **batch})
    assert by_ids.shape == (2, 2)
    assert torch.equal(by_ids, by_embeds)
    for bad in ({}, {"input_ids": ids, "inputs_embeds": model.get_input_embeddings()(ids)}):
        with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
            model(**bad)


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_does_not_leak(family, tok):
    model = tiny(family, tok)
    alone = logits(model, dict(tok(SHORT, return_tensors="pt")))
    padded = tok([SHORT, LONG], padding=True, return_tensors="pt")
    assert int(padded["attention_mask"][0].sum()) < padded["attention_mask"].shape[1]
    in_batch = logits(model, dict(padded))
    torch.testing.assert_close(in_batch[:1], alone, atol=1e-5, rtol=0)
    longest = logits(model, dict(tok(LONG, return_tensors="pt")))
    torch.testing.assert_close(in_batch[1:], longest, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_and_backward(family, tok):
    model = tiny(family, tok).train()
    batch = dict(tok([SHORT, LONG], padding=True, return_tensors="pt"))
    out = model(**batch, labels=torch.tensor([0, 1]))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    reg = tiny(family, tok, num_labels=1)
    out = reg(**batch, labels=torch.tensor([0.5, -1.0]))
    expected = torch.nn.functional.mse_loss(out.logits.squeeze(-1), torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(out.loss, expected)
    loss, logit = model(**batch, labels=torch.tensor([0, 1]), return_dict=False)
    assert logit.shape == (2, 2) and loss.ndim == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_a_few_steps_learn_a_separable_task(family, tok):
    good = ["a good film", "good and fun", "really good", "the acting is good"]
    bad = ["a bad film", "bad and dull", "really bad", "the acting is bad"]
    batch = dict(tok(good + bad, padding=True, return_tensors="pt"))
    labels = torch.tensor([1] * len(good) + [0] * len(bad))
    model = tiny(family, tok).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = model(**batch, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("family", FAMILIES)
def test_save_and_load_through_the_auto_classes(family, tok, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    model = tiny(family, tok)
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is FAMILIES[family].config and config.model_type == f"mi_{family}"
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is FAMILIES[family].classifier
    batch = dict(tok([SHORT, LONG], padding=True, return_tensors="pt"))
    assert torch.equal(logits(loaded, batch), logits(model, batch))
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is FAMILIES[family].base
    with torch.no_grad():
        pooled = base(**batch).pooler_output
    torch.testing.assert_close(pooled, model.base_model(**batch).pooler_output)


@pytest.mark.parametrize("family", FAMILIES)
def test_layers_are_found_and_explained(family, tok):
    model = tiny(family, tok).train()
    assert [name for name, _ in find_layers(model)] == LAYERS[family]
    assert [name for name, _ in find_layers(model.base_model)] == [n.split(".", 1)[1] for n in LAYERS[family]]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    e = explain(model, tok, "a rare bird has charm", progress=False)
    assert e.sigma.shape == (len(LAYERS[family]), 5)
    assert bool(torch.isfinite(e.sigma).all()) and bool((e.sigma > 0).all())
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("family", FAMILIES)
def test_hidden_states_are_the_layer_outputs(family, tok):
    model = tiny(family, tok)
    batch = dict(tok([SHORT, LONG], padding=True, return_tensors="pt"))
    seen = []
    handles = [m.register_forward_hook(lambda _m, _a, out: seen.append(out)) for _, m in find_layers(model)]
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    for h in handles:
        h.remove()
    assert len(out.hidden_states) == len(seen) + 1
    n_tok = batch["input_ids"].shape[1]
    for state, hooked in zip(out.hidden_states[1:], seen):  # every layer ran, in ModuleList order
        assert state.ndim == 3 and state.shape[:2] == (2, n_tok)
        assert torch.equal(state, hooked)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_classifier_input_can_be_explained(family, tok):
    model = tiny(family, tok)
    pooler = model.base_model.pooler
    e = explain(model, tok, "a rare bird has charm", layer_modules=[pooler], progress=False)
    assert e.sigma.shape == (1, 5) and bool(torch.isfinite(e.sigma).all())
    seen = []
    handle = pooler.register_forward_hook(lambda _m, _a, out: seen.append(out))
    with torch.no_grad():
        out = model.base_model(**tok("a rare bird has charm", return_tensors="pt"))
    handle.remove()
    assert torch.equal(seen[0], out.pooler_output)


def test_cnn_branches_are_parallel_layers(tok):
    model = tiny("cnn", tok)
    assert [int(b.conv.kernel_size[0]) for b in model.base_model.layers] == [1, 3, 5, 7]
    e = explain(model, tok, "a rare bird has charm", layers=[2, 0], progress=False)
    assert e.layers == ["layer 0", "layer 2"] and e.sigma.shape == (2, 5)


def test_lstm_refuses_left_padding(tok):
    model = tiny("lstm", tok)
    mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match="right padding"):
        model(input_ids=torch.ones(2, 3, dtype=torch.long), attention_mask=mask)


def test_transformer_rejects_too_long_inputs(tok):
    model = tiny("transformer", tok)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=torch.ones(1, 65, dtype=torch.long))


def test_build_model_errors():
    with pytest.raises(ValueError, match=r"'cnn', 'lstm', 'transformer'"):
        build_model("gru", vocab_size=10)
    with pytest.raises(ValueError, match="hiden_size"):
        build_model("lstm", vocab_size=10, hiden_size=8)
    with pytest.raises(TypeError, match="position_ids"):
        build_model("cnn", vocab_size=10, **TINY["cnn"])(input_ids=torch.ones(1, 3, dtype=torch.long),
                                                         position_ids=torch.zeros(1, 3, dtype=torch.long))


def test_defaults_match_the_paper():
    t, lstm, cnn = (FAMILIES[f].config() for f in ("transformer", "lstm", "cnn"))
    assert (t.num_hidden_layers, t.num_attention_heads, t.hidden_size, t.intermediate_size) == (3, 4, 256, 1024)
    assert (lstm.num_hidden_layers, lstm.hidden_size, lstm.embedding_size) == (4, 768, 768)
    assert tuple(cnn.kernel_sizes) == (1, 3, 5, 7)


def test_trainer_runs(tok, tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    texts = ["a good film", "a bad film", "really good", "really bad", "good fun", "dull and bad"] * 2
    data = Dataset.from_dict({"sentence": texts, "label": [1, 0, 1, 0, 1, 0] * 2})
    data = data.map(lambda b: tok(b["sentence"]), batched=True)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=3,
                             per_device_train_batch_size=4, logging_steps=1, save_strategy="no")
    model = tiny("lstm", tok).train()
    trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tok)
    result = trainer.train()
    assert trainer.state.global_step == 3
    assert torch.isfinite(torch.tensor(result.training_loss))


def test_load_classifier_with_and_without_a_saved_tokenizer(tok, tmp_path):
    from mi_explain.models import load_classifier

    model = tiny("lstm", tok)
    model.save_pretrained(tmp_path / "m")
    loaded, got = load_classifier(tmp_path / "m")  # no tokenizer saved: the packaged MiniLM's
    assert not loaded.training and got.vocab_size == tok.vocab_size
    ids = torch.tensor([tok("a fine film")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits)
    with pytest.raises((OSError, ValueError)):  # no tokenizer in the folder and no fallback
        load_classifier(tmp_path / "m", fallback_tokenizer=None)
    tok.save_pretrained(tmp_path / "m")
    assert load_classifier(tmp_path / "m", fallback_tokenizer=None, padding_side="left")[1].padding_side == "left"
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_classifier(tmp_path / "missing")
