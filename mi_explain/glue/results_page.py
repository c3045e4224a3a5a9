"""``docs/results.md`` and its figures, recomputed from the committed summaries in ``docs/data`` alone (see
:mod:`mi_explain.glue.summaries`): no runs folder, no model.  Every number on the page is read from those
files or computed from them here; a part without a summary says "not run yet".

``write_results_page(data_dir, out, img_dir, tag)``; on the command line ``python -m mi_explain.glue.report
--from-data docs/data --out docs/results.md --img docs/img``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mi_explain import plotting
from mi_explain.hooks import layer_position
from mi_explain.sweep.io import atomic_write_text, read_json

from .report import FAMILY_ORDER, PAPER_TABLE2
from .report import FAMILY_TITLES as TITLES
from .summaries import summary_path
from .tasks import TASKS

__all__ = ["GlueSummaries", "observations", "write_results_page"]

#: the paper's Fig. 7 sentence: SST-2 validation row 525
EXAMPLE = ("sst2", 525)
QQP_NOTE = ("¹ QQP on the local files is a seeded 90/10 split of the Quora release, not GLUE's dev split (about 90 % "
            "of its validation pairs are GLUE *train* pairs): our QQP numbers are not comparable with the paper's "
            "GLUE-dev column.")
NOT_RUN = "not run yet"
HOLDS, FAILS = "holds", "does not hold"


def _f(v: Any, nd: int = 4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


class GlueSummaries:
    """The summaries of one tag in ``data_dir``, each None when its file does not exist."""

    def __init__(self, data_dir: str | os.PathLike, tag: str = "cpu") -> None:
        import pandas as pd

        self.dir, self.tag = Path(data_dir), tag

        def table(kind: str):  # noqa: ANN202
            p = summary_path(self.dir, kind, tag)
            return pd.read_csv(p, keep_default_na=False, na_values=[""]) if p.is_file() else None

        def obj(kind: str) -> Any:
            p = summary_path(self.dir, kind, tag)
            return read_json(p) if p.is_file() else None

        self.scores, self.information, self.words = table("scores"), table("information"), table("words")
        self.fig8, self.fig9 = table("fig8"), table("fig9")
        self.sweeps, self.maps, self.training = obj("sweeps") or [], obj("maps") or [], obj("training") or []
        if self.words is not None:
            self.words["word"] = self.words["word"].astype(str)

    def score(self, task: str, family: str, metric: str | None = None) -> float | None:
        if self.scores is None:
            return None
        metric = metric or TASKS[task].headline
        rows = self.scores[(self.scores.task == task) & (self.scores.family == family) & (self.scores.metric == metric)]
        return float(rows["value"].iloc[0]) if len(rows) else None

    def score_row(self, task: str, family: str) -> dict[str, Any] | None:
        if self.scores is None:
            return None
        rows = self.scores[(self.scores.task == task) & (self.scores.family == family)]
        return rows.iloc[0].to_dict() if len(rows) else None

    def training_run(self, task: str, family: str) -> dict[str, Any] | None:
        return next((s for s in self.training if s["task"] == task and s["family"] == family), None)

    def sweep(self, task: str, family: str) -> dict[str, Any] | None:
        return next((s for s in self.sweeps if s["task"] == task and s["family"] == family), None)

    def info(self, task: str, family: str):  # noqa: ANN201
        if self.information is None:
            return None
        rows = self.information[(self.information.task == task) & (self.information.family == family)]
        return rows.sort_values("layer_index") if len(rows) else None

    def families(self, frame, task: str) -> list[str]:  # noqa: ANN001
        if frame is None:
            return []
        found = set(frame[frame.task == task]["family"])
        return [f for f in [*FAMILY_ORDER, *sorted(found - set(FAMILY_ORDER))] if f in found]


# ------------------------------------------------------------------------------------------------- sections

def _cell(s: GlueSummaries, task: str, family: str) -> str:
    value = s.score(task, family)
    if value is not None:
        row = s.score_row(task, family)
        n = row.get("n_eval") if row else None
        if TASKS[task].headline == "accuracy" and n:
            return f"{value:.4f} ± {math.sqrt(value * (1 - value) / float(n)):.4f}"
        return f"{value:.4f}"
    run = s.training_run(task, family)
    if run and run.get("status") != "finished":
        so_far = run.get("last_validation_during_training")
        return f"training ({_f(so_far)} so far)" if so_far is not None else "training"
    return NOT_RUN


def table2(s: GlueSummaries) -> list[str]:
    lines = ["## Table 2: ours next to the paper", "",
             "Validation scores of the CPU runs (± one standard error of an accuracy, √(p(1−p)/n)); the paper's "
             "numbers in bold.  Training details, learning curves and wall times: [training.md](training.md).", "",
             "| model | SST-2 (Acc) | paper | CoLA (MCC) | paper | QQP (Acc)¹ | QQP (F1)¹ | paper QQP (Acc) |",
             "|---|---|---|---|---|---|---|---|"]
    for f in FAMILY_ORDER:
        paper = PAPER_TABLE2[f]
        f1 = s.score("qqp", f, "f1")
        lines.append(f"| {TITLES[f]} | {_cell(s, 'sst2', f)} | **{paper[0]:.4f}** | {_cell(s, 'cola', f)} | "
                     f"**{paper[1]:.4f}** | {_cell(s, 'qqp', f)} | {_f(f1) if f1 is not None else NOT_RUN} | "
                     f"**{paper[2]:.4f}** |")
    lines += ["", QQP_NOTE, ""]
    sizes = []
    for t in TASKS:
        for f in FAMILY_ORDER:
            row = s.score_row(t, f)
            if row:
                sizes.append(f"{TASKS[t].title} × {TITLES[f]}: {int(row['n_train']):,} training examples, "
                             f"{row['epochs']:g} epoch(s), {float(row['train_seconds']) / 60:.0f} min; scored on "
                             f"{int(row['n_eval']):,} validation texts")
    if sizes:
        lines += ["Sizes: " + "; ".join(sizes) + ".", ""]
    return lines


def _figure(fig: Any, img_dir: Path, name: str, out: Path) -> str:
    """Save ``fig`` as ``img_dir/name``, close it, and return its path relative to the page ``out``."""
    import matplotlib.pyplot as plt

    path = plotting.save_figure(fig, img_dir / name)
    plt.close(fig)
    return os.path.relpath(path, out.parent).replace(os.sep, "/")


def _swept_tasks(s: GlueSummaries, frame: Any, lines: list[str], why: str = ""):  # noqa: ANN202
    """(task, spec, families) for every task with rows in ``frame``; a "not run" line for the others."""
    for t, spec in TASKS.items():
        fams = s.families(frame, t)
        if fams:
            yield t, spec, fams
        else:
            lines += [f"* {spec.title}: {NOT_RUN}{why}.", ""]


def information_section(s: GlueSummaries, img_dir: Path, out: Path) -> list[str]:
    lines = ["## Information per layer", "",
             "Mean over the swept validation texts of `Explanation.information` (nats per embedding dimension kept "
             "per word) at every layer, ± one standard error over texts.", ""]
    for t, spec, fams in _swept_tasks(s, s.information, lines, " (no layer sweep on the trained models)"):
        tables = {TITLES.get(f, f): s.info(t, f) for f in fams}
        ax = plotting.information_per_layer(tables, title=f"{spec.title}: mean information per layer")
        ax.figure.tight_layout()
        rel = _figure(ax.figure, img_dir, f"glue_{s.tag}_{t}_information.png", out)
        lines += [f"### {spec.title}", "", f"![{spec.title} information per layer]({rel})", "",
                  "| model | layer | texts | information (nats/dim) ± SE | converged |", "|---|---|---|---|---|"]
        for name, tab in tables.items():
            lines += [f"| {name} | {r.layer} | {int(r.n_texts)} | {r.information:.3f} ± {_f(r.information_sem, 3)} | "
                      f"{r.converged:.0%} |" for r in tab.itertuples()]
        rises = [f"{name} {a} → {b} +{d:.3f} ± {se:.3f}" for f in fams if f in STACKED
                 for name in [TITLES.get(f, f)] for a, b, d, se in layer_rises(tables[name])]
        lines += ["", "Consistency (each layer of BERT, the Transformer and the LSTM reads only the one below it, "
                  "so by data processing it should not hold more information about the words — a rise means that "
                  "one of the two σ maps is not the minimiser or that λ with each layer's σ_s weighs the two layers "
                  "differently; the CNN's branches are parallel): "
                  + ("rises of the mean by more than 2 standard errors: " + "; ".join(rises) + "." if rises
                     else "no rise of the mean by more than 2 standard errors.")]
        missing = [TITLES[f] for f in FAMILY_ORDER if f not in fams]
        lines += ["", f"Not run yet: {', '.join(missing)}." if missing else "", ""]
    return lines


#: families whose layers are stacked (layer l+1 reads only layer l), where information cannot rise
STACKED = ("bert", "transformer", "lstm")


def layer_rises(table, z: float = 2.0) -> list[tuple[str, str, float, float]]:  # noqa: ANN001
    """Consecutive ``layer i`` → ``layer i+1`` rows of one model's information table (columns layer,
    information, information_sem) where the mean rises by more than ``z`` combined standard errors:
    (from, to, rise, its standard error).  Other rows (the prediction state) are skipped."""
    rows = sorted(((layer_position(r.layer), r) for r in table.itertuples() if layer_position(r.layer) is not None),
                  key=lambda pr: pr[0])
    out = []
    for (ia, a), (ib, b) in zip(rows, rows[1:]):
        if ib != ia + 1:
            continue
        d = float(b.information - a.information)
        se = math.hypot(float(a.information_sem), float(b.information_sem))
        if d > z * se:
            out.append((str(a.layer), str(b.layer), d, se))
    return out


def words_section(s: GlueSummaries, img_dir: Path, out: Path) -> list[str]:
    lines = ["## Words used for prediction (Fig. 5/6)", "",
             "At the state the classifier reads, a word is used in a text when it is among the `top_k` words with the "
             "smallest σ (not at the bound); counts are texts.  Stopword share: the fraction of all uses that are "
             "stopwords or punctuation.", ""]
    for t, spec, fams in _swept_tasks(s, s.words, lines):
        counts = {TITLES.get(f, f): s.words[(s.words.task == t) & (s.words.family == f)] for f in fams}
        fig = plotting.word_bars(counts, title=f"{spec.title}: words used for prediction")
        rel = _figure(fig, img_dir, f"glue_{s.tag}_{t}_words.png", out)
        lines += [f"### {spec.title}", "", f"![{spec.title} words used for prediction]({rel})", "",
                  "| model | texts | stopword share | most used words (texts) |", "|---|---|---|---|"]
        for f in fams:
            sw = s.sweep(t, f) or {}
            top = ", ".join(f"*{w}* ({c})" for w, c in counts[TITLES.get(f, f)][["word", "count"]].head(8).itertuples(
                index=False))
            lines.append(f"| {TITLES.get(f, f)} | {sw.get('texts_prediction', '–')} | "
                         f"{_f(sw.get('stopword_share'), 2)} | {top} |")
        lines.append("")
    return lines


def maps_section(s: GlueSummaries, img_dir: Path, out: Path) -> list[str]:
    import numpy as np

    lines = ["## Layer by layer (Fig. 7) and the words of one text (Fig. 5)", ""]
    groups: dict[tuple[str, int], dict[str, dict]] = {}
    for m in s.maps:
        groups.setdefault((m["task"], int(m["idx"])), {})[m["family"]] = m
    if not groups:
        return lines + [f"{NOT_RUN}: no drawn texts in the sweeps (the paper's example sentence is SST-2 "
                        f"validation row {EXAMPLE[1]}).", ""]
    if EXAMPLE not in groups:
        lines += [f"The paper's example sentence (SST-2 validation row {EXAMPLE[1]}): {NOT_RUN}.", ""]
    for (t, idx), by_family in sorted(groups.items(), key=lambda kv: (kv[0] != EXAMPLE, kv[0])):
        fams = [f for f in [*FAMILY_ORDER, *sorted(set(by_family) - set(FAMILY_ORDER))] if f in by_family]
        first = by_family[fams[0]]
        text = " ‖ ".join(first["text"]) if isinstance(first["text"], list) else first["text"]
        fig = plotting.sigma_maps({TITLES.get(f, f): by_family[f] for f in fams},
                                  title=f"{TASKS[t].title}, validation row {idx}: σ per layer")
        rel = _figure(fig, img_dir, f"glue_{s.tag}_{t}_layers_{idx}.png", out)
        note = " (the paper’s example)" if (t, idx) == EXAMPLE else ""
        lines += [f"### {TASKS[t].title}, validation row {idx}{note}", "", f"*{text}*", "",
                  f"![σ per layer, row {idx}]({rel})", ""]
        pred = {TITLES.get(f, f): by_family[f] for f in fams if by_family[f].get("prediction_sigma")}
        if pred:
            values, words = {}, {}
            for name, m in pred.items():
                u = np.log(np.asarray(m["prediction_sigma"], dtype=float))
                values[name] = 1 - (u - u.min()) / (u.max() - u.min()) if u.max() > u.min() else np.ones_like(u)
                words[name] = m["words"]
            fig = plotting.relative_use_map(values, words, title=f"{TASKS[t].title}, row {idx}: relative use at the "
                                                                  "prediction state")
            rel = _figure(fig, img_dir, f"glue_{s.tag}_{t}_words_{idx}.png", out)
            lines += [f"![relative use, row {idx}]({rel})", ""]
    return lines


def stop_content_ratio(m: dict) -> list[float] | None:
    """Per layer, exp(mean log σ of stopwords − mean log σ of content words) of one map (> 1: stopwords are
    discarded more); None without both kinds of words."""
    import numpy as np

    stop = np.asarray(m["stopword"], dtype=bool)
    if stop.all() or not stop.any():
        return None
    u = np.log(np.asarray(m["sigma"], dtype=float))
    return np.exp(u[:, stop].mean(1) - u[:, ~stop].mean(1)).tolist()


def fig8_section(s: GlueSummaries, img_dir: Path, out: Path) -> list[str]:
    lines = ["## Word attributes (Fig. 8)", ""]
    if s.fig8 is None:
        return lines + [f"{NOT_RUN}: no Fig. 8 summary from these models (`scripts/fig8_word_attributes.py`, then "
                        "`--fig8 DIR` of the export).", ""]
    fig = plotting.attribute_lines(s.fig8, title="r_{i,c} per layer (Eq. 8–9); lower = used more")
    rel = _figure(fig, img_dir, f"glue_{s.tag}_fig8.png", out)
    lines += [f"![Fig. 8]({rel})", "", "| model | max/min r over concepts (per layer) | concepts, most used first |",
              "|---|---|---|"]
    for name, ratios, order in fig8_ratios(s.fig8):
        lines.append(f"| {name} | {', '.join(f'{r:.3f}' for r in ratios)} | {', '.join(order)} |")
    return lines + [""]


def fig8_ratios(frame) -> list[tuple[str, list[float], list[str]]]:  # noqa: ANN001
    """Per model: max/min r over concepts at each layer, and the concepts ordered from the smallest mean r."""
    out = []
    for name in dict.fromkeys(frame["model"]):
        part = frame[frame["model"] == name]
        g = part.groupby("layer_index")["r"]
        ratios = (g.max() / g.min()).tolist()
        order = part.groupby("concept")["r"].mean().sort_values().index.tolist()
        out.append((str(name), ratios, order))
    return out


def _int(v: Any) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return "–"


def _complete(frame, column: str) -> bool:  # noqa: ANN001
    return column in frame.columns and bool(frame[column].notna().all())


def _peak(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def fig9_rise_then_fall(history) -> tuple[list[str], bool]:  # noqa: ANN001
    """Layers of one model's Fig. 9 history (columns step, layer, information[, information_sem]) whose
    information first rises, then falls: the peak is an interior probe and exceeds both the first and the
    last probe by more than 2 combined standard errors (0 when the summary has none).  Returns (layers, whether
    standard errors were there)."""
    has_se = _complete(history, "information_sem")
    out = []
    for layer, rows in history.sort_values("step").groupby("layer", sort=False):
        v = rows["information"].tolist()
        se = rows["information_sem"].tolist() if has_se else [0.0] * len(v)
        k = _peak(v)
        if 0 < k < len(v) - 1 and all(v[k] - v[j] > 2 * math.hypot(se[k], se[j]) for j in (0, len(v) - 1)):
            out.append(str(layer))
    return out, has_se


def fig9_section(s: GlueSummaries, img_dir: Path, out: Path) -> list[str]:
    lines = ["## Information during training (Fig. 9)", ""]
    if s.fig9 is None:
        return lines + [f"{NOT_RUN}: no Fig. 9 summary (`scripts/fig9_training_information.py`, then `--fig9 DIR` "
                        "of the export).", ""]
    frames = {TITLES.get(str(n), str(n)): g.drop(columns="model") for n, g in s.fig9.groupby("model", sort=False)}
    fig = plotting.training_information(frames)
    rel = _figure(fig, img_dir, f"glue_{s.tag}_fig9.png", out)
    has_se, has_conv = _complete(s.fig9, "information_sem"), _complete(s.fig9, "converged")
    lines += [f"![Fig. 9]({rel})", ""]
    if "dev_accuracy" in s.fig9.columns:
        for name, g in frames.items():
            r = g.iloc[0]
            lines.append(f"- {name}: {_int(r.get('train_steps'))} training steps on {_int(r.get('n_train'))} SST-2 "
                         f"sentences → validation accuracy {_f(r.get('dev_accuracy'), 3)}; probe: "
                         f"{_int(r.get('n_probe'))} validation texts every {_int(r.get('every'))} steps "
                         f"(tol {_f(r.get('probe_tol'), 2)}, at most {_int(r.get('probe_steps'))} steps)")
        lines.append("")
    lines += ["Information in nats per dimension" + (" (± standard error over the probe "
              "texts)" if has_se else "") + ".", "",
              "| model | layer | first probe | max | last probe |" + (" converged (mean share over probes) |"
                                                                      if has_conv else ""),
              "|---|---|---|---|---|" + ("---|" if has_conv else "")]
    for name, g in frames.items():
        for layer, rows in g.sort_values("step").groupby("layer", sort=False):
            v = rows["information"].tolist()
            se = rows["information_sem"].tolist() if has_se else None
            k = _peak(v)
            cell = [f"{v[i]:.3f}" + (f" ± {se[i]:.3f}" if se else "") for i in (0, k, len(v) - 1)]
            conv = f" {rows['converged'].mean():.2f} |" if has_conv else ""
            lines.append(f"| {name} | {layer} | {cell[0]} | {cell[1]} | {cell[2]} |{conv}")
    return lines + [""]


def timing_section(s: GlueSummaries) -> list[str]:
    lines = ["## Seconds per text of the sweeps", ""]
    if not s.sweeps:
        return lines + [f"{NOT_RUN}: no sweeps.", ""]
    lines += ["| task | model | texts | s per text (mean / median) | σ_s from | λ | tol | step cap |",
              "|---|---|---|---|---|---|---|---|"]
    for sw in s.sweeps:
        per, o = sw.get("seconds_per_text") or {}, sw.get("options", {})
        lines.append(f"| {TASKS[sw['task']].title} | {TITLES.get(sw['family'], sw['family'])} | {sw['texts']} | "
                     f"{_f(per.get('mean'), 1)} / {_f(per.get('median'), 1)} | {o.get('n_reference')} texts | "
                     f"{o.get('rate')} | {o.get('tol') or 'default'} | {o.get('steps') or 'default'} |")
    return lines + [""]


# ------------------------------------------------------------------------------------------------- observations

def _verdict(ok: bool | None, partial: bool = False) -> str:
    """holds / does not hold / not run yet; ``partial``: some of what the observation covers is not run yet."""
    if ok is None:
        return NOT_RUN
    return (HOLDS if ok else FAILS) + (" (on what is run; the rest not run yet)" if partial else "")


def observations(s: GlueSummaries) -> list[tuple[str, str, str]]:
    """(the paper's observation, our numbers, verdict) — verdict "not run yet" where the data are missing."""
    rows = []
    # 1. Table 2: the pretrained BERT beats the from-scratch models on every task
    parts, oks = [], []
    for t in TASKS:
        b = s.score(t, "bert")
        others = {f: s.score(t, f) for f in FAMILY_ORDER[1:] if s.score(t, f) is not None}
        if b is None or not others:
            parts.append(f"{TASKS[t].title}: {NOT_RUN} (BERT {_f(b)}, {len(others)} other model(s))")
            continue
        oks.append(all(b > v for v in others.values()))
        vs = ", ".join(f"{TITLES[f]} {v:.4f}" for f, v in others.items())
        parts.append(f"{TASKS[t].title}: BERT {b:.4f} vs {vs}")
    rows.append(("Table 2: BERT (pretrained) scores best on every task", "; ".join(parts),
                 _verdict(None if not oks else all(oks), partial=len(oks) < len(TASKS))))
    # the sweep-based rows below cover only the task × family pairs swept so far
    unswept = any(s.sweep(t, f) is None for t in TASKS for f in FAMILY_ORDER)
    # 2. Fig. 5/6: BERT uses content words, the from-scratch models stopwords
    parts, oks = [], []
    for t in TASKS:
        share = {f: (s.sweep(t, f) or {}).get("stopword_share") for f in FAMILY_ORDER}
        share = {f: v for f, v in share.items() if v is not None}
        if not share:
            continue
        if "bert" in share and len(share) > 1:
            oks.append(all(share["bert"] < v for f, v in share.items() if f != "bert"))
        parts.append(f"{TASKS[t].title} stopword share: " + ", ".join(f"{TITLES[f]} {v:.2f}" for f, v in share.items()))
    rows.append(("Fig. 5/6: BERT uses content words, the non-pretrained models rely on stopwords",
                 "; ".join(parts) or NOT_RUN, _verdict(None if not oks else all(oks), partial=unswept)))
    # 3. Fig. 7: BERT discards stopwords first, layer by layer
    ex = next((m for m in s.maps if (m["task"], int(m["idx"])) == EXAMPLE and m["family"] == "bert"), None)
    ratio = stop_content_ratio(ex) if ex else None
    rows.append(("Fig. 7: through BERT's layers, stopwords are discarded first (their σ grows faster)",
                 NOT_RUN if ratio is None else "σ of stopwords / σ of content words (geometric means) in the example "
                 "sentence, per layer: " + ", ".join(f"{r:.2f}" for r in ratio),
                 _verdict(None if ratio is None else ratio[-1] > 1 and ratio[-1] > ratio[0])))
    # 4. information decreases through the layers for all but the CNN
    parts, oks = [], []
    for t in TASKS:
        for f in FAMILY_ORDER:
            tab = s.info(t, f)
            if tab is None:
                continue
            v = tab["information"].tolist()
            falls = v[-1] < v[0]
            if f != "cnn":
                oks.append(falls)
            parts.append(f"{TASKS[t].title} {TITLES[f]} {v[0]:.3f} → {v[-1]:.3f}")
    rows.append(("Information decreases from the first to the last layer for BERT, Transformer and LSTM (the CNN's "
                 "branches are parallel)", "; ".join(parts) or NOT_RUN,
                 _verdict(None if not oks else all(oks), partial=unswept)))
    # 5. LSTM and CNN use contiguous sub-sequences
    parts, oks = [], []
    for t in TASKS:
        corr = {f: ((s.sweep(t, f) or {}).get("adjacent_correlation") or {}).get("mean") for f in FAMILY_ORDER}
        corr = {f: v for f, v in corr.items() if v is not None}
        seq, att = [corr[f] for f in ("lstm", "cnn") if f in corr], [corr[f] for f in ("bert", "transformer")
                                                                      if f in corr]
        if seq and att:
            oks.append(min(seq) > max(att))
        if corr:
            parts.append(f"{TASKS[t].title}: " + ", ".join(f"{TITLES[f]} {v:.2f}" for f, v in corr.items()))
    rows.append(("Fig. 5: LSTM and CNN use contiguous sub-sequences (correlation of log σ between neighbouring words "
                 "at the prediction state, higher = more contiguous)", "; ".join(parts) or NOT_RUN,
                 _verdict(None if not oks else all(oks), partial=unswept)))
    # 6–7. Fig. 8
    if s.fig8 is None:
        rows += [("Fig. 8: max/min r over concepts > 1.2 for LSTM and CNN", NOT_RUN, NOT_RUN),
                 ("Fig. 8: negative concepts are used more than positive ones (smaller r)", NOT_RUN, NOT_RUN)]
    else:
        ratios = {n: r for n, r, _ in fig8_ratios(s.fig8)}
        seq = {n: r for n, r in ratios.items() if any(k in n.lower() for k in ("lstm", "cnn"))}
        rows.append(("Fig. 8: max/min r over concepts > 1.2 for LSTM and CNN",
                     ", ".join(f"{n} {min(r):.3f}–{max(r):.3f}" for n, r in ratios.items()),
                     _verdict(None if not seq else all(min(r) > 1.2 for r in seq.values()))))
        mean_r = s.fig8.groupby(["model", "concept"])["r"].mean()
        parts, oks = [], []
        for n in dict.fromkeys(s.fig8["model"]):
            if (n, "negative") in mean_r and (n, "positive") in mean_r:
                neg, pos = float(mean_r[(n, "negative")]), float(mean_r[(n, "positive")])
                oks.append(neg < pos)
                parts.append(f"{n}: negative {neg:.4g}, positive {pos:.4g}")
        rows.append(("Fig. 8: negative concepts are used more than positive ones (smaller r)",
                     "; ".join(parts) or "no negative/positive concepts in the summary",
                     _verdict(None if not oks else all(oks))))
    # 8. Fig. 9
    if s.fig9 is None:
        rows.append(("Fig. 9: BERT's information per layer stays nearly constant while fine-tuning; the LSTM's first "
                     "expands, then compresses", NOT_RUN, NOT_RUN))
    else:
        parts, oks = [], []
        for n, g in s.fig9.groupby("model", sort=False):
            per_layer = {lay: r.sort_values("step")["information"].tolist()
                         for lay, r in g.groupby("layer", sort=False)}
            if "bert" in str(n).lower():
                move = max(abs(v[-1] - v[0]) for v in list(per_layer.values())[:-1] or list(per_layer.values()))
                oks.append(move < 0.05)
                parts.append(f"{n}: largest change of a layer but the last {move:.3f} nats/dim")
            if "lstm" in str(n).lower():
                shaped, has_se = fig9_rise_then_fall(g)
                oks.append(2 * len(shaped) >= g["layer"].nunique())
                noise = "2 standard errors over the probe texts" if has_se else "0 (no standard errors in the summary)"
                parts.append(f"{n}: information rises to an interior peak and falls after it, each by more than "
                             f"{noise}, on {len(shaped)} of {g['layer'].nunique()} layers"
                             + (f" ({', '.join(shaped)})" if shaped else ""))
        rows.append(("Fig. 9: BERT's information per layer stays nearly constant while fine-tuning (here: < 0.05 "
                     "nats/dim); the LSTM's first expands, then compresses (here: on at least half its layers)",
                     "; ".join(parts) or NOT_RUN, _verdict(None if not oks else all(oks))))
    return rows


def write_results_page(data_dir: str | os.PathLike, out: str | os.PathLike, img_dir: str | os.PathLike,
                       tag: str = "cpu", command: str | None = None) -> Path:
    """Write ``out`` (markdown) and its figures in ``img_dir`` from the summaries of ``tag`` in ``data_dir``.
    command: how the page was made, printed at its top (default: the module's command with these folders)."""
    s = GlueSummaries(data_dir, tag)
    out, img_dir = Path(out), Path(img_dir)
    if s.scores is None and not s.training and s.information is None:
        raise FileNotFoundError(f"{data_dir}: no GLUE summaries with tag {tag!r} (glue_scores_{tag}.csv, "
                                f"glue_training_{tag}.json, …); export them first with --export RUNS_ROOT")
    data_rel = os.path.relpath(s.dir, out.parent).replace(os.sep, "/")
    command = command or (f"python -m mi_explain.glue.report --from-data {data_dir} --out {out} --img {img_dir} "
                          f"--tag {tag}")
    lines = ["# GLUE results: SST-2, CoLA and QQP with BERT, Transformer, LSTM and CNN (paper Sec. 5)", "",
             f"Generated by `{command}` from the committed summaries in [`{data_rel}/`]({data_rel}/) (tag `{tag}`) "
             "alone: every number and figure below is recomputed from them, without runs or models.  Do not edit "
             "this page by hand.  How the runs were made and how to repeat them: [glue.md](glue.md); training: "
             f"[training.md](training.md).  Where a part has no summary yet, it says **{NOT_RUN}**.", ""]
    lines += table2(s)
    lines += ["## The paper's observations, one by one", "", "| observation (paper) | ours | verdict |",
              "|---|---|---|"]
    lines += [f"| {a} | {b} | {'**' + c + '**' if c.startswith(FAILS) else c} |" for a, b, c in observations(s)]
    lines += [""]
    lines += information_section(s, img_dir, out)
    lines += words_section(s, img_dir, out)
    lines += maps_section(s, img_dir, out)
    lines += fig8_section(s, img_dir, out)
    lines += fig9_section(s, img_dir, out)
    lines += timing_section(s)
    return atomic_write_text(out, "\n".join(_squeeze(lines)).rstrip("\n") + "\n")


def _squeeze(lines: Sequence[str]) -> list[str]:
    """No two blank lines in a row."""
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return out

