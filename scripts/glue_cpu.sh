#!/usr/bin/env bash
# The whole CPU reproduction of the paper's Sec. 5: train every task × family of configs/*_cpu.yaml, then
# (hooks) sweep and report (run reports, docs/data summaries, docs/results.md).  Resumable: rerun the same
# command after an interruption; a finished training
# (scores.json present) is skipped, an interrupted one continues from its newest checkpoint (--resume true).
#
#   bash scripts/glue_cpu.sh [train|sweep|report|all]      (default: all)
#
# Environment: GLUE_RUNS  output root (default runs/cpu; each run goes to $GLUE_RUNS/<task>/<family>/)
#              PY         python with mi_explain installed (default .venv/bin/python)
#              CHAINS     trainings side by side, one torch thread each (default 2: measured here, two 1-thread
#                         runs beat one 2-thread run on a shared 2-core CPU); 1 runs everything in sequence
# Progress: $GLUE_RUNS/logs/<task>_<family>.log (tqdm bar with ETA) and $GLUE_RUNS/<task>/<family>/curve.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
STEP="${1:-all}"
ROOT="${GLUE_RUNS:-runs/cpu}"
PY="${PY:-.venv/bin/python}"
CHAINS="${CHAINS:-2}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg TRANSFORMERS_VERBOSITY=error OMP_NUM_THREADS=1
mkdir -p "$ROOT/logs"

# Two chains ordered by value (the BERT row first); each is about equally long on this CPU.
CHAIN_A=(sst2:bert qqp:bert qqp:cnn qqp:transformer qqp:lstm)
CHAIN_B=(cola:bert sst2:cnn sst2:transformer sst2:lstm cola:cnn cola:transformer cola:lstm)

train_one() {  # task:family
  local task=${1%%:*} family=${1##*:}
  local log="$ROOT/logs/${task}_${family}.log"
  if [[ -f "$ROOT/$task/$family/scores.json" ]]; then
    echo "[$(date -u +%FT%TZ)] skip $task/$family (scores.json exists)"; return 0
  fi
  echo "[$(date -u +%FT%TZ)] train $task/$family → $ROOT/$task/$family (log $log)"
  if "$PY" scripts/glue_train.py --config "configs/${task}_${family}_cpu.yaml" --output_root "$ROOT" \
      --resume true >>"$log" 2>&1; then
    echo "[$(date -u +%FT%TZ)] done $task/$family: $(grep -o 'accuracy [0-9.]*\|matthews_correlation [-0-9.]*' "$log" | tail -1)"
  else
    echo "[$(date -u +%FT%TZ)] FAILED train $task/$family (see $log)"
  fi
}

sweep_one() {  # task:family — hook: the sweep on the trained model (resumes a killed sweep by itself)
  local task=${1%%:*} family=${1##*:}
  [[ -f "$ROOT/$task/$family/scores.json" ]] || { echo "skip sweep $task/$family (not trained)"; return 0; }
  echo "[$(date -u +%FT%TZ)] sweep $task/$family"
  "$PY" scripts/glue_sweep.py --config "configs/${task}_${family}_cpu.yaml" --output_root "$ROOT" \
    >>"$ROOT/logs/${task}_${family}_sweep.log" 2>&1 || echo "FAILED sweep $task/$family"
}

run_chain() {  # step item...
  local step=$1; shift
  for item in "$@"; do "${step}_one" "$item"; done
}

if [[ "$STEP" == train || "$STEP" == all ]]; then
  if [[ "$CHAINS" == 1 ]]; then
    run_chain train "${CHAIN_A[@]}" "${CHAIN_B[@]}"
  else
    run_chain train "${CHAIN_A[@]}" & run_chain train "${CHAIN_B[@]}" & wait
  fi
fi
if [[ "$STEP" == sweep || "$STEP" == all ]]; then
  run_chain sweep "${CHAIN_A[@]}" "${CHAIN_B[@]}"
fi
if [[ "$STEP" == report || "$STEP" == all ]]; then
  # reports under $ROOT, then the compact summaries (docs/data) and docs/results.md recomputed from them alone
  # Fig. 9 from the SST-2 trainings that ran with probe_texts > 0 (their mi_history.csv)
  FIG9=(); compgen -G "$ROOT/sst2/*/mi_history.csv" >/dev/null && FIG9=(--fig9 "$ROOT/sst2")
  { "$PY" -m mi_explain.glue.report "$ROOT" &&
    "$PY" -m mi_explain.glue.report --export "$ROOT" --data docs/data --img docs/img --tag cpu "${FIG9[@]}" &&
    "$PY" -m mi_explain.glue.report --from-data docs/data --out docs/results.md --img docs/img --tag cpu; } ||
    echo "FAILED report"
fi
echo "[$(date -u +%FT%TZ)] $STEP finished: $ROOT"
