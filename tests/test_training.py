"""mi_explain.training: features, the L2 penalty really acts on the weights, accuracy is the argmax rate."""

from __future__ import annotations

import pytest
import torch

from mi_explain.models import build_model
from mi_explain.training import accuracy, encode_examples, make_trainer, train_classifier, trainer_class

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["the film is funny", "a rare bird has charm", "domestic tension and unhappiness", "sad and tender"] * 4
LABELS = [1, 1, 0, 0] * 4


def _model(tok):  # noqa: ANN001, ANN202
    torch.manual_seed(0)
    return build_model("lstm", vocab_size=len(tok), num_labels=2, pad_token_id=tok.pad_token_id, hidden_size=8,
                       num_hidden_layers=1, embedding_size=8)


def test_encode_examples(bert_tokenizer):
    feats = encode_examples(bert_tokenizer, TEXTS[:2], LABELS[:2], max_length=4)
    assert [f["labels"] for f in feats] == [1, 1] and all(len(f["input_ids"]) == 4 for f in feats)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        encode_examples(bert_tokenizer, TEXTS[:2], LABELS[:1], max_length=4)


def test_l2_penalty_shrinks_the_weights_and_training_is_seeded(bert_tokenizer, tmp_path):
    feats = encode_examples(bert_tokenizer, TEXTS, LABELS, max_length=16)
    norms = {}
    for alpha in (0.0, 0.05):
        model = _model(bert_tokenizer)
        trainer = train_classifier(model, bert_tokenizer, feats, output_dir=tmp_path / str(alpha), epochs=3, lr=0.05,
                                   batch_size=4, l2=alpha, use_cpu=True)
        assert trainer.state.global_step == 12 and not model.training
        norms[alpha] = float(sum((p.detach() ** 2).sum() for p in model.parameters()))
    assert norms[0.05] < 0.8 * norms[0.0], norms
    again = train_classifier(_model(bert_tokenizer), bert_tokenizer, feats, output_dir=tmp_path / "again", epochs=3,
                             lr=0.05, batch_size=4, use_cpu=True)
    assert float(sum((p.detach() ** 2).sum() for p in again.model.parameters())) == pytest.approx(norms[0.0], rel=1e-6)
    with pytest.raises(ValueError, match="l2 must be ≥ 0"):
        train_classifier(_model(bert_tokenizer), bert_tokenizer, feats, output_dir=tmp_path, l2=-1.0)


def test_accuracy_is_the_argmax_rate(bert_tokenizer):
    model = _model(bert_tokenizer).eval()
    with torch.no_grad():
        enc = bert_tokenizer(TEXTS, padding=True, return_tensors="pt")
        pred = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1)
    expected = float((pred == torch.tensor(LABELS)).float().mean())
    assert accuracy(model, bert_tokenizer, TEXTS, LABELS) == pytest.approx(expected)
    assert accuracy(model, bert_tokenizer, TEXTS, [int(p) for p in pred]) == 1.0
    with pytest.raises(ValueError, match="as many labels as texts"):
        accuracy(model, bert_tokenizer, TEXTS, LABELS[:3])


def test_the_trainer_adds_exactly_the_l2_penalty_to_the_loss(bert_tokenizer, tmp_path):
    from transformers import Trainer, TrainingArguments

    assert trainer_class(0.0) is Trainer
    with pytest.raises(ValueError, match="l2 must be ≥ 0, got -0.5"):
        trainer_class(-0.5)
    feats = encode_examples(bert_tokenizer, TEXTS[:4], LABELS[:4], max_length=16)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    model = _model(bert_tokenizer).eval()  # no dropout: the two losses see the same forward pass
    plain, penalised = (make_trainer(model, bert_tokenizer, args, feats, l2=a) for a in (0.0, 0.01))
    batch = plain.data_collator(feats)  # padded per batch
    assert batch["input_ids"].shape == (4, max(len(f["input_ids"]) for f in feats))
    with torch.no_grad():
        l0 = float(plain.compute_loss(model, dict(batch)))
        l1 = float(penalised.compute_loss(model, dict(batch)))
    squares = float(sum((p.detach() ** 2).sum() for p in model.parameters()))
    assert l1 - l0 == pytest.approx(0.01 * squares, rel=1e-4)
