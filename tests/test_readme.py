"""The README's reference tables stay in sync with the signatures of explain / explain_function and with the
command line's options and the defaults its --help gives."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from mi_explain import explain, explain_function
from mi_explain.cli import build_parser
from mi_explain.estimator import EstimatorConfig
from mi_explain.methods.information import Information

README = Path(__file__).resolve().parents[1] / "README.md"


def _table(heading: str) -> dict[str, list[str]]:
    """The first markdown table after the line starting with ``heading``: first cell (backticks removed) → cells."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])])
        elif rows or line.startswith("#"):
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    return {r[0].strip("`"): r[1:] for r in rows[2:]}


def _signature_defaults(fn) -> dict[str, str]:  # noqa: ANN001
    out = {}
    for k, p in inspect.signature(fn).parameters.items():
        if k == "self":
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out[f"**{k}"] = "method options"
        else:
            out[k] = "required" if p.default is inspect.Parameter.empty else repr(p.default)
    return out


@pytest.mark.parametrize(("fn", "heading"), [
    (explain, "### `explain` arguments"), (explain_function, "### `explain_function` arguments"),
    (Information.__init__, "### Options of the information method")])
def test_api_tables_match_the_signatures(fn, heading):
    documented = _table(heading)
    actual = _signature_defaults(fn)
    assert sorted(set(actual) - set(documented)) == [], "arguments missing from the README"
    assert sorted(set(documented) - set(actual)) == [], "README documents arguments that do not exist"
    for name, (default, meaning) in documented.items():
        assert default.strip("`").replace('"', "'") == actual[name], name
        assert meaning, name


def test_estimator_defaults_in_the_tables_are_true():
    config = {f.name: f.default for f in dataclasses.fields(EstimatorConfig)}
    documented = _table("### Options of the information method")
    for name in ("steps", "samples", "tol"):
        found = re.search(r"`None`: ([\d.]+)", documented[name][1])
        assert found and float(found.group(1)) == config[name], name
    found = re.search(r"`None`: ([\d.]+) ×", documented["scale"][1])
    assert found and float(found.group(1)) == config["scale_factor"]


def _options(command: str) -> dict[str, str]:
    """--option → the default its help gives ("required" for required options)."""
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001
    out = {}
    for action in sub._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = max(action.option_strings, key=len)
        if action.required:
            out[name] = "required"
            continue
        found = re.search(r"\(default: (.*)\)$", " ".join(action.help.split()))
        assert found, f"{command} {name}: the help gives no default"
        out[name] = found.group(1)
    return out


@pytest.mark.parametrize(("command", "heading"), [("explain", "`mi-explain explain`"),
                                                  ("show", "`mi-explain show FILE`")])
def test_cli_tables_match_the_parser_and_its_help(command, heading):
    documented = _table(heading)
    actual = _options(command)
    assert sorted(set(actual) - set(documented)) == [], "options missing from the README"
    assert sorted(set(documented) - set(actual)) == [], "README documents options that do not exist"
    for name, (default, _meaning) in documented.items():
        assert default.strip("`") == actual[name], name


def test_no_unmeasured_thread_advice_and_no_machine_paths():
    text = README.read_text(encoding="utf-8")
    assert "set_num_threads(1)` is often" not in text
    docs = [README, *sorted((README.parent / "docs").glob("*.md"))]
    for path in docs:
        assert not re.search(r"^\s*cd /", path.read_text(encoding="utf-8"), re.M), path


PACKAGE = README.parent / "mi_explain"
TESTS = README.parent / "tests"
#: package modules tested through their subpackage's test module (which imports the subpackage, not the module)
SHARED_TESTS = {
    "methods/information": "test_methods.py",  # and test_estimator.py, test_explain.py
    "methods/gradient": "test_methods.py",
    "methods/perturbation": "test_methods.py",
    "models/_common": "test_models.py",
    "models/cnn": "test_models.py",
    "models/lstm": "test_models.py",
    "models/transformer": "test_models.py",
    "models/registry": "test_models.py",
    "models/loading": "test_models.py",
    **{f"sweep/{name}": "test_sweep.py" for name in ("analysis", "dataset", "engine", "figures", "inputs", "report",
                                                     "store")},
}


def _modules() -> list[str]:
    """Package modules as 'name' or 'subpackage/name' (no __init__)."""
    return sorted(str(p.relative_to(PACKAGE).with_suffix("")) for p in PACKAGE.rglob("*.py")
                  if p.name != "__init__.py")


def _test_module_of(module: str, tests: dict[str, str]) -> str | None:
    """The test module of a package module: test_<name>.py or test_<subpackage>_<name>.py; else one that imports
    the module itself; else its subpackage's (SHARED_TESTS), which must import the subpackage."""
    sub, _, name = module.rpartition("/")
    for candidate in [f"test_{name}.py"] + ([f"test_{sub}_{name}.py", f"test_{name.removeprefix(sub + '_')}.py"]
                                            if sub else []):
        if candidate in tests:
            return candidate
    parent = f"mi_explain.{sub.replace('/', '.')}" if sub else "mi_explain"
    itself = rf"{re.escape(parent)}\.{name}\b|from {re.escape(parent)} import [^\n]*\b{name}\b"
    importers = sorted(t for t, text in tests.items() if re.search(itself, text))
    if importers:
        return importers[0]
    shared = SHARED_TESTS.get(module)
    if shared in tests and sub and re.search(rf"{re.escape(parent)}\b", tests[shared]):
        return shared
    return None


def test_every_package_module_has_its_test_module():
    tests = {p.name: p.read_text(encoding="utf-8") for p in TESTS.glob("test_*.py")}
    missing = [m for m in _modules() if _test_module_of(m, tests) is None]
    assert missing == [], f"package modules without a test module: {missing}"


def test_the_layout_lists_every_package_module():
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("mi_explain/\n  __init__.py"):text.index("configs/ ")]
    unlisted = [m for m in _modules()
                if not re.search(rf"(?<![\w/]){re.escape(m.rpartition('/')[2])}(\.py)?(?!\w)", layout)]
    assert unlisted == [], f"modules missing from the README's layout: {unlisted}"
    scripts = text[text.index("scripts/ "):text.index("tests/ ")]
    assert [p.name for p in sorted((README.parent / "scripts").iterdir())
            if p.name not in re.findall(r"[\w.]+\.(?:py|sh)", scripts)] == []
