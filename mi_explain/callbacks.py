"""``MICallback``: corpus-level information per layer (paper Eq. 1–2) during ``transformers.Trainer`` training.

At the start of training, every ``every_n_steps`` optimizer steps and at the end, the callback explains a
fixed probe set of texts with :func:`mi_explain.information.layer_information` and

* logs ``mi/<layer>/information`` (nats per word and embedding dimension) and
  ``mi/<layer>/conditional_entropy`` (H(X|S), nats per sentence) for every layer, plus ``mi/seconds``,
  through ``Trainer.log`` — so they land in ``trainer.state.log_history`` and every reporter
  (TensorBoard, W&B, …) receives them with the training step;
* writes ``<output_dir>/mi_history.csv`` (one row per probe step and layer) and redraws
  ``<output_dir>/mi_information.png`` (information per layer over training steps, the paper's Fig. 9).

Training is unchanged: RNG states, train/eval flags, ``requires_grad`` and ``.grad`` are restored after each
probe and the optimizer is never touched, so the trained weights are bit-identical with and without it.
:func:`plot_training_information` draws several runs side by side (one panel per model).
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from .adapters import _check_text
from .driver import explain
from .hooks import frozen
from .information import layer_information
from .methods import method_options

__all__ = [
    "HISTORY_FILE",
    "PLOT_FILE",
    "PROBE_DEFAULTS",
    "MICallback",
    "load_history",
    "plot_training_information",
    "preserved_training_state",
]

logger = logging.getLogger(__name__)

HISTORY_FILE = "mi_history.csv"
PLOT_FILE = "mi_information.png"
#: explain() arguments the callback sets itself.
_RESERVED = {"model", "tokenizer", "text", "layers"}
#: the probe's explain() defaults: a corpus mean over hundreds of words needs no 5 % precision per word
#: (MiniLM, 4 SST-2 sentences: information per layer within 0.003 nats/dim of tol=0.1 with 100 steps, at
#: a fraction of the cost); override them through ``explain_options``.
PROBE_DEFAULTS: dict[str, Any] = {"progress": False, "tol": 0.2, "steps": 50}


# ----------------------------------------------------------------------------------------------------
# leaving training untouched
# ----------------------------------------------------------------------------------------------------

@contextmanager
def preserved_training_state(model: torch.nn.Module) -> Iterator[None]:
    """Run a probe without leaving a trace on training.

    Saves and restores the RNG states (python ``random``, numpy, torch CPU, every initialised CUDA
    device), the grad mode, and — through :func:`mi_explain.hooks.frozen` — every module's train/eval flag
    and every parameter's ``requires_grad`` (eval mode, no parameter gradients inside).  ``p.grad`` tensors
    are checked: a replaced one is put back; one modified in place raises ``RuntimeError``.
    """
    py_state, np_state, cpu_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() \
        else None
    grad_mode = torch.is_grad_enabled()
    grads = [(name, p, p.grad, None if p.grad is None else p.grad._version) for name, p in model.named_parameters()]
    try:
        with frozen(model):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        torch.set_grad_enabled(grad_mode)
        changed = []
        for name, p, g, version in grads:
            if p.grad is not g:
                p.grad = g
            elif g is not None and g._version != version:
                changed.append(name)
        if changed:
            raise RuntimeError(f"the probe modified the gradients of {changed[:3]}…: training would change")


# ----------------------------------------------------------------------------------------------------
# the callback
# ----------------------------------------------------------------------------------------------------

def _layer_key(label: str) -> str:
    return str(label).replace(" ", "_")


def _find_trainer(callback: TrainerCallback) -> Any | None:
    """The ``Trainer`` whose callback handler holds ``callback``, found among the calling frames (callbacks
    are always invoked from inside a Trainer method) — None if there is none."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            obj = frame.f_locals.get("self")
            handler = getattr(obj, "callback_handler", None)
            if handler is not None and callable(getattr(obj, "log", None)) and \
                    any(cb is callback for cb in getattr(handler, "callbacks", ())):
                return obj
            frame = frame.f_back
    finally:
        del frame
    return None


