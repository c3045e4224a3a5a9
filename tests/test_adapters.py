"""mi_explain.adapters: word grouping, pairs, padding, what is never perturbed, target selection, length limits."""

from __future__ import annotations

import pytest
import torch

from mi_explain.adapters import encode, max_model_length, select_target


def test_word_pieces_share_a_column_and_specials_are_never_perturbed(bert_tokenizer):
    enc = encode(bert_tokenizer, ["domestic tension and unhappiness", "the film"])
    assert enc.words == [["domestic", "tension", "and", "unhappiness"], ["the", "film"]]
    # [CLS] domestic tension and un ##happiness [SEP] / [CLS] the film [SEP] + padding
    assert enc.word_index[0].tolist() == [-1, 0, 1, 2, 3, 3, -1]
    assert enc.word_index[1].tolist() == [-1, 0, 1, -1, -1, -1, -1]
    assert enc.attention_mask[1].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert enc.pieces.tolist() == [[1, 1, 1, 2], [1, 1, 0, 0]]
    tokens = encode(bert_tokenizer, ["unhappiness"], granularity="token")
    assert tokens.words == [["un", "##happiness"]] and tokens.pieces.tolist() == [[1, 1]]
    special = encode(bert_tokenizer, ["the film"], perturb_special=True)
    assert special.words == [["[CLS]", "the", "film", "[SEP]"]] and special.word_index[0].tolist() == [0, 1, 2, 3]


def test_pairs_get_segments(bert_tokenizer):
    enc = encode(bert_tokenizer, [("the film", "is funny")])
    assert enc.words == [["the", "film", "is", "funny"]] and enc.segments == [[0, 0, 1, 1]]
    assert enc.extra["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_encode_errors_name_the_problem(bert_tokenizer):
    with pytest.raises(ValueError, match="text 1 is empty"):
        encode(bert_tokenizer, ["the film", "   "])
    with pytest.raises(TypeError, match="must be a tuple"):
        encode(bert_tokenizer, [["the", "film"]])
    with pytest.raises(ValueError, match="mixing single texts and text pairs"):
        encode(bert_tokenizer, ["the film", ("a", "b")])
    with pytest.raises(ValueError, match="granularity must be 'word' or 'token'"):
        encode(bert_tokenizer, ["the film"], granularity="char")
    with pytest.raises(ValueError, match="text 0 has 7 tokens, over the model's maximum of 5"):
        encode(bert_tokenizer, ["domestic tension and unhappiness"], max_length=5)
    assert encode(bert_tokenizer, ["domestic tension and unhappiness"], max_length=5,
                  truncation=True).words == [["domestic", "tension", "and"]]


def test_select_target_positions_with_left_and_right_padding():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)  # value = position (+4 for text 1)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert select_target(hidden, right, "cls")[0].flatten().tolist() == [0, 4]
    assert select_target(hidden, right, "last")[0].flatten().tolist() == [2, 7]
    assert select_target(hidden, left, "first")[0].flatten().tolist() == [1, 4]
    assert select_target(hidden, left, "last")[0].flatten().tolist() == [3, 7]
    assert select_target(hidden, right, 1)[0].flatten().tolist() == [1, 5]
    assert select_target(hidden, right, -1)[0].flatten().tolist() == [2, 7]
    vec, mask = select_target(hidden, right, "tokens")
    assert torch.equal(vec, hidden) and torch.equal(mask, right.bool())
    assert select_target(hidden, right, "logits")[0].flatten().tolist() == [2, 7]  # an LM head: last position
    pooled, one = select_target(torch.ones(2, 3), right, "cls")
    assert pooled.shape == (2, 1, 3) and bool(one.all())
    with pytest.raises(IndexError, match="outside a text of 3 tokens"):
        select_target(hidden, right, 3)
    with pytest.raises(ValueError, match="target must be"):
        select_target(hidden, right, "middle")


def test_max_model_length(tiny_bert, bert_tokenizer):
    assert max_model_length(tiny_bert, bert_tokenizer) == 64  # the tokenizer has no limit of its own
    assert max_model_length(torch.nn.Linear(2, 2), bert_tokenizer) is None


def test_states_of_a_subset_stop_the_pass_and_match_the_full_pass(tiny_bert, bert_tokenizer):
    """HFStates(..., only=[l]) returns exactly the full pass's state l, and never runs the later layers."""
    from mi_explain.adapters import HFStates
    from mi_explain.hooks import frozen, layer_specs

    specs = layer_specs(tiny_bert, None)
    enc = encode(bert_tokenizer, ["the film is warm", "a mess"])
    hf = HFStates(tiny_bert, specs, enc, "tokens")
    assert hf.supports_only
    emb = tiny_bert.get_input_embeddings()
    rows = torch.arange(2)
    calls: list[int] = []
    handles = [s.module.register_forward_hook(lambda *_a, i=i: calls.append(i)) for i, s in enumerate(specs)]
    try:
        with frozen(tiny_bert), torch.no_grad():
            x = emb(enc.input_ids)
            full = hf(x, rows)
            calls.clear()
            part = hf(x, rows, only=[1])
    finally:
        for h in handles:
            h.remove()
    assert len(part) == 1 and torch.equal(part[0], full[1])
    assert calls == [0, 1]  # layers 2… never ran
