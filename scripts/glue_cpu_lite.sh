#!/usr/bin/env bash
# The CPU-sized real runs recorded in docs/glue.md (archive): the *_cpu.yaml configs with smaller training
# subsets and sweeps, so that all three tasks × four families fit in about an hour on 2 cores.
# Two chains run side by side, one thread each: SST-2 on one core, CoLA then QQP on the other.
# Usage: bash scripts/glue_cpu_lite.sh [OUTPUT_ROOT]   (default runs/cpu_lite); rerun to resume sweeps.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-runs/cpu_lite}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg TRANSFORMERS_VERBOSITY=error OMP_NUM_THREADS=1
PY=.venv/bin/python

run() {  # task family train_samples sentences [extra overrides...]
  local task=$1 family=$2 ntrain=$3 nsent=$4; shift 4
  local cfg="configs/${task}_${family}_cpu.yaml"
  local common=(--config "$cfg" --output_root "$ROOT" --max_train_samples "$ntrain" "$@")
  echo "[$(date +%T)] train $task/$family ($ntrain texts)"
  $PY scripts/glue_train.py "${common[@]}" --num_train_epochs 1 || echo "FAILED train $task/$family"
  echo "[$(date +%T)] sweep $task/$family ($nsent texts)"
  $PY scripts/glue_sweep.py "${common[@]}" --n_sentences "$nsent" --n_reference 200 --no_progress \
    || echo "FAILED sweep $task/$family"
}

(
  run sst2 bert 2000 32
  run sst2 cnn 8000 32
  run sst2 transformer 8000 32
  run sst2 lstm 4000 16
) > "/tmp/glue_cpu_lite_sst2.log" 2>&1 &
(
  run cola bert 1500 16
  run cola cnn 4000 16
  run cola transformer 4000 16
  run cola lstm 2000 8
  run qqp bert 1500 16 --max_eval_samples 2000
  run qqp cnn 6000 16 --max_eval_samples 2000
  run qqp transformer 6000 16 --max_eval_samples 2000
  run qqp lstm 3000 8 --max_eval_samples 2000
) > "/tmp/glue_cpu_lite_cola_qqp.log" 2>&1 &
wait
$PY -m mi_explain.glue.report "$ROOT" || echo "FAILED report"
echo "[$(date +%T)] done: $ROOT/report.md"