class MICallback(TrainerCallback):
    """Corpus-level information of every layer on a fixed probe set, during ``Trainer`` training.

    tokenizer: the fast tokenizer of the model.  texts: the probe set (strings or ``(first, second)`` pairs;
    16–32 sentences from the validation set are plenty for a curve).  every_n_steps: probe interval in
    optimizer steps (also probed at the start — step 0 — and after the last step; the default 500 is the
    Trainer's own logging/saving interval).  A probe costs roughly what explaining the texts costs, so the
    added fraction of training time is about probe seconds / (every_n_steps × seconds per step).
    layers: as in :func:`mi_explain.explain` (None: all layer modules).  explain_options: passed to
    ``explain`` through :func:`~mi_explain.information.layer_information` (``target``, ``rate``,
    ``reference_texts``, ``batch_size``, …); defaults ``tol=0.2, steps=50, progress=False``
    (:data:`PROBE_DEFAULTS`).  The noise seed is fixed, so the curve moves only because the weights do.

    history_file / plot_file: names inside ``args.output_dir`` (or absolute paths; None: not written).
    The history is rewritten after each probe (a CSV: ``step, epoch, layer, layer_index, n_sentences,
    conditional_entropy, conditional_entropy_per_dim, information, information_sem, converged, seconds``);
    a fresh run (global step 0) starts it anew, a resumed one keeps the rows before its first step.

    Logged values reach ``state.log_history`` and the reporters through ``Trainer.log``: the callback finds
    its Trainer among the calling frames when an event arrives (or call :meth:`bind`); without one, the
    values are appended to ``state.log_history`` only.

    Multi-process (DDP through accelerate/torchrun): the probe runs on the world main process only
    (``state.is_world_process_zero``), which alone logs and writes; the others go on and wait for it at
    their next gradient all-reduce.  The probe uses the unwrapped model, needs no collective and gives the
    same numbers as a single-process run.  Sharded parameters (FSDP, DeepSpeed ZeRO-3) are not supported.

    The first probe (at ``on_train_begin``) raises on errors such as a bad layer index; a later failing
    probe is logged as a warning and skipped, so a long training is never lost to the monitor.
    """

    def __init__(
        self,
        tokenizer: Any,
        texts: Sequence[str | tuple[str, str]] | str,
        *,
        every_n_steps: int = 500,
        layers: Sequence[int | str] | int | str | None = None,
        history_file: str | os.PathLike | None = HISTORY_FILE,
        plot_file: str | os.PathLike | None = PLOT_FILE,
        run_name: str | None = None,
        **explain_options: Any,
    ) -> None:
        if tokenizer is None:
            raise ValueError("tokenizer is None: MICallback needs the model's (fast) tokenizer")
        texts = [texts] if isinstance(texts, (str, tuple)) else list(texts)
        if not texts:
            raise ValueError("texts is empty: the probe set needs at least one text")
        self.texts = [_check_text(t, i) for i, t in enumerate(texts)]
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be an int ≥ 1, got {every_n_steps!r}")
        reserved = sorted(_RESERVED & set(explain_options))
        if reserved:
            raise TypeError(f"MICallback sets {reserved} itself: pass layers=… and the texts positionally")
        if explain_options.get("method", "information") != "information":
            raise ValueError("MICallback measures information (Eq. 1–2): method must be 'information', "
                             f"got {explain_options['method']!r}")
        known = (set(inspect.signature(explain).parameters) - _RESERVED - {"options"}) | set(
            method_options("information"))
        unknown = sorted(set(explain_options) - known)
        if unknown:
            raise TypeError(f"unknown explain option(s) {unknown}; known: {sorted(known)}")
        self.tokenizer = tokenizer
        self.every_n_steps = every_n_steps
        self.layers = layers
        self.history_file = history_file
        self.plot_file = plot_file
        self.run_name = run_name
        self.explain_options = {**PROBE_DEFAULTS, **explain_options}
        self._rows: list[dict[str, Any]] = []
        self._last_step: int | None = None
        self._trainer_ref: weakref.ref | None = None
        self._warned_no_trainer = False

    # -- wiring ------------------------------------------------------------------------------------------

    def bind(self, trainer: Any) -> MICallback:
        """Log through ``trainer.log`` (found automatically when the Trainer calls this callback)."""
        self._trainer_ref = weakref.ref(trainer)
        return self

    @property
    def trainer(self) -> Any | None:
        """The bound Trainer (None before the first event, or outside a Trainer)."""
        return self._trainer_ref() if self._trainer_ref is not None else None

    def _ensure_trainer(self) -> None:
        if self.trainer is None:
            found = _find_trainer(self)
            if found is not None:
                self.bind(found)

    @property
    def history(self):
        """All probes of this run so far → pandas DataFrame, one row per (step, layer)."""
        import pandas as pd

        return pd.DataFrame(self._rows)

    # -- events ------------------------------------------------------------------------------------------

    def on_init_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self._ensure_trainer()

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self._ensure_trainer()
        if getattr(args, "fsdp", None):
            raise NotImplementedError("MICallback probes on the main process only; FSDP-sharded parameters "
                                      "need every process in each forward pass")
        self._last_step = None
        self._rows = []
        if state.is_world_process_zero:
            self._load_previous(args, state.global_step)
        self._probe(args, state, kwargs.get("model"), first=True)

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        step = state.global_step
        last = bool(state.max_steps and step >= state.max_steps) or control.should_training_stop
        if step % self.every_n_steps == 0 or last:
            self._probe(args, state, kwargs.get("model"))

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self._probe(args, state, kwargs.get("model"))  # no-op when the last step was probed already

    # -- the probe ---------------------------------------------------------------------------------------

    def _probe(self, args, state, model: torch.nn.Module | None, first: bool = False) -> None:  # noqa: ANN001
        step = int(state.global_step)
        if not state.is_world_process_zero or step == self._last_step:
            return
        if model is None:
            raise ValueError("MICallback got no model from the Trainer")
        t0 = time.perf_counter()
        try:
            with preserved_training_state(model):
                frame = layer_information(model, self.tokenizer, self.texts, layers=self.layers,
                                          **self.explain_options)
        except Exception:
            if first:
                raise
            logger.warning("MICallback: the probe at step %d failed; skipped", step, exc_info=True)
            return
        seconds = time.perf_counter() - t0
        self._last_step = step
        epoch = float(state.epoch) if state.epoch is not None else 0.0
        frame.insert(0, "step", step)
        frame.insert(1, "epoch", epoch)
        frame["seconds"] = seconds
        self._rows.extend(frame.to_dict("records"))
        self._write(args)
        logs: dict[str, float] = {}
        for row in frame.itertuples():
            key = _layer_key(row.layer)
            logs[f"mi/{key}/information"] = float(row.information)
            logs[f"mi/{key}/conditional_entropy"] = float(row.conditional_entropy)
        logs["mi/seconds"] = seconds
        self._log(state, logs)

    def _log(self, state, logs: dict[str, float]) -> None:  # noqa: ANN001
        trainer = self.trainer
        if trainer is None:
            if not self._warned_no_trainer:
                logger.warning("MICallback: no Trainer found; values go to state.log_history only, not to reporters")
                self._warned_no_trainer = True
            entry = dict(logs)
            if state.epoch is not None:
                entry["epoch"] = state.epoch
            state.log_history.append({**entry, "step": state.global_step})
            return
        trainer.log(dict(logs))

    # -- files -------------------------------------------------------------------------------------------

    def _path(self, args, name: str | os.PathLike | None) -> Path | None:  # noqa: ANN001
        if name is None:
            return None
        path = Path(name)
        return path if path.is_absolute() else Path(getattr(args, "output_dir", None) or ".") / path

    def _load_previous(self, args, global_step: int) -> None:  # noqa: ANN001
        """Resumed training: keep the earlier run's rows before ``global_step``."""
        path = self._path(args, self.history_file)
        if global_step > 0 and path is not None and path.exists():
            old = load_history(path)
            self._rows = old[old["step"] < global_step].to_dict("records")

    def _write(self, args) -> None:  # noqa: ANN001
        history = self.history
        path = self._path(args, self.history_file)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            history.to_csv(tmp, index=False)
            os.replace(tmp, path)  # readers never see a half-written file
        plot = self._path(args, self.plot_file)
        if plot is not None:
            name = self.run_name or getattr(args, "run_name", None) or "run"
            plot_training_information({name: history}, plot)


