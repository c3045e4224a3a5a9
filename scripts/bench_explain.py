"""Benchmark ``mi_explain.explain`` against the authors' σ algorithm: see :mod:`mi_explain.benchmark`.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_explain.py --models bert-4x256 minilm --sentences 3 2 \\
        --targets tokens cls --out docs/bench_cpu.json
"""

from mi_explain.benchmark import main

if __name__ == "__main__":
    main()
