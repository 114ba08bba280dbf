#!/usr/bin/env bash
# The GPU measurements of one device session, run from the project root on a machine with
# PyTorch but without this project installed or DVC (hence PYTHONPATH=src).  Results go to $OUT.
# In order of priority, each under its own time limit, about 9 minutes in all: a session has
# 15 minutes of device time, and the machine's start counts.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks/results}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
# issue 18: every variant's paper-scale training step (bf16, the default) and generation at 256 px:
# images/s and peak GPU memory; these rows are what `t2igan plan` reads for its measured times
timeout 150 python3 benchmarks/throughput.py --scales paper --steps 10 --out $OUT/gpu-throughput-paper.json
# issue 18: scoring's path at 256 px on the GPU (images/s, peak host RSS and GPU memory)
timeout 90 python3 benchmarks/score_memory.py --images 2933 --device cuda --out $OUT/gpu-score-memory-256.json
# issue 18: the smoke preset end to end on CUDA, every default stage in dvc.yaml's order (written
# after each stage, so a stop at the time limit keeps the stages done)
timeout 240 python3 benchmarks/smoke_graph.py --work /tmp/t2igan-smoke --device cuda \
    --out $OUT/gpu-smoke-stages.json | tail -45
# then, if time is left: torch.compile on the paper step, and AttnGAN's bf16 against fp32
timeout 60 python3 benchmarks/throughput.py --scales paper --variants attngan --steps 10 --compile \
    --out $OUT/gpu-throughput-paper-compile.json
