"""CUDA decode agrees with the CPU; runs only where a CUDA GPU is present (skipped, never faked)."""

import numpy as np
import pytest
import torch

from latent_studio.core.metrics import psnr
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_cuda_float32_matches_cpu(trained_model_dir):
    cpu = load_model(str(trained_model_dir), device="cpu")
    gpu = load_model(str(trained_model_dir), device="cuda", dtype="float32")
    z = np.stack([noise_latent(s, cpu.latent_shape) for s in range(4)])
    assert np.abs(decode(cpu, z, 10).astype(int) - decode(gpu, z, 10).astype(int)).max() <= 2


def test_cuda_half_precision_is_close_to_float32(trained_model_dir):
    full = load_model(str(trained_model_dir), device="cuda", dtype="float32")
    half = load_model(str(trained_model_dir), device="cuda")  # auto: bf16 or fp16
    z = noise_latent(3, full.latent_shape)
    assert psnr(decode(full, z, 10)[0], decode(half, z, 10)[0]) > 25.0
