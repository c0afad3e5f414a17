"""Seeds to noise latents, identical on every machine and device.

Noise is drawn with numpy's PCG64 on the host, never on the accelerator, so
seed 7 is the same face on a laptop CPU, a CUDA GPU and a render farm.
"""

from __future__ import annotations

import numpy as np

MAX_SEED = 2**63 - 1


def noise_latent(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    return np.random.default_rng(int(seed)).standard_normal(shape, dtype=np.float32)