# ----------------------------------------------------------------------------------------------------
# reading and drawing histories
# ----------------------------------------------------------------------------------------------------

def load_history(source: Any):
    """A history as a DataFrame: from a frame, a CSV written by :class:`MICallback`, or a run's output
    directory holding ``mi_history.csv``.  Checks the key columns; sorted by step and layer."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        if path.is_dir():
            path = path / HISTORY_FILE
        if not path.exists():
            raise FileNotFoundError(f"no history at {path}")
        frame = pd.read_csv(path)
    missing = [c for c in ("step", "layer") if c not in frame.columns]
    if missing:
        raise ValueError(f"a history needs the columns step and layer; missing {missing}")
    if "layer_index" not in frame.columns:
        order = {name: i for i, name in enumerate(dict.fromkeys(frame["layer"]))}
        frame["layer_index"] = frame["layer"].map(order)
    return frame.sort_values(["step", "layer_index"], kind="stable").reset_index(drop=True)


def plot_training_information(
    histories: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    value: str = "information",
    ncols: int | None = None,
    band: bool = False,
):
    """Information per layer over training steps (paper Fig. 9): one panel per run, one line per layer.

    histories: {model name: DataFrame, CSV path or output directory} (see :func:`load_history`).
    value: ``information`` (nats/dim, default), ``conditional_entropy`` (nats/sentence) or
    ``conditional_entropy_per_dim``.  band: shade ± one standard error over the probe texts (``information``
    only; off by default: the same texts are probed at every step, so changes are far surer than the
    spread between texts suggests).  ncols: panels per row.  path: where to save the PNG.
    Returns the matplotlib ``Figure`` (built without pyplot, so it is safe to call from a training loop).
    """
    from .plotting import TRAINING_VALUES, training_information

    if value not in TRAINING_VALUES:
        raise ValueError(f"value must be one of {sorted(TRAINING_VALUES)}, got {value!r}")
    if not histories:
        raise ValueError("histories is empty: nothing to plot")
    fig = training_information({str(name): load_history(h) for name, h in histories.items()}, value=value,
                               ncols=ncols, band=band)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=130)
    return fig
