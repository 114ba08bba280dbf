#!/usr/bin/env bash
# The GPU measurements of one device session, run from the project root on a machine with
# PyTorch but without this project installed (hence PYTHONPATH=src).  Results go to $OUT.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-benchmarks/results}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
# the default synthetic data set (quick scale: 64 px crops); ~15 s on 16 cores.  A script file, not
# a heredoc: the generator's spawned workers re-import the main module, and stdin has none.
timeout 120 python3 benchmarks/make_quick_data.py 2>&1 | tail -1
B=benchmarks/damsm_budget.py
timeout 60 python3 $B --time-steps 10 --set backbone=inception_v3 image_size=256 cnn_input=299 dropout=0.5 \
    --out $OUT/gpu-damsm-paper-step.json | tail -6
timeout 30 python3 $B --time-steps 20 --out $OUT/gpu-damsm-quick-step.json | tail -6
timeout 230 python3 $B --epochs 16 48 --set workers=6 --out $OUT/gpu-damsm-curve-quick.json | grep '^{"epochs'
timeout 150 python3 $B --epochs 16 48 --set workers=6 cnn_width=32 cnn_input=64 \
    --out $OUT/gpu-damsm-curve-w32-in64.json | grep '^{"epochs'
timeout 100 python3 benchmarks/throughput.py --scales quick paper --steps 20 --out $OUT/gpu-throughput.json
# issue 9: AttnGAN at paper scale, bf16 autocast against fp32 over the first 10 steps, images/s, peak memory
timeout 200 python3 benchmarks/throughput.py --scales paper --variants attngan --steps 20 --precision-steps 10 \
    --out $OUT/gpu-attngan-paper-precision.json
# issue 17: every variant's paper-scale step with the new convolutions (the transposed up-conv, the
# flash self-attention), without and with torch.compile; generation images/s at 256 px
timeout 150 python3 benchmarks/throughput.py --scales paper --steps 10 --out $OUT/gpu-throughput-paper-issue17.json
timeout 200 python3 benchmarks/throughput.py --scales paper --steps 10 --compile \
    --out $OUT/gpu-throughput-paper-compile-issue17.json
# issue 18: scoring's path at 256 px on the GPU (images/s, peak host RSS and GPU memory); the paper-scale
# throughput rows above are what `t2igan plan` reads for its measured times and GPU memory
timeout 240 python3 benchmarks/score_memory.py --images 2933 --device cuda --out $OUT/gpu-score-memory-256.json
