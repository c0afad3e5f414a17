#!/bin/bash
# Issue 19, for a GPU lease (the device tool; .whl carried with the diffusers and importlib_metadata wheels): what
# lifts the 256x256 celebahq-shaped UNet from 33% of the bf16 matrix rate (compiled with CUDA graphs, batch 32, on
# an H200) toward the 40% goal. Each row is one bench_roofline run (plain loop, eager engine and the compiled
# engine, side by side, with the matrix rate measured in the same run); about 7 minutes in all:
#   1. as measured before (reduce-overhead, batch 32), the baseline of this lease
#   2. the same with cuDNN's benchmark mode (convolution algorithms timed per shape; set nowhere in the engine yet)
#   3. the same at batch 64
#   4. max-autotune (Inductor times its own kernels and convolution choices; compiling is long: last, cut by timeout)
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
bench="python3 benchmarks/bench_roofline.py --models celebahq --device cuda --dtype bfloat16"
timeout 110 $bench --batch 32 --compile reduce-overhead 2>&1 | grep -v -i warn | tee $OUT/1_base.txt
timeout 110 $bench --batch 32 --compile reduce-overhead --cudnn-benchmark 2>&1 | grep -v -i warn | tee $OUT/2_cudnn.txt
timeout 110 $bench --batch 64 --compile reduce-overhead --cudnn-benchmark 2>&1 | grep -v -i warn | tee $OUT/3_cudnn_b64.txt
timeout 200 $bench --batch 32 --compile max-autotune --cudnn-benchmark 2>&1 | grep -v -i warn | tee $OUT/4_autotune.txt
