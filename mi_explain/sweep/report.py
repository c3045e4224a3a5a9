"""Tables, figures and ``report.md`` of one finished sweep folder (any dataset): the words used for prediction
(Fig. 5/6), the information per layer with its standard error, the consistency of consecutive layers and
the drawn texts layer by layer (Fig. 7).  Everything is recomputed from ``results.jsonl`` and
``sweep_config.json``; ``sweep.json`` adds the seconds per text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mi_explain.results import Explanation, read_jsonl

from . import figures
from .analysis import information_table, word_counts
from .io import atomic_write_text, read_json

__all__ = ["consistency_lines", "load_run", "md_table", "write_sweep_report"]


def load_run(run: Path) -> tuple[dict[str, list[tuple[Explanation, dict]]], dict]:
    """(explanations with their meta, by kind; sweep config) of a sweep folder; empty where a file is missing."""
    by_kind: dict[str, list] = {}
    if (run / "results.jsonl").is_file():
        for e, meta in read_jsonl(run / "results.jsonl", with_meta=True):
            by_kind.setdefault(meta["kind"], []).append((e, meta))
    config = read_json(run / "sweep_config.json") if (run / "sweep_config.json").is_file() else {}
    return by_kind, config


def md_table(df, floatfmt: str = ".4f") -> str:  # noqa: ANN001
    """A pandas DataFrame as a markdown table (floats with ``floatfmt``)."""
    cols = list(df.columns)
    out = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(f"{v:{floatfmt}}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(out)


def consistency_lines(explanations: Sequence[Explanation]) -> list[str]:
    """The report section on sharp rises of information from one layer to the next (the estimator's
    ``diagnostics["consistency"]``, whole-layer targets): where a layer reads only the previous one it cannot
    keep more of a word, so each rise marks a map that is not the minimiser or a flat Eq. 7."""
    rows: dict[tuple[str, str], list[float]] = {}
    words: dict[tuple[str, str], int] = {}
    for e in explanations:
        for flag in e.diagnostics.get("consistency", []) or []:
            key = (flag["from"], flag["to"])
            rows.setdefault(key, []).append(float(flag["information_rise"]))
            words[key] = words.get(key, 0) + len(flag["words"])
    lines = ["## Consistency of consecutive layers", ""]
    if not rows:
        return lines + [f"No sharp rise of information from one layer to the next in {len(explanations)} texts "
                        "(mean rise > 0.5 nat/dim or a word's > 1 nat).", ""]
    lines += [f"Sharp rises of information from a layer to the next (of {len(explanations)} texts); the later layer "
              "reads only the earlier one, so these maps deserve a second look (larger `steps`, smaller `tol`):", "",
              "| from | to | texts flagged | mean rise (nat/dim) | words flagged |", "|---|---|---|---|---|"]
    for (a, b), vals in rows.items():
        lines.append(f"| {a} | {b} | {len(vals)} | {sum(vals) / len(vals):.3f} | {words[(a, b)]} |")
    return lines + [""]


def _sweep_line(run: Path, config: dict) -> str:
    opts = config.get("sweep_options", {})
    line = (f"Sweep: {len(config.get('plan_idx', []))} texts (seed {opts.get('sample_seed')}), σ_s of every state "
            f"estimated once from {opts.get('n_reference')} reference texts (`regularization.json`), "
            f"λ = {opts.get('rate')}, tol = {opts.get('tol') or 'the default'}; results: `results.jsonl` "
            "(`read_jsonl(path, with_meta=True)`).")
    if (run / "sweep.json").is_file():
        per = read_json(run / "sweep.json").get("seconds_per_text", {})
        if per.get("mean") is not None:
            line += (f"  Time: {per['mean']:.1f} s per text (median {per['median']:.1f} s, all kinds of states, "
                     f"{per['texts_timed']} texts).")
    return line


def write_sweep_report(run: str | Path, title: str | None = None, header: Sequence[str] = (),
                       top_k: int | None = None) -> Path | None:
    """``information_per_layer.csv``, ``prediction_words.csv``, ``figures/`` and ``report.md`` of one sweep
    folder; None when it has no results yet.  header: markdown lines put under the title (e.g. scores)."""
    run = Path(run)
    by_kind, config = load_run(run)
    if not by_kind:
        return None
    title = title or config.get("title") or run.name
    top_k = top_k or config.get("top_k", 3)
    pred = [e for e, _ in by_kind.get("prediction", [])]
    layers = {m["idx"]: e for e, m in by_kind.get("layers", [])}
    fig_dir = run / "figures"
    lines = [f"# {title}", "", *header, ""]
    if config:
        lines += [_sweep_line(run, config), ""]
    if pred:
        counts = word_counts(pred, top_k)
        atomic_write_text(run / "prediction_words.csv", counts.to_csv(index=False))
        figures.word_bars({title: counts}, fig_dir / "prediction_words.png",
                          title=f"{title}: words used for prediction")
        share = float(counts.loc[counts["stopword"], "count"].sum() / max(1, counts["count"].sum()))
        state = config.get("prediction_state") or f"`{config.get('states', {}).get('prediction', '?')}`"
        lines += ["## Words used for prediction (Fig. 5/6)", "",
                  f"State: {state}.  A word is used in a text when it is among the {top_k} words with the smallest "
                  f"σ there; {share:.0%} of the uses are stopwords or punctuation ({len(pred)} texts).", "",
                  "![words used for prediction](figures/prediction_words.png)", "", md_table(counts.head(15)), ""]
    if layers:
        info = information_table(list(layers.values()))
        atomic_write_text(run / "information_per_layer.csv", info.to_csv(index=False))
        figures.information_lines({title: info}, fig_dir / "information_per_layer.png",
                                  title=f"{title}: information per layer")
        lines += ["## Information per layer", "",
                  "Mean over texts of `Explanation.information` (nats per embedding dimension kept per word; "
                  "`mi_explain.information.corpus_information`).", "",
                  "![information per layer](figures/information_per_layer.png)", "",
                  md_table(info[["layer", "n_sentences", "information", "information_sem", "converged"]]), ""]
        lines += consistency_lines(list(layers.values()))
        drawn = [i for i in config.get("drawn_idx", []) if i in layers]
        if drawn:
            lines += ["## Layer by layer (Fig. 7)", ""]
        for i in drawn:
            path = fig_dir / f"layers_{i}.png"
            layers[i].save_plot(path, title=f"{title}, row {i}")
            lines += [f"![layers, row {i}](figures/{path.name})", ""]
    return atomic_write_text(run / "report.md", "\n".join(lines))
