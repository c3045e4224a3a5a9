#!/usr/bin/env python
"""Train or fine-tune one model on one GLUE task, evaluate it, save it (mi_explain.glue.train).

    python scripts/glue_train.py --config configs/sst2_bert_cpu.yaml [--num_train_epochs 2 ...]
"""

from mi_explain.glue.train import main

if __name__ == "__main__":
    main()
