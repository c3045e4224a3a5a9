"""The coherency study: the information measure beside gradient, integrated gradients, perturbation and LRP
across timestamps, layers and models (Guan et al. 2019, Sec. 4 and supplement Sec. 4), with scores.

Parts (each can be run alone; :func:`run` keeps the scores and maps of the parts not rerun):

* :func:`part_scale` — ground truth: a layer, its copy ×100, and a copy that drops one word (function-level phi).
* :func:`part_timestamps` (Fig. 2) — trains the 2-layer LSTM encoder–decoder with attention on reversing
  a/b/c/d sequences, explains the last hidden layer at every decoder step, scores the reverse pattern.
* :func:`part_layers` (Fig. 3) — a 4-layer BiLSTM on SST-2 (trained here at CPU size, or a saved one); scores
  how monotonically each method's map changes with depth and how far its scale moves between layers.
* :func:`part_models` (Fig. 4) — 3-layer Transformers on SST-2 trained with L2 weights α (or saved ones, one
  per α); scores whether each method's last-layer map follows α.

Sizes and options are a :class:`CoherencySettings` (``PRESETS``: "small", minutes on 2 CPU cores; "full",
closer to the paper's sizes, hours).  The scores (:mod:`mi_explain.methods.scores`) and the report
(:mod:`mi_explain.coherency_report`) live apart; ``scripts/coherency_study.py`` is the command line.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .driver import explain, explain_function
from .methods.scores import importance, layer_profile, monotonicity, order_agreement, reverse_pattern, scale_spread
from .results import Explanation, Result, SaliencyExplanation, load

__all__ = ["EXAMPLE", "METHODS", "PARTS", "PRESETS", "CoherencySettings", "explain_all", "figure_rows",
           "load_maps", "load_sst2", "log", "method_options", "part_layers", "part_models", "part_scale",
           "part_timestamps", "pick_sentences", "run", "save_maps", "sst2_accuracy", "stack_rows", "train_sst2",
           "used_vocabulary", "vocabulary_prior"]

METHODS = ["information", "gradient", "integrated_gradients", "perturbation", "lrp"]
PARTS = ["scale", "timestamps", "layers", "models"]
#: the first sentence explained in the layers and models parts (the rest: short validation sentences)
EXAMPLE = "a rare bird has more than enough charm to make it memorable ."

#: sizes per preset: "small" is the default of :class:`CoherencySettings`
PRESETS: dict[str, dict[str, Any]] = {
    "small": dict(reverse_length=8, reverse_steps=600, reverse_hidden=64, reverse_embedding=16, reverse_examples=6,
                  max_train=4000, epochs=2, sentences=10, max_words=14, lstm_size=32, lstm_embedding=32,
                  tf_size=64, tf_heads=4, tf_ff=128, alphas=[0.0, 1e-4, 3e-4, 1e-3], perturbation_steps=150),
    "full": dict(reverse_length=10, reverse_steps=3000, reverse_hidden=128, reverse_embedding=32, reverse_examples=50,
                 max_train=67349, epochs=2, sentences=100, max_words=25, lstm_size=256, lstm_embedding=256,
                 tf_size=256, tf_heads=4, tf_ff=1024, alphas=[0.0, 1e-5, 5e-5, 1e-4], perturbation_steps=300),
}


@dataclass
class CoherencySettings:
    """What the study runs and at which size (defaults: the "small" preset; see :meth:`preset`)."""

    methods: list[str] = field(default_factory=lambda: list(METHODS))
    out: str = "runs/coherency"  #: scores.json, maps/<part>/<method>.json, trained models
    data: str | None = None  #: SST-2 folder (default: sst2/ of :func:`mi_explain.resources.glue_data_dir`)
    seed: int = 0
    projections: int = 64  #: random read-outs of the baselines' "vector" reduction (16 in the library)
    lr: float = 2e-3  #: learning rate of the SST-2 models
    reverse_model: str | None = None  #: a saved reversal model state_dict (skips training)
    lstm: str | None = None  #: a saved SST-2 LSTM classifier (skips training)
    transformers: list[str] | None = None  #: saved SST-2 Transformer classifiers, one per alpha
    reverse_length: int = 8
    reverse_steps: int = 600
    reverse_hidden: int = 64
    reverse_embedding: int = 16
    reverse_examples: int = 6
    max_train: int = 4000  #: SST-2 training sentences (seeded sample; 0: all)
    epochs: float = 2
    sentences: int = 10  #: validation sentences explained per model
    max_words: int = 14  #: longest sentence explained (words)
    lstm_size: int = 32
    lstm_embedding: int = 32
    tf_size: int = 64
    tf_heads: int = 4
    tf_ff: int = 128
    alphas: list[float] = field(default_factory=lambda: [0.0, 1e-4, 3e-4, 1e-3])
    perturbation_steps: int = 150

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"methods: unknown {unknown}; choose from {METHODS}")
        if self.transformers is not None and len(self.transformers) != len(self.alphas):
            raise ValueError(f"transformers: {len(self.transformers)} saved models for {len(self.alphas)} alphas "
                             "(one alpha per model)")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> CoherencySettings:
        """The sizes of ``PRESETS[name]``; keyword arguments (None: keep the preset's) override any field."""
        if name not in PRESETS:
            raise ValueError(f"preset: unknown {name!r}; choose from {sorted(PRESETS)}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"CoherencySettings has no field(s) {unknown}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})


