"""Coherency study: the information measure beside gradient, integrated gradients, perturbation and LRP
across timestamps, layers and models (Guan et al. 2019, Sec. 4 and supplement Sec. 4), with scores.

Parts (each can be skipped):

* scale    — ground truth: a layer, its copy ×100, and a copy that drops one word (function-level phi).
* timestamps (Fig. 2) — trains the 2-layer LSTM encoder–decoder with attention on reversing a/b/c/d
  sequences, explains the last hidden layer at every decoder step, scores the reverse pattern.
* layers (Fig. 3) — a 4-layer BiLSTM on SST-2 (trained here at CPU size, or ``--lstm PATH``); scores how
  monotonically each method's map changes with depth and how far its scale moves between layers.
* models (Fig. 4) — 3-layer Transformers on SST-2 trained with L2 weights α (``--alphas``; or
  ``--transformers PATH … --alphas …``); scores whether each method's last-layer map follows α.

Writes ``<out>/scores.json``, the figures ``<img-dir>/coherency.png`` (rows: timestamps / layers / models,
one column per method), ``coherency_{timestamps,layers,models}.png``, and the tables between the
GENERATED markers of ``--doc`` (the rest of the document is kept).

Small run (minutes on 2 CPU cores):
    .venv/bin/python scripts/coherency_study.py --preset small
Fuller run (closer to the paper's sizes; hours on CPU):
    .venv/bin/python scripts/coherency_study.py --preset full
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

from mi_explain import Explanation, SaliencyExplanation, explain, explain_function, load  # noqa: E402
from mi_explain.methods.scores import (  # noqa: E402
    importance,
    layer_profile,
    monotonicity,
    order_agreement,
    reverse_pattern,
    scale_spread,
)

METHODS = ["information", "gradient", "integrated_gradients", "perturbation", "lrp"]
TITLES = {"information": "Ours (σ)", "gradient": "Gradient", "integrated_gradients": "Integrated gradients",
          "perturbation": "Perturbation", "lrp": "LRP"}
EXAMPLE = "a rare bird has more than enough charm to make it memorable ."
BEGIN, END = "<!-- BEGIN GENERATED (scripts/coherency_study.py) -->", "<!-- END GENERATED -->"

PRESETS = {
    "small": dict(reverse_length=8, reverse_steps=600, reverse_hidden=64, reverse_embedding=16, reverse_examples=6,
                  max_train=4000, epochs=2, sentences=10, max_words=14, lstm_size=32, lstm_embedding=32,
                  tf_size=64, tf_heads=4, tf_ff=128, alphas=[0.0, 1e-4, 3e-4, 1e-3], perturbation_steps=150),
    "full": dict(reverse_length=10, reverse_steps=3000, reverse_hidden=128, reverse_embedding=32, reverse_examples=50,
                 max_train=67349, epochs=2, sentences=100, max_words=25, lstm_size=256, lstm_embedding=256,
                 tf_size=256, tf_heads=4, tf_ff=1024, alphas=[0.0, 1e-5, 5e-5, 1e-4], perturbation_steps=300),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def method_options(method: str, args: argparse.Namespace) -> dict:
    if method == "perturbation":
        return {"steps": args.perturbation_steps}
    if method in ("gradient", "integrated_gradients", "lrp"):
        return {"projections": args.projections}
    return {}


def mean_sd(values: list[float]) -> str:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return "n/a"
    m = sum(v) / len(v)
    sd = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
    return f"{m:.2f} ± {sd:.2f}"


# ---------------------------------------------------------------------------------------------- scale

def part_scale(args: argparse.Namespace) -> dict:
    """A layer h, its copy 100·h and a copy blind to word 2: maps and ratios per method."""
    torch.manual_seed(args.seed)
    n, k = 6, 8
    w1 = torch.randn(n * k, 32) / (n * k) ** 0.5
    drop = torch.ones(1, n, 1)
    drop[0, 2] = 0

    def phi(xt: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.tanh(xt.reshape(xt.shape[0], -1) @ w1)
        return {"h": h, "100·h": 100 * h, "h without word 2": torch.tanh((xt * drop).reshape(xt.shape[0], -1) @ w1)}

    x = torch.randn(n, k)
    rows = {}
    for m in args.methods:
        e = (explain_function(phi, x, progress=False) if m == "information"
             else explain_function(phi, x, method=m, seed=args.seed, **method_options(m, args)))
        imp = importance(e)
        ratio = (e.values()[1] / e.values()[0]).double()
        rows[m] = {"ratio_mean": float(ratio.mean()), "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
                   "dropped_share": float(imp[2, 2] / imp[2].max()) if float(imp[2].max()) > 0 else 0.0,
                   "dropped_at_bound": bool(e.at_bound[2, 2]) if isinstance(e, Explanation) else False}
        log(f"scale {m}: σ/saliency ratio copy/original {rows[m]['ratio_mean']:.3g}, "
            f"dropped word share {rows[m]['dropped_share']:.3g}")
    return rows


# ---------------------------------------------------------------------------------------------- timestamps

def part_timestamps(args: argparse.Namespace) -> tuple[dict, dict]:
    from mi_explain.seq2seq import (
        ReverseSeq2Seq,
        evaluate_reverse,
        reverse_batch,
        reverse_inputs,
        reverse_phi,
        train_reverse,
    )

    n = args.reverse_length
    path = Path(args.out) / "reverse_model.pt"
    if args.reverse_model:
        model = ReverseSeq2Seq(args.reverse_embedding, args.reverse_hidden)
        model.load_state_dict(torch.load(args.reverse_model))
        model.eval()
        tok_acc, seq_acc = evaluate_reverse(model, n)
        steps = None
    else:
        t0 = time.perf_counter()
        res = train_reverse(length=n, steps=args.reverse_steps, embedding_size=args.reverse_embedding,
                            hidden_size=args.reverse_hidden, seed=args.seed, log=lambda s: log(f"reverse {s}"))
        model, tok_acc, seq_acc, steps = res.model, res.token_accuracy, res.sequence_accuracy, res.steps
        torch.save(model.state_dict(), path)
        log(f"reverse model trained in {time.perf_counter() - t0:.0f}s")
    log(f"reverse task: test token accuracy {tok_acc:.4f}, sequence accuracy {seq_acc:.4f} (paper: 81.21%)")
    model.requires_grad_(False)
    prior = float(torch.cat([model.enc_embedding.weight, model.dec_embedding.weight]).std())
    gen = torch.Generator().manual_seed(args.seed + 3)
    ref = torch.stack([reverse_inputs(model, *reverse_batch(1, n, gen)[:2])[0] for _ in range(64)])
    phi = reverse_phi(model, n + 1)
    scores: dict[str, list[dict]] = {m: [] for m in args.methods}
    example = {}
    for ex in range(args.reverse_examples):
        src, dec_in, _ = reverse_batch(1, n, torch.Generator().manual_seed(10_000 + ex))
        x, words = reverse_inputs(model, src, dec_in)
        for m in args.methods:
            if m == "information":
                e = explain_function(phi, x, words=words, reference_inputs=ref, prior_scale=prior, scale=10 * prior,
                                     seed=args.seed, progress=False)
            else:
                e = explain_function(phi, x, method=m, words=words, prior_scale=prior, seed=args.seed,
                                          **method_options(m, args))
            scores[m].append(reverse_pattern(e, n))
            if ex == 0:
                example[m] = e
        log(f"timestamps: example {ex + 1}/{args.reverse_examples} explained")
    summary = {m: {k: [s[k] for s in v] for k in ("mass", "top1", "auc")} for m, v in scores.items()}
    return ({"token_accuracy": tok_acc, "sequence_accuracy": seq_acc, "length": n, "steps": steps,
             "hidden": args.reverse_hidden, "examples": args.reverse_examples, "scores": summary}, example)


# ---------------------------------------------------------------------------------------------- SST-2 models

def load_sst2(args: argparse.Namespace):

    def read(name: str):
        from mi_explain.resources import read_glue_tsv

        return read_glue_tsv(Path(args.data).name, name, Path(args.data).parent) if args.data else \
            read_glue_tsv("sst2", name)

    train, val = read("train"), read("validation")
    train = train.sample(n=min(args.max_train, len(train)), random_state=args.seed) if args.max_train else train
    return train.reset_index(drop=True), val


def tokenizer():
    from transformers import AutoTokenizer

    from mi_explain.resources import packaged_model_path

    return AutoTokenizer.from_pretrained(packaged_model_path("minilm"))


def accuracy(model, tok, val) -> float:  # noqa: ANN001
    from mi_explain.training import accuracy as score

    return score(model, tok, list(val.sentence), list(val.label), max_length=128)


def train_sst2(family: str, config: dict, alpha: float, args: argparse.Namespace, train, val, tok, out: Path):  # noqa: ANN001
    """A CPU-sized SST-2 classifier from mi_explain.models.build_model, trained with the HF Trainer; loss +
    α·Σ‖w‖² (the paper's L2 penalty; the optimiser's own weight decay is off)."""
    from mi_explain.models import build_model
    from mi_explain.training import encode_examples, train_classifier

    torch.manual_seed(args.seed)
    model = build_model(family, vocab_size=len(tok), pad_token_id=tok.pad_token_id, **config)
    train_classifier(model, tok, encode_examples(tok, list(train.sentence), list(train.label), 64),
                     output_dir=out / "trainer", epochs=args.epochs, lr=args.lr, batch_size=32, seed=args.seed,
                     l2=alpha, logging_steps=50)
    acc = accuracy(model, tok, val)
    model.save_pretrained(out)
    return model, acc


def load_model(path: str):
    from mi_explain.models import load_classifier

    return load_classifier(path)[0]


def vocabulary_prior(model, used_ids: torch.Tensor) -> float:  # noqa: ANN001
    """The spread of the word embeddings of the training vocabulary (not of all 30k rows: most rows are never
    updated by a small run, and an L2 penalty shrinks them towards 0, which would shrink σ_prior with α)."""
    from mi_explain.hooks import find_input_embeddings

    w = find_input_embeddings(model).weight.detach().float()
    return float(w[used_ids.to(w.device)].std())


def explain_all(model, tok, texts: list[str], args: argparse.Namespace, reference: list[str], layers=None,  # noqa: ANN001
                used_ids: torch.Tensor | None = None):
    """{method: [Explanation per text]} for one model (all its layers, the layer taken as a whole).  Ours: σ
    bounded at 10 × the embedding spread (the authors' recommended scale) and information measured against
    the spread of the training vocabulary's embeddings (:func:`vocabulary_prior`)."""
    from mi_explain.hooks import find_input_embeddings

    prior = (vocabulary_prior(model, used_ids) if used_ids is not None
             else float(find_input_embeddings(model).weight.detach().float().std()))
    out = {}
    for m in args.methods:
        t0 = time.perf_counter()
        if m == "information":
            res = explain(model, tok, texts, layers=layers, scale=10 * prior, prior_scale=prior,
                          reference_texts=reference, seed=args.seed, progress=False)
        else:
            res = explain(model, tok, texts, method=m, layers=layers, seed=args.seed, **method_options(m, args))
        out[m] = res
        log(f"  {m}: {len(texts)} texts in {time.perf_counter() - t0:.0f}s")
    return out


def used_vocabulary(tok, train) -> torch.Tensor:  # noqa: ANN001
    ids = {i for row in tok(list(train.sentence), truncation=True, max_length=64)["input_ids"] for i in row}
    return torch.tensor(sorted(ids - set(tok.all_special_ids)))


def pick_sentences(val, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    short = [s for s in val.sentence if 4 <= len(s.split()) <= args.max_words]
    return [EXAMPLE] + short[: max(0, args.sentences - 1)]


def part_layers(args: argparse.Namespace, tok, train, val) -> tuple[dict, dict]:  # noqa: ANN001
    out = Path(args.out) / "lstm"
    if args.lstm:
        model, acc = load_model(args.lstm), None
        acc = accuracy(model, tok, val)
    else:
        t0 = time.perf_counter()
        cfg = {"embedding_size": args.lstm_embedding, "hidden_size": args.lstm_size, "num_hidden_layers": 4}
        model, acc = train_sst2("lstm", cfg, 0.0, args, train, val, tok, out)
        log(f"LSTM trained in {time.perf_counter() - t0:.0f}s")
    log(f"LSTM validation accuracy {acc:.4f}")
    texts = pick_sentences(val, args)
    maps = explain_all(model, tok, texts, args, list(train.sentence[:64]), used_ids=used_vocabulary(tok, train))
    scores = {m: {"monotonicity": [monotonicity(e) for e in es], "spread": [scale_spread(e) for e in es],
                  "profile": torch.stack([layer_profile(e) for e in es]).mean(0).tolist()} for m, es in maps.items()}
    return {"accuracy": acc, "sentences": len(texts), "scores": scores}, {m: es[0] for m, es in maps.items()}


def part_models(args: argparse.Namespace, tok, train, val) -> tuple[dict, dict]:  # noqa: ANN001
    models = []
    if args.transformers:
        if len(args.transformers) != len(args.alphas):
            raise SystemExit("--transformers needs one --alphas value per model")
        for path, alpha in zip(args.transformers, args.alphas):
            m = load_model(path)
            models.append((alpha, m, accuracy(m, tok, val)))
    else:
        cfg = {"hidden_size": args.tf_size, "num_attention_heads": args.tf_heads, "intermediate_size": args.tf_ff,
               "num_hidden_layers": 3}
        for alpha in args.alphas:
            t0 = time.perf_counter()
            path = Path(args.out) / f"transformer_a{alpha:g}"
            m, acc = train_sst2("transformer", cfg, alpha, args, train, val, tok, path)
            log(f"Transformer α={alpha:g} trained in {time.perf_counter() - t0:.0f}s")
            models.append((alpha, m, acc))
    texts = pick_sentences(val, args)
    values: dict[str, list[float]] = {m: [] for m in args.methods}
    rows: dict[str, list] = {m: [] for m in args.methods}
    accs, priors = [], []
    used = used_vocabulary(tok, train)
    for alpha, model, acc in models:
        priors.append({"vocabulary": vocabulary_prior(model, used), "all_rows": vocabulary_prior(
            model, torch.arange(model.get_input_embeddings().weight.shape[0]))})
        log(f"Transformer α={alpha:g}: validation accuracy {acc:.4f}")
        accs.append(acc)
        maps = explain_all(model, tok, texts, args, list(train.sentence[:64]), layers=[-1], used_ids=used)
        for m, es in maps.items():
            values[m].append(float(torch.stack([importance(e)[0].mean() for e in es]).mean()))
            rows[m].append(es[0])
    scores = {m: {"rho": order_agreement(args.alphas, v), "values": v} for m, v in values.items()}
    return ({"alphas": list(args.alphas), "accuracy": accs, "sentences": len(texts), "scores": scores,
             "embedding_spread": priors}, rows)


# ---------------------------------------------------------------------------------------------- figures

def save_maps(out: Path, part: str, maps: dict) -> None:
    d = out / "maps" / part
    d.mkdir(parents=True, exist_ok=True)
    for m, e in maps.items():
        e.save(d / f"{m}.json")


def load_maps(out: Path, part: str, methods: list[str]) -> dict:
    d = out / "maps" / part
    return {m: load(d / f"{m}.json") for m in methods if (d / f"{m}.json").exists()}


def stack_rows(es: list) -> object:  # noqa: ANN001
    """One result whose rows are the last-layer rows of several models' maps of the same text (ours: σ
    divided by each model's own σ_prior, stored with σ_prior = 1)."""
    first, n = es[0], len(es)
    common = dict(words=first.words, layers=[str(i) for i in range(n)], tokens=first.tokens,
                  token_to_word=first.token_to_word, pieces=first.pieces, embedding_dim=first.embedding_dim,
                  objective=[0.0] * n, converged=[True] * n, steps=first.steps, text=first.text, target=first.target,
                  method=first.method, options=first.options)
    if isinstance(first, Explanation):
        return Explanation(sigma=[(e.sigma[0] / e.prior_scale).tolist() for e in es], prior_scale=1.0,
                           at_bound=[e.at_bound[0].tolist() for e in es], regularization=[1.0] * n, **common)
    return SaliencyExplanation(scores=[e.scores[0].tolist() for e in es], prior_scale=first.prior_scale, **common)


def figures(args: argparse.Namespace, rows: dict[str, tuple[dict, list[str] | None]]) -> list[Path]:
    from mi_explain.plotting import method_grid, save_figure

    img = Path(args.img_dir)
    paths = [save_figure(method_grid({name: rows[name]}, args.methods, TITLES), img / f"coherency_{name}.png", dpi=110)
             for name in rows]
    return [save_figure(method_grid(rows, args.methods, TITLES), img / "coherency.png", dpi=100), *paths]


# ---------------------------------------------------------------------------------------------- report

def tables(args: argparse.Namespace, res: dict, figs: list[Path]) -> str:
    doc_dir = Path(args.doc).parent
    runs = {}
    for part, cmd in res.get("commands", {}).items():
        runs.setdefault(cmd, []).append(part)
    made = "; ".join(f"{', '.join(parts)}: `{cmd}`" for cmd, parts in runs.items())
    lines = [BEGIN, "", f"Made by {made} (report {time.strftime('%Y-%m-%d %H:%M')}, {torch.get_num_threads()} "
             f"thread(s), methods: {', '.join(args.methods)}).", ""]
    methods = set(args.methods)
    for p in figs[:1]:
        lines += [f"![coherency]({os.path.relpath(p, doc_dir)})", ""]
    if "scale" in res:
        lines += ["**Scale and a dropped word** (layer h; copy 100·h; h computed without word 2). Ratio: map of "
                  "the copy / map of h, per word (σ for ours, saliency otherwise); share: the dropped word's "
                  "importance / the row's largest.", "",
                  "| method | ratio copy/original (mean [min, max]) | dropped word: share (ours: σ at bound) |",
                  "|---|---|---|"]
        for m, r in res["scale"].items():
            if m not in methods:
                continue
            extra = f" (at bound: {r['dropped_at_bound']})" if m == "information" else ""
            lines.append(f"| {m} | {r['ratio_mean']:.3g} [{r['ratio_min']:.3g}, {r['ratio_max']:.3g}] | "
                         f"{r['dropped_share']:.3g}{extra} |")
        lines.append("")
    if "timestamps" in res:
        t = res["timestamps"]
        lines += [f"**Timestamps** (Fig. 2): reversal of length-{t['length']} a/b/c/d sequences, 2-layer LSTM "
                  f"encoder–decoder with attention (hidden {t['hidden']}); test accuracy (greedy decoding, fresh "
                  f"sequences) **{100 * t['token_accuracy']:.2f}%** per word, {100 * t['sequence_accuracy']:.2f}% "
                  f"per sequence (paper: 81.21%).  Reverse-pattern scores over {t['examples']} test sequences "
                  f"(mean ± sd; chance: mass = top-1 = {1 / t['length']:.3f}, AUC = 0.5):", "",
                  "| method | mass | top-1 | AUC |", "|---|---|---|---|"]
        for m, s in t["scores"].items():
            if m not in methods:
                continue
            lines.append(f"| {m} | {mean_sd(s['mass'])} | {mean_sd(s['top1'])} | {mean_sd(s['auc'])} |")
        lines.append("")
    if "layers" in res:
        lay = res["layers"]
        acc = f"{100 * lay['accuracy']:.2f}%" if lay["accuracy"] is not None else "n/a"
        lines += [f"**Layers** (Fig. 3): 4-layer BiLSTM on SST-2, validation accuracy {acc}; {lay['sentences']} "
                  "validation sentences, each layer's states taken as a whole.  Monotonicity: Spearman ρ between "
                  "depth and the layer's mean importance (−1 = decreasing); spread: log10 of the largest / smallest "
                  "layer's geometric-mean map value (0 = all layers on one scale).", "",
                  "| method | monotonicity ρ | spread (decades) | mean importance per layer 0…3 |",
                  "|---|---|---|---|"]
        for m, s in lay["scores"].items():
            if m not in methods:
                continue
            prof = ", ".join(f"{v:.3g}" for v in s["profile"])
            lines.append(f"| {m} | {mean_sd(s['monotonicity'])} | {mean_sd(s['spread'])} | {prof} |")
        lines.append("")
    if "models" in res:
        mo = res["models"]
        accs = ", ".join(f"α={a:g}: {100 * x:.2f}%" for a, x in zip(mo["alphas"], mo["accuracy"]))
        lines += [f"**Models** (Fig. 4): 3-layer Transformers on SST-2 with L2 weight α ({accs}); last layer, "
                  f"{mo['sentences']} validation sentences.  ρ: Spearman between α and the mean importance "
                  "(ours: information, nats/dim, against the spread of the training vocabulary's embeddings; "
                  "baselines: saliency); −1 = decreases as α grows.  Embedding spread (training vocabulary / all "
                  "rows): " + ", ".join(f"{p['vocabulary']:.3g} / {p['all_rows']:.3g}"
                                        for p in mo.get("embedding_spread", [])) + ".", "",
                  "| method | ρ(α, importance) | mean importance per α |", "|---|---|---|"]
        for m, s in mo["scores"].items():
            if m not in methods:
                continue
            vals = ", ".join(f"{v:.3g}" for v in s["values"])
            rho = "n/a" if math.isnan(s["rho"]) else f"{s['rho']:.2f}"
            lines.append(f"| {m} | {rho} | {vals} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_doc(path: Path, block: str) -> None:
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Coherency study\n\n" + block + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--parts", nargs="+", default=["scale", "timestamps", "layers", "models"],
                    choices=["scale", "timestamps", "layers", "models", "report"],
                    help="parts to (re)compute; 'report' alone redraws the figures and tables from <out>")
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--out", default="runs/coherency")
    ap.add_argument("--doc", default="docs/coherency.md")
    ap.add_argument("--img-dir", default="docs/img")
    ap.add_argument("--data", default=None, help="SST-2 folder (default: sst2/ of mi_explain.resources.glue_data_dir)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for small models "
                    "on a shared CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--projections", type=int, default=64, help="random read-outs of the 'vector' reduction "
                    "(16 in the library; 64 here: the scores below compare small differences)")
    ap.add_argument("--reverse-model", help="a saved reversal model state_dict (skips training)")
    ap.add_argument("--lstm", help="a saved SST-2 LSTM classifier (skips training)")
    ap.add_argument("--transformers", nargs="+", help="saved SST-2 Transformer classifiers, one per --alphas value")
    ap.add_argument("--lr", type=float, default=2e-3)
    for key, value in PRESETS["small"].items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            ap.add_argument(flag, type=float, nargs="+", default=None)
        else:
            ap.add_argument(flag, type=type(value), default=None)
    args = ap.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # parts not rerun now keep their earlier scores and example maps (a partial rerun updates the rest)
    res: dict = json.loads((out / "scores.json").read_text(encoding="utf-8")) if (out / "scores.json").exists() else {}
    res.update(argv=sys.argv, preset=args.preset)
    commands = res.setdefault("commands", {})
    for part in args.parts:
        if part != "report":
            commands[part] = " ".join(["scripts/coherency_study.py", *sys.argv[1:]])
    fig_rows: dict = {}
    if "scale" in args.parts:
        res["scale"] = part_scale(args)
    if "timestamps" in args.parts:
        res["timestamps"], ex = part_timestamps(args)
        save_maps(out, "timestamps", ex)
    if "layers" in args.parts or "models" in args.parts:
        tok = tokenizer()
        train, val = load_sst2(args)
        if "layers" in args.parts:
            res["layers"], ex = part_layers(args, tok, train, val)
            save_maps(out, "layers", ex)
        if "models" in args.parts:
            res["models"], rows = part_models(args, tok, train, val)
            save_maps(out, "models", {m: stack_rows(es) for m, es in rows.items()})
    for part in ("timestamps", "layers", "models"):
        maps = load_maps(out, part, args.methods)
        if maps:
            fig_rows[part] = (maps, [f"α={a:g}" for a in res["models"]["alphas"]] if part == "models" else None)
    (out / "scores.json").write_text(json.dumps(res, indent=1, default=float), encoding="utf-8")
    figs = figures(args, fig_rows) if fig_rows else []
    write_doc(Path(args.doc), tables(args, res, figs))
    log(f"wrote {args.out}/scores.json, {', '.join(map(str, figs))} and {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
