"""Loading saved explanations: errors name the file, the line (JSON lines), the field, and the other format."""

from __future__ import annotations

import json
import re

import pytest
from test_results import make

from mi_explain import Explanation
from mi_explain.file_checks import ExplanationFileError
from mi_explain.results import append_jsonl, read_jsonl


def _write(path, data) -> str:  # noqa: ANN001
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_invalid_json_names_the_file(tmp_path):
    p = _write(tmp_path / "e.json", '{"format": "mi_explain.explanation/1", "words": [')
    with pytest.raises(ExplanationFileError, match=rf"^{re.escape(p)}: not valid JSON \(.* at line 1, column \d+\)"):
        Explanation.load(p)
    with pytest.raises(ExplanationFileError, match=rf"^{re.escape(_write(tmp_path / 'empty.json', ''))} is empty"):
        Explanation.load(tmp_path / "empty.json")
    with pytest.raises(FileNotFoundError, match="nope.json: no such file"):
        Explanation.load(tmp_path / "nope.json")
    with pytest.raises(ExplanationFileError, match="is a folder"):
        Explanation.load(tmp_path)


def test_short_sigma_names_the_field_and_file(tmp_path):
    d = make().to_dict()
    d["sigma"] = d["sigma"][:2]
    p = _write(tmp_path / "short.json", d)
    with pytest.raises(ExplanationFileError, match=rf"^{re.escape(p)}: field 'sigma' must be 3 rows \(one per layer\) "
                                                   r"of 4 values \(one per word\), got 2 rows"):
        Explanation.load(p)
    d = make().to_dict()
    d["sigma"][1] = d["sigma"][1][:3]
    with pytest.raises(ExplanationFileError, match=r"field 'sigma' must be 3 rows .* got 3 rows of lengths \[3, 4\]"):
        Explanation.load(_write(tmp_path / "ragged.json", d))
    d = make().to_dict()
    d["converged"] = [True]
    with pytest.raises(ExplanationFileError, match=r"field 'converged' must hold 3 values \(one per layer\), got 1"):
        Explanation.load(_write(tmp_path / "conv.json", d))


def test_missing_field_is_named(tmp_path):
    d = make().to_dict()
    del d["words"]
    p = _write(tmp_path / "nowords.json", d)
    with pytest.raises(ExplanationFileError, match=rf"^{re.escape(p)}: missing field\(s\) 'words'"):
        Explanation.load(p)
    with pytest.raises(ExplanationFileError, match="expected a JSON object"):
        Explanation.load(_write(tmp_path / "list.json", [1, 2]))
    d = make().to_dict()
    d["format"] = "something/else"
    with pytest.raises(ExplanationFileError, match=r"other.json: not an mi_explain result: "
                                                   r"format='something/else'"):
        Explanation.load(_write(tmp_path / "other.json", d))
    d = make().to_dict()
    d["pieces"] = [0, 1, 1, 1]
    with pytest.raises(ExplanationFileError, match=r"pieces.json: pieces must be >= 1"):
        Explanation.load(_write(tmp_path / "pieces.json", d))


def test_the_wrong_format_gives_the_hint(tmp_path):
    many = tmp_path / "many.jsonl"
    append_jsonl(many, [make(), make()])
    with pytest.raises(ExplanationFileError, match=r"many.jsonl: not valid JSON \(Extra data at line 2, "
                                                   r"column 1\); .*JSON-lines.*read it with .*read_jsonl"):
        Explanation.load(many)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(make().to_dict(), indent=2), encoding="utf-8")
    with pytest.raises(ExplanationFileError, match=r"pretty.json, line 1: not valid JSON .*"
                                                   r"Explanation.load\(path\)"):
        read_jsonl(pretty)
    assert Explanation.load(pretty).words == make().words  # the right reader reads it


def test_jsonl_errors_name_the_line(tmp_path):
    p = tmp_path / "r.jsonl"
    append_jsonl(p, [make(), make()])
    lines = p.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    del bad["layers"]
    p.write_text(lines[0] + "\n" + json.dumps(bad) + "\n" + lines[0] + "\n", encoding="utf-8")
    with pytest.raises(ExplanationFileError, match=rf"^{re.escape(str(p))}, line 2: missing field\(s\) 'layers'"):
        read_jsonl(p)
    p.write_text(lines[0] + "\n{oops\n" + lines[0] + "\n", encoding="utf-8")
    with pytest.raises(ExplanationFileError, match=r"r.jsonl, line 2: not valid JSON"):
        read_jsonl(p)
    p.write_text(lines[0] + "\n" + lines[1][:40], encoding="utf-8")  # a killed writer's last line is skipped
    assert len(read_jsonl(p)) == 1
