"""mi_explain.training_information_study (Fig. 9): settings, the overhead arithmetic, and a smoke run of the LSTM
with the callback (trained twice: the callback must not change the weights)."""

from __future__ import annotations

import json

import pytest
from conftest import CORPUS

from mi_explain import training_information_study as study
from mi_explain.callbacks import MICallback

pytestmark = pytest.mark.usefixtures("one_thread")


def test_settings():
    smoke = study.TrainingInformationSettings.smoke(every=2, tol=None)
    assert smoke.every == 2 and smoke.tol == study.SMOKE["tol"] and smoke.max_train == study.SMOKE["max_train"]
    full = study.TrainingInformationSettings.with_defaults(max_eval=None, probe=3)
    assert full.probe == 3 and full.max_train == 3000 and full.max_eval is None
    with pytest.raises(ValueError, match="every must be ≥ 1, got 0"):
        study.TrainingInformationSettings(every=0)
    with pytest.raises(ValueError, match=r"models: unknown \['gpt'\]"):
        study.TrainingInformationSettings(models=["gpt"])


def test_overhead_fractions():
    base = {"train_seconds": 100.0, "train_cpu_seconds": 200.0, "steps": 50}
    probed = {"train_seconds": 120.0, "train_cpu_seconds": 250.0, "probe_seconds": 10.0, "probes": 5}
    o = study.overhead(base, probed, every=4)
    assert o["measured_fraction"] == pytest.approx(0.2) and o["measured_fraction_cpu"] == pytest.approx(0.25)
    assert o["seconds_per_step"] == 2.0 and o["seconds_per_probe"] == 2.0
    default = MICallback.__init__.__kwdefaults__["every_n_steps"]
    assert o["fraction_at_every"] == {"4": pytest.approx(0.25), str(default): pytest.approx(1.0 / default)}


@pytest.mark.filterwarnings("ignore::mi_explain.UnconvergedWarning")  # 3 probe steps: a smoke size
def test_smoke_run_with_the_lstm(bert_tokenizer, tmp_path):
    data = tmp_path / "sst2"
    data.mkdir()
    rows = [(s, i % 2) for i, s in enumerate(CORPUS * 2)]
    for split in ("train", "validation"):
        (data / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
    assert bert_tokenizer.padding_side == "right"  # the LSTM needs right padding
    settings = study.TrainingInformationSettings.smoke(
        models=["lstm"], out=str(tmp_path / "out"), data=str(data), max_train=8, probe=2, every=1, batch_size=4,
        max_eval=6, lstm_hidden=4, lstm_layers=2, lstm_embedding=4, steps=3, samples=2, measure_overhead=True)
    results = study.run(settings, tokenizer=bert_tokenizer)
    res = results[study.TITLES["lstm"]]
    assert res == json.loads((tmp_path / "out" / "lstm" / "result.json").read_text())
    assert res["steps"] == 2 and res["n_train"] == 8 and res["n_eval"] == 6 and res["n_probe"] == 2
    assert res["probes"] >= 2 and len(res["layers"]) == 2 and 0.0 <= res["dev_accuracy"] <= 1.0
    assert res["overhead"]["weights_bit_identical"] is True  # probing does not touch training
    for name in ("fig9.png", "fig9_entropy.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
