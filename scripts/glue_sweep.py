#!/usr/bin/env python
"""Explain sampled validation texts of a trained model at every layer; figures and reports
(mi_explain.glue.sweep).  Shards over processes with accelerate; resumes after a kill.

    python scripts/glue_sweep.py --config configs/sst2_bert_cpu.yaml
    accelerate launch --multi_gpu --num_processes 2 scripts/glue_sweep.py --config configs/sst2_bert_cpu.yaml
"""

from mi_explain.glue.sweep import main

if __name__ == "__main__":
    main()
