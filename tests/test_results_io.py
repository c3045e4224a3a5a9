"""mi_explain.results.io: exact JSON round trips (tensors, dtypes, NaN, text pairs), the format check, JSON lines
with an interrupted last line."""

import json
import math

import pytest
import torch
from test_results import make, make_pair

from mi_explain.results import FORMAT, Explanation


def test_save_load_round_trip_exact(tmp_path):
    g = torch.Generator().manual_seed(1)
    sigma = torch.rand(3, 4, generator=g) ** 3  # float32 values with many digits
    e = make(sigma=sigma, at_bound=sigma > 0.5)
    path = e.save(tmp_path / "sub" / "e.json")

    def no_nan(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    raw = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_nan)
    assert raw["format"] == FORMAT

    back = Explanation.load(path)
    assert back.sigma.dtype == torch.float32 and torch.equal(back.sigma, e.sigma)
    assert torch.equal(back.objective, e.objective)
    assert torch.equal(back.converged, e.converged) and back.converged.dtype == torch.bool
    assert torch.equal(back.at_bound, e.at_bound)
    assert torch.allclose(back.regularization, e.regularization, equal_nan=True)
    assert math.isnan(back.regularization[1].item())
    for name in (
        "words",
        "layers",
        "tokens",
        "token_to_word",
        "pieces",
        "embedding_dim",
        "prior_scale",
        "steps",
        "text",
        "segments",
        "target",
        "options",
        "diagnostics",
    ):
        assert getattr(back, name) == getattr(e, name), name


def test_round_trip_pair_keeps_tuple_and_segments(tmp_path):
    e = make_pair()
    back = Explanation.load(e.save(tmp_path / "pair.json"))
    assert back.text == ("a cat", "it sleeps") and isinstance(back.text, tuple)
    assert back.segments == [0, 0, 1, 1]
    assert torch.equal(back.sigma, e.sigma)


def test_load_rejects_wrong_format(tmp_path):
    d = make().to_dict()
    d["format"] = "something/else"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match="mi_explain.result/2"):
        Explanation.load(path)
    with pytest.raises(ValueError, match="format"):
        Explanation.from_dict({"words": []})


def test_jsonl_append_read_and_interrupted_last_line(tmp_path):
    from mi_explain.results import append_jsonl, read_jsonl

    path = tmp_path / "runs" / "sigma.jsonl"
    a, b = make(), make_pair()
    append_jsonl(path, a, {"index": 3})
    append_jsonl(path, [b], [{"index": 7}])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"format": "mi_explain.expl')  # a writer killed mid-line
    got = read_jsonl(path, with_meta=True)
    assert [m["index"] for _, m in got] == [3, 7]
    assert torch.equal(got[0][0].sigma, a.sigma) and got[1][0].text == b.text
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(ValueError, match="line 1"):
        read_jsonl(path)
