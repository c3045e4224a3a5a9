"""MICallback: values in log_history and reporters, history file and plot, training left bit-identical,
main-process-only writing, argument errors, and plot_training_information."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CORPUS, PIECES, WORDS
from transformers import TrainerCallback

from mi_explain.callbacks import (
    HISTORY_FILE,
    PLOT_FILE,
    MICallback,
    load_history,
    plot_training_information,
    preserved_training_state,
)

#: a cheap probe: few estimator steps and samples (the numbers are not the point here).
FAST = {"steps": 10, "samples": 4, "n_reference": 4}
PROBE = CORPUS[:3]


pytestmark = pytest.mark.usefixtures("one_thread")  # shared fixture in conftest.py


def _tiny_bert(tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, num_labels=2,
                     hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    torch.manual_seed(0)
    return BertForSequenceClassification(cfg)


def _trainer(tokenizer, out, callbacks=(), max_steps: int = 10, model=None):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    data = [{**tokenizer(text), "labels": i % 2} for i, text in enumerate(CORPUS * 8)]
    args = TrainingArguments(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=4,
                             learning_rate=1e-3, use_cpu=True, report_to="none", save_strategy="no",
                             logging_steps=5, seed=0, disable_tqdm=True, dataloader_num_workers=0)
    return Trainer(model=model if model is not None else _tiny_bert(tokenizer), args=args, train_dataset=data,
                   data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                   callbacks=list(callbacks))


class Recorder(TrainerCallback):
    """A reporter stand-in: keeps every ``logs`` dict its ``on_log`` receives."""

    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def test_values_reach_log_history_reporters_history_file_and_plot(bert_tokenizer, tmp_path):
    recorder = Recorder()  # placed BEFORE the callback: it sees the values only if they go through Trainer.log
    cb = MICallback(bert_tokenizer, PROBE, every_n_steps=4, **FAST)
    trainer = _trainer(bert_tokenizer, tmp_path, [recorder, cb], max_steps=10)
    trainer.train()

    steps = [0, 4, 8, 10]  # start, every 4 steps, end
    entries = [h for h in trainer.state.log_history if "mi/layer_0/information" in h]
    assert [h["step"] for h in entries] == steps
    for h in entries:
        for key in ("mi/layer_0/information", "mi/layer_1/information", "mi/layer_0/conditional_entropy",
                    "mi/layer_1/conditional_entropy", "mi/seconds"):
            assert math.isfinite(h[key]), key
    assert [r["mi/layer_1/information"] for r in recorder.logs if "mi/layer_1/information" in r] == \
        [h["mi/layer_1/information"] for h in entries]
    assert any("loss" in h for h in trainer.state.log_history)  # ordinary logging goes on

    history = pd.read_csv(tmp_path / HISTORY_FILE)
    assert len(history) == len(steps) * 2  # steps × layers
    assert history["step"].tolist() == [s for s in steps for _ in range(2)]
    assert history["layer"].tolist() == ["layer 0", "layer 1"] * len(steps)
    for col in ("epoch", "information", "conditional_entropy", "conditional_entropy_per_dim", "information_sem",
                "n_sentences", "seconds"):
        assert col in history.columns
    assert (history["n_sentences"] == len(PROBE)).all()
    last = history[history["step"] == 10].set_index("layer")
    assert last.loc["layer 0", "information"] == pytest.approx(entries[-1]["mi/layer_0/information"])
    assert last.loc["layer 1", "conditional_entropy"] == pytest.approx(entries[-1]["mi/layer_1/conditional_entropy"])
    assert history["information"].nunique() > 2  # the weights move, so does the curve
    assert (tmp_path / PLOT_FILE).stat().st_size > 1000
    pd.testing.assert_frame_equal(cb.history, history, check_dtype=False)


def _train_weights(tokenizer, out, callbacks):
    trainer = _trainer(tokenizer, out, callbacks, max_steps=10)
    trainer.train()
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}


def test_training_is_bit_identical_with_and_without_the_callback(bert_tokenizer, tmp_path):
    plain = _train_weights(bert_tokenizer, tmp_path / "plain", [])
    probed = _train_weights(bert_tokenizer, tmp_path / "probed",
                            [MICallback(bert_tokenizer, PROBE, every_n_steps=3, **FAST)])
    assert (tmp_path / "probed" / HISTORY_FILE).exists()
    assert plain.keys() == probed.keys()
    for name in plain:
        assert torch.equal(plain[name], probed[name]), name

    class DrawsOnce(TrainerCallback):  # the check can fail: one stray random draw changes the dropout masks
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                torch.rand(1)

    disturbed = _train_weights(bert_tokenizer, tmp_path / "disturbed", [DrawsOnce()])
    assert not all(torch.equal(plain[n], disturbed[n]) for n in plain)


def test_probe_outside_trainer_leaves_grads_modes_flags_and_rng(bert_tokenizer, tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    model = _tiny_bert(bert_tokenizer)
    model.train()
    model.classifier.weight.requires_grad_(False)
    torch.manual_seed(1)
    grads = {n: torch.randn_like(p) for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.grad = grads[n]
    expected_next = torch.rand(3, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    state = TrainerState(global_step=5, max_steps=100, epoch=0.5)
    cb = MICallback(bert_tokenizer, PROBE, every_n_steps=5, plot_file=None, **FAST)
    cb.on_step_end(args, state, TrainerControl(), model=model)

    assert torch.equal(torch.rand(3), expected_next)  # global RNG as before the probe
    assert all(m.training for m in model.modules())
    assert not model.classifier.weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if n != "classifier.weight")
    for n, p in model.named_parameters():
        assert p.grad is grads[n] and torch.equal(p.grad, grads[n]), n
    assert [h["step"] for h in state.log_history] == [5]  # no Trainer: log_history only
    assert "mi/layer_1/information" in state.log_history[0]
    assert len(pd.read_csv(tmp_path / HISTORY_FILE)) == 2
    assert not (tmp_path / PLOT_FILE).exists()
    cb.on_step_end(args, TrainerState(global_step=6, max_steps=100), TrainerControl(), model=model)
    assert len(cb.history) == 2  # not a probe step


def test_preserved_training_state_restores_rng_and_guards_grads(bert_tokenizer):
    model = _tiny_bert(bert_tokenizer)
    model.train()
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    with preserved_training_state(model):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        random.random(), np.random.rand(), torch.rand(5)  # a probe that draws from every generator
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])
    assert model.training and all(p.requires_grad for p in model.parameters())

    weight = model.classifier.weight
    weight.grad = torch.ones_like(weight)
    with preserved_training_state(model):
        weight.grad = None  # replaced: put back
    assert torch.equal(weight.grad, torch.ones_like(weight))
    with pytest.raises(RuntimeError, match="modified the gradients"):
        with preserved_training_state(model):
            weight.grad.mul_(2)  # changed in place: cannot be undone, must not pass silently


def test_only_the_main_process_probes_logs_and_writes(bert_tokenizer, tmp_path):
    cb = MICallback(bert_tokenizer, PROBE, every_n_steps=1, **FAST)
    trainer = _trainer(bert_tokenizer, tmp_path, [cb], max_steps=3)
    trainer.is_world_process_zero = lambda: False  # as on rank 1 of a DDP run
    trainer.train()
    assert not trainer.state.is_world_process_zero
    assert not any(k.startswith("mi/") for h in trainer.state.log_history for k in h)
    assert not (tmp_path / HISTORY_FILE).exists() and not (tmp_path / PLOT_FILE).exists()
    assert cb.history.empty


def _ddp_worker(out: Path) -> None:
    """One rank of the 2-process test below (run by torchrun with this file as the script)."""
    from transformers import BertTokenizerFast

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    vocab_dir = out / f"vocab{rank}"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w in WORDS if w != "unhappiness"] + PIECES
    (vocab_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast.from_pretrained(str(vocab_dir))
    cb = MICallback(tok, PROBE, every_n_steps=2, **FAST)
    trainer = _trainer(tok, out / "run", [cb], max_steps=4)
    trainer.train()
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world_size": trainer.args.world_size,
        "mi_steps": [h["step"] for h in trainer.state.log_history if "mi/seconds" in h],
        "rows": len(cb.history),
        "weights": [float(p.detach().double().sum()) for p in trainer.model.parameters()],
    }))


@pytest.mark.slow
def test_two_process_ddp_probes_on_rank_zero_only(tmp_path):
    """Real DDP on CPU (gloo, torchrun): rank 0 probes and writes, rank 1 neither, nobody hangs (~25 s)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
           str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group: a hang is killed whole
    try:
        output, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the 2-process run hung")
    assert proc.returncode == 0, output[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["mi_steps"] == [0, 2, 4] and r0["rows"] == 3 * 2
    assert r1["mi_steps"] == [] and r1["rows"] == 0
    assert len(pd.read_csv(tmp_path / "run" / HISTORY_FILE)) == 3 * 2
    assert r0["weights"] == r1["weights"]  # the ranks stayed in step


def test_resumed_run_keeps_earlier_rows(bert_tokenizer, tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    old = pd.DataFrame({"step": [0, 0, 4, 4, 8, 8], "epoch": 0.0, "layer": ["layer 0", "layer 1"] * 3,
                        "layer_index": [0, 1] * 3, "information": 1.0})
    old.to_csv(tmp_path / HISTORY_FILE, index=False)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    cb = MICallback(bert_tokenizer, PROBE, plot_file=None, **FAST)
    cb.on_train_begin(args, TrainerState(global_step=4, max_steps=10), TrainerControl(),
                      model=_tiny_bert(bert_tokenizer))
    assert pd.read_csv(tmp_path / HISTORY_FILE)["step"].tolist() == [0, 0, 4, 4]  # old step 4, 8 replaced
    assert pd.read_csv(tmp_path / HISTORY_FILE)["information"].iloc[2] != 1.0


def test_a_bad_first_probe_stops_training_at_once(bert_tokenizer, tmp_path):
    trainer = _trainer(bert_tokenizer, tmp_path, [MICallback(bert_tokenizer, PROBE, layers=[5], **FAST)])
    with pytest.raises(IndexError, match="out of range"):
        trainer.train()
    assert trainer.state.global_step == 0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"texts": []}, ValueError, "texts is empty"),
    ({"texts": ["fine", "  "]}, ValueError, "text 1 is empty"),
    ({"texts": [3]}, TypeError, "expected str"),
    ({"every_n_steps": 0}, ValueError, "every_n_steps"),
    ({"every_n_steps": -5}, ValueError, "every_n_steps"),
    ({"every_n_steps": 2.5}, ValueError, "every_n_steps"),
    ({"every_n_steps": True}, ValueError, "every_n_steps"),
    ({"tokenizer": None}, ValueError, "tokenizer"),
    ({"stepz": 3}, TypeError, "unknown explain option"),
    ({"text": "x"}, TypeError, "sets .* itself"),
    ({"method": "gradient"}, ValueError, "must be 'information'"),
])
def test_bad_arguments_raise_clear_errors(bert_tokenizer, kwargs, error, match):
    full = {"tokenizer": bert_tokenizer, "texts": PROBE, **kwargs}
    with pytest.raises(error, match=match):
        MICallback(full.pop("tokenizer"), full.pop("texts"), **full)


