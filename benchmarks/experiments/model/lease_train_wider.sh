#!/bin/bash
# Issue 13, for a GPU lease (the device tool; .whl carried with the diffusers and importlib_metadata wheels): train
# toy-heads with a wider first level (32,32,64,128) and self-attention at 16x16 as well as 8x8 on fresh renders, measure it beside the shipped model, and bring
# back what a later lease or this CPU needs, in at most 8 files of at most 16 MiB (a lease returns no more):
#   v6.tgz (the exported model), softness.txt, ckpt.part.* (the resumable checkpoint, split).
# Resume in a later lease: carry a folder holding the parts, `cat parts > /tmp/w/checkpoint.safetensors`, and run the
# same command (it resumes the checkpoint in /tmp/w). Why attention at 16x16 too: issue 14's head turn reads its source's
# attention, and at 8x8 alone that is coarser than the glasses it loses.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p /tmp/w && [ -d .whl/ckpt ] && cat .whl/ckpt/ckpt.part.* > /tmp/w/checkpoint.safetensors
timeout 470 python3 -m latent_studio train-demo --recipe cpu --channels ${CHANNELS:-32,32,64,128} \
  --attention-levels ${ATTENTION:-2,3} --device cuda --pool-batches 0 \
  --batch 64 --steps ${STEPS:-3200} --workers 15 --time-limit ${SECONDS_LIMIT:-400} --export --work /tmp/w --out /tmp/v6 2>&1 \
  | grep -v "^step [0-9]*[1-9]50/" | tee $OUT/train.txt
tar czf $OUT/v6.tgz -C /tmp v6
split -b 15M /tmp/w/checkpoint.safetensors $OUT/ckpt.part.
N=1000 DEVICE=cuda timeout 100 python3 benchmarks/experiments/model/softness.py resources/models/toy-heads /tmp/v6 2>&1 \
  | grep -v -i warn | tee $OUT/softness.txt
ls -la $OUT