def log(msg: str) -> None:
    """Print ``msg`` with the time of day (the study's progress lines)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def method_options(method: str, settings: CoherencySettings) -> dict[str, Any]:
    """The options each baseline gets in the study (perturbation steps; projections of the vector read-out)."""
    if method == "perturbation":
        return {"steps": settings.perturbation_steps}
    if method in ("gradient", "integrated_gradients", "lrp"):
        return {"projections": settings.projections}
    return {}


# ---------------------------------------------------------------------------------------------- scale

def part_scale(settings: CoherencySettings) -> dict[str, dict[str, Any]]:
    """A layer h, its copy 100·h and a copy blind to word 2: per method, the map ratio copy/original (mean,
    min, max over words) and the dropped word's share of the row's largest importance."""
    torch.manual_seed(settings.seed)
    n, k = 6, 8
    w1 = torch.randn(n * k, 32) / (n * k) ** 0.5
    drop = torch.ones(1, n, 1)
    drop[0, 2] = 0

    def phi(xt: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.tanh(xt.reshape(xt.shape[0], -1) @ w1)
        return {"h": h, "100·h": 100 * h, "h without word 2": torch.tanh((xt * drop).reshape(xt.shape[0], -1) @ w1)}

    x = torch.randn(n, k)
    rows = {}
    for m in settings.methods:
        e = (explain_function(phi, x, progress=False) if m == "information"
             else explain_function(phi, x, method=m, seed=settings.seed, **method_options(m, settings)))
        imp = importance(e)
        ratio = (e.values()[1] / e.values()[0]).double()
        rows[m] = {"ratio_mean": float(ratio.mean()), "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
                   "dropped_share": float(imp[2, 2] / imp[2].max()) if float(imp[2].max()) > 0 else 0.0,
                   "dropped_at_bound": bool(e.at_bound[2, 2]) if isinstance(e, Explanation) else False}
        log(f"scale {m}: σ/saliency ratio copy/original {rows[m]['ratio_mean']:.3g}, "
             f"dropped word share {rows[m]['dropped_share']:.3g}")
    return rows


# ---------------------------------------------------------------------------------------------- timestamps

def part_timestamps(settings: CoherencySettings) -> tuple[dict[str, Any], dict[str, Result]]:
    """Train (or load) the reversal model, explain ``reverse_examples`` test sequences with every method and
    score the reverse pattern → (summary with accuracies and scores, {method: the first sequence's map})."""
    from .seq2seq import ReverseSeq2Seq, evaluate_reverse, reverse_batch, reverse_inputs, reverse_phi, train_reverse

    n = settings.reverse_length
    if settings.reverse_model:
        model = ReverseSeq2Seq(settings.reverse_embedding, settings.reverse_hidden)
        model.load_state_dict(torch.load(settings.reverse_model))
        model.eval()
        tok_acc, seq_acc = evaluate_reverse(model, n)
        steps = None
    else:
        t0 = time.perf_counter()
        res = train_reverse(length=n, steps=settings.reverse_steps, embedding_size=settings.reverse_embedding,
                            hidden_size=settings.reverse_hidden, seed=settings.seed,
                            log=lambda s: log(f"reverse {s}"))
        model, tok_acc, seq_acc, steps = res.model, res.token_accuracy, res.sequence_accuracy, res.steps
        Path(settings.out).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(settings.out) / "reverse_model.pt")
        log(f"reverse model trained in {time.perf_counter() - t0:.0f}s")
    log(f"reverse task: test token accuracy {tok_acc:.4f}, sequence accuracy {seq_acc:.4f} (paper: 81.21%)")
    model.requires_grad_(False)
    prior = float(torch.cat([model.enc_embedding.weight, model.dec_embedding.weight]).std())
    gen = torch.Generator().manual_seed(settings.seed + 3)
    ref = torch.stack([reverse_inputs(model, *reverse_batch(1, n, gen)[:2])[0] for _ in range(64)])
    phi = reverse_phi(model, n + 1)
    scores: dict[str, list[dict]] = {m: [] for m in settings.methods}
    example = {}
    for ex in range(settings.reverse_examples):
        src, dec_in, _ = reverse_batch(1, n, torch.Generator().manual_seed(10_000 + ex))
        x, words = reverse_inputs(model, src, dec_in)
        for m in settings.methods:
            if m == "information":
                e = explain_function(phi, x, words=words, reference_inputs=ref, prior_scale=prior, scale=10 * prior,
                                     seed=settings.seed, progress=False)
            else:
                e = explain_function(phi, x, method=m, words=words, prior_scale=prior, seed=settings.seed,
                                     **method_options(m, settings))
            scores[m].append(reverse_pattern(e, n))
            if ex == 0:
                example[m] = e
        log(f"timestamps: example {ex + 1}/{settings.reverse_examples} explained")
    summary = {m: {k: [s[k] for s in v] for k in ("mass", "top1", "auc")} for m, v in scores.items()}
    return ({"token_accuracy": tok_acc, "sequence_accuracy": seq_acc, "length": n, "steps": steps,
             "hidden": settings.reverse_hidden, "examples": settings.reverse_examples, "scores": summary}, example)


# ---------------------------------------------------------------------------------------------- SST-2 models

def load_sst2(settings: CoherencySettings):  # noqa: ANN201
    """(train, validation) SST-2 frames; train is a seeded sample of ``max_train`` rows (0: all)."""
    from .resources import read_glue_tsv

    def read(split: str):  # noqa: ANN202
        if settings.data:
            return read_glue_tsv(Path(settings.data).name, split, Path(settings.data).parent)
        return read_glue_tsv("sst2", split)

    train, val = read("train"), read("validation")
    if settings.max_train:
        train = train.sample(n=min(settings.max_train, len(train)), random_state=settings.seed)
    return train.reset_index(drop=True), val


def sst2_accuracy(model: torch.nn.Module, tokenizer: Any, val) -> float:  # noqa: ANN001
    """Validation accuracy (argmax rate) of a classifier on a frame with ``sentence`` and ``label``."""
    from .training import accuracy

    return accuracy(model, tokenizer, list(val.sentence), list(val.label), max_length=128)


def train_sst2(family: str, config: dict[str, Any], alpha: float, settings: CoherencySettings, train, val,  # noqa: ANN001
               tokenizer: Any, out: Path) -> tuple[torch.nn.Module, float]:
    """A CPU-sized SST-2 classifier from :func:`mi_explain.models.build_model`, trained with the HF Trainer;
    loss + α·Σ‖w‖² (the paper's L2 penalty; the optimiser's own weight decay is off).  Saved to ``out``;
    returns (model, validation accuracy)."""
    from .models import build_model
    from .training import encode_examples, train_classifier

    torch.manual_seed(settings.seed)
    model = build_model(family, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **config)
    train_classifier(model, tokenizer, encode_examples(tokenizer, list(train.sentence), list(train.label), 64),
                     output_dir=out / "trainer", epochs=settings.epochs, lr=settings.lr, batch_size=32,
                     seed=settings.seed, l2=alpha, logging_steps=50)
    acc = sst2_accuracy(model, tokenizer, val)
    model.save_pretrained(out)
    return model, acc


def vocabulary_prior(model: torch.nn.Module, used_ids: torch.Tensor) -> float:
    """The spread of the word embeddings of the training vocabulary (not of all 30k rows: most rows are never
    updated by a small run, and an L2 penalty shrinks them towards 0, which would shrink σ_prior with α)."""
    from .hooks import find_input_embeddings

    w = find_input_embeddings(model).weight.detach().float()
    return float(w[used_ids.to(w.device)].std())


def used_vocabulary(tokenizer: Any, train) -> torch.Tensor:  # noqa: ANN001
    """Sorted ids of the non-special tokens of the training sentences (first 64 tokens of each) [V_used]."""
    ids = {i for row in tokenizer(list(train.sentence), truncation=True, max_length=64)["input_ids"] for i in row}
    return torch.tensor(sorted(ids - set(tokenizer.all_special_ids)))


def explain_all(model: torch.nn.Module, tokenizer: Any, texts: list[str], settings: CoherencySettings,
                reference: list[str], layers: Sequence[int] | None = None,
                used_ids: torch.Tensor | None = None) -> dict[str, list[Result]]:
    """{method: [result per text]} for one model (all its layers, the layer taken as a whole).  Ours: σ
    bounded at 10 × the embedding spread (the authors' recommended scale) and information measured against
    the spread of the training vocabulary's embeddings (:func:`vocabulary_prior`)."""
    from .hooks import find_input_embeddings

    prior = (vocabulary_prior(model, used_ids) if used_ids is not None
             else float(find_input_embeddings(model).weight.detach().float().std()))
    out = {}
    for m in settings.methods:
        t0 = time.perf_counter()
        if m == "information":
            res = explain(model, tokenizer, texts, layers=layers, scale=10 * prior, prior_scale=prior,
                          reference_texts=reference, seed=settings.seed, progress=False)
        else:
            res = explain(model, tokenizer, texts, method=m, layers=layers, seed=settings.seed,
                          **method_options(m, settings))
        out[m] = res
        log(f"  {m}: {len(texts)} texts in {time.perf_counter() - t0:.0f}s")
    return out


def pick_sentences(val, settings: CoherencySettings) -> list[str]:  # noqa: ANN001
    """:data:`EXAMPLE` and the first ``sentences − 1`` validation sentences of 4 to ``max_words`` words."""
    short = [s for s in val.sentence if 4 <= len(s.split()) <= settings.max_words]
    return [EXAMPLE] + short[: max(0, settings.sentences - 1)]


def part_layers(settings: CoherencySettings, tokenizer: Any, train, val) -> tuple[dict, dict[str, Result]]:  # noqa: ANN001
    """Fig. 3: a 4-layer BiLSTM (trained, or ``settings.lstm``) explained at every layer → (accuracy and per
    method monotonicity, spread and mean importance per layer; {method: the first sentence's map})."""
    from .models import load_classifier

    out = Path(settings.out) / "lstm"
    if settings.lstm:
        model = load_classifier(settings.lstm)[0]
        acc = sst2_accuracy(model, tokenizer, val)
    else:
        t0 = time.perf_counter()
        cfg = {"embedding_size": settings.lstm_embedding, "hidden_size": settings.lstm_size, "num_hidden_layers": 4}
        model, acc = train_sst2("lstm", cfg, 0.0, settings, train, val, tokenizer, out)
        log(f"LSTM trained in {time.perf_counter() - t0:.0f}s")
    log(f"LSTM validation accuracy {acc:.4f}")
    texts = pick_sentences(val, settings)
    maps = explain_all(model, tokenizer, texts, settings, list(train.sentence[:64]),
                       used_ids=used_vocabulary(tokenizer, train))
    scores = {m: {"monotonicity": [monotonicity(e) for e in es], "spread": [scale_spread(e) for e in es],
                  "profile": torch.stack([layer_profile(e) for e in es]).mean(0).tolist()} for m, es in maps.items()}
    return {"accuracy": acc, "sentences": len(texts), "scores": scores}, {m: es[0] for m, es in maps.items()}


def part_models(settings: CoherencySettings, tokenizer: Any, train, val) -> tuple[dict, dict[str, list[Result]]]:  # noqa: ANN001
    """Fig. 4: 3-layer Transformers, one per α (trained, or ``settings.transformers``), explained at the last
    layer → (accuracies, embedding spreads and per method ρ(α, mean importance); {method: [first sentence's
    map per model]})."""
    from .models import load_classifier

    models = []
    if settings.transformers:
        for path, alpha in zip(settings.transformers, settings.alphas):
            m = load_classifier(path)[0]
            models.append((alpha, m, sst2_accuracy(m, tokenizer, val)))
    else:
        cfg = {"hidden_size": settings.tf_size, "num_attention_heads": settings.tf_heads,
               "intermediate_size": settings.tf_ff, "num_hidden_layers": 3}
        for alpha in settings.alphas:
            t0 = time.perf_counter()
            path = Path(settings.out) / f"transformer_a{alpha:g}"
            m, acc = train_sst2("transformer", cfg, alpha, settings, train, val, tokenizer, path)
            log(f"Transformer α={alpha:g} trained in {time.perf_counter() - t0:.0f}s")
            models.append((alpha, m, acc))
    texts = pick_sentences(val, settings)
    values: dict[str, list[float]] = {m: [] for m in settings.methods}
    rows: dict[str, list] = {m: [] for m in settings.methods}
    accs, priors = [], []
    used = used_vocabulary(tokenizer, train)
    for alpha, model, acc in models:
        priors.append({"vocabulary": vocabulary_prior(model, used), "all_rows": vocabulary_prior(
            model, torch.arange(model.get_input_embeddings().weight.shape[0]))})
        log(f"Transformer α={alpha:g}: validation accuracy {acc:.4f}")
        accs.append(acc)
        maps = explain_all(model, tokenizer, texts, settings, list(train.sentence[:64]), layers=[-1], used_ids=used)
        for m, es in maps.items():
            values[m].append(float(torch.stack([importance(e)[0].mean() for e in es]).mean()))
            rows[m].append(es[0])
    scores = {m: {"rho": order_agreement(settings.alphas, v), "values": v} for m, v in values.items()}
    return ({"alphas": list(settings.alphas), "accuracy": accs, "sentences": len(texts), "scores": scores,
             "embedding_spread": priors}, rows)


# ---------------------------------------------------------------------------------------------- maps

def save_maps(out: str | Path, part: str, maps: dict[str, Result]) -> None:
    """Write ``<out>/maps/<part>/<method>.json`` for each method's map."""
    d = Path(out) / "maps" / part
    d.mkdir(parents=True, exist_ok=True)
    for m, e in maps.items():
        e.save(d / f"{m}.json")


def load_maps(out: str | Path, part: str, methods: Sequence[str]) -> dict[str, Result]:
    """{method: map} of the methods whose ``<out>/maps/<part>/<method>.json`` exists."""
    d = Path(out) / "maps" / part
    return {m: load(d / f"{m}.json") for m in methods if (d / f"{m}.json").exists()}


def stack_rows(es: Sequence[Result]) -> Result:
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


# ---------------------------------------------------------------------------------------------- the study

def run(settings: CoherencySettings, parts: Sequence[str] = PARTS, *, command: str = "",
        record: dict[str, Any] | None = None,
        tokenizer_loader: Callable[[], Any] | None = None) -> tuple[dict[str, Any], dict[str, tuple[dict, Any]]]:
    """Run ``parts`` (of :data:`PARTS`; others keep their earlier scores and maps in ``settings.out``), write
    ``<out>/scores.json`` and return (all scores, figure rows {part: ({method: map}, row labels or None)}).
    command: recorded in ``scores["commands"][part]`` for each part run; record: more top-level entries of
    scores.json (e.g. the command line, the preset); tokenizer_loader: the SST-2 models' tokenizer (default:
    the packaged MiniLM's).  No parts: only the saved scores and maps are read back (to redraw the report)."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"parts: unknown {unknown}; choose from {PARTS}")
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    scores_file = out / "scores.json"
    res: dict[str, Any] = json.loads(scores_file.read_text(encoding="utf-8")) if scores_file.exists() else {}
    res.update(record or {})
    commands = res.setdefault("commands", {})
    for part in parts:
        commands[part] = command
    if "scale" in parts:
        res["scale"] = part_scale(settings)
    if "timestamps" in parts:
        res["timestamps"], ex = part_timestamps(settings)
        save_maps(out, "timestamps", ex)
    if "layers" in parts or "models" in parts:
        tok = (tokenizer_loader or _minilm_tokenizer)()
        train, val = load_sst2(settings)
        if "layers" in parts:
            res["layers"], ex = part_layers(settings, tok, train, val)
            save_maps(out, "layers", ex)
        if "models" in parts:
            res["models"], rows = part_models(settings, tok, train, val)
            save_maps(out, "models", {m: stack_rows(es) for m, es in rows.items()})
    scores_file.write_text(json.dumps(res, indent=1, default=float), encoding="utf-8")
    return res, figure_rows(out, res, settings.methods)


def figure_rows(out: str | Path, res: dict[str, Any], methods: Sequence[str]) -> dict[str, tuple[dict, Any]]:
    """{part: ({method: saved map}, row labels)} for the parts with saved maps (models: one row per α)."""
    rows = {}
    for part in ("timestamps", "layers", "models"):
        maps = load_maps(out, part, methods)
        if maps:
            rows[part] = (maps, [f"α={a:g}" for a in res["models"]["alphas"]] if part == "models" else None)
    return rows


def _minilm_tokenizer():  # noqa: ANN202
    from transformers import AutoTokenizer

    from .resources import packaged_model_path

    return AutoTokenizer.from_pretrained(packaged_model_path("minilm"))