def test_plot_training_information_one_panel_per_model(tmp_path):
    def fake(n_layers, steps):
        return pd.DataFrame([{"step": s, "epoch": s / 10, "layer": f"layer {i}", "layer_index": i,
                              "information": 1.0 + 0.01 * s - 0.1 * i, "information_sem": 0.02,
                              "conditional_entropy": -100.0 * i}
                             for s in steps for i in range(n_layers)])

    lstm_dir = tmp_path / "lstm"
    lstm_dir.mkdir()
    fake(2, [0, 5, 10]).to_csv(lstm_dir / HISTORY_FILE, index=False)
    out = tmp_path / "fig9.png"
    fig = plot_training_information({"BERT": fake(6, [0, 10, 20, 30]), "LSTM": lstm_dir}, out)
    assert out.stat().st_size > 1000
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in panels] == ["BERT", "LSTM"]
    assert [len(ax.get_lines()) for ax in panels] == [6, 2]
    assert panels[0].get_lines()[0].get_xdata().tolist() == [0, 10, 20, 30]
    fig = plot_training_information({"LSTM": lstm_dir / HISTORY_FILE}, value="conditional_entropy")
    assert fig.axes[0].get_lines()[1].get_ydata().tolist() == [-100.0] * 3
    with pytest.raises(ValueError, match="value must be"):
        plot_training_information({"x": fake(1, [0])}, value="sigma")
    with pytest.raises(ValueError, match="empty"):
        plot_training_information({})
    with pytest.raises(FileNotFoundError):
        load_history(tmp_path / "nowhere")


if __name__ == "__main__":  # a rank of test_two_process_ddp_probes_on_rank_zero_only
    _ddp_worker(Path(sys.argv[1]))
