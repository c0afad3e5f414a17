"""Training and evaluation batches of rendered heads, each a pure function of (seed, index).

Because a batch depends only on its index, training can resume at any step
with exactly the data it would have seen, and batches can be rendered ahead
in worker processes in any order.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from latent_studio.demo.factors import HeadFactors, sample_factors
from latent_studio.demo.heads import render_batch

TRAIN_STREAM = 0
HELD_OUT_STREAM = 1
# Identities (person seeds) of training renders lie below this; held-out ones above it.
HELD_OUT_IDENTITY_START = 2**31


@dataclass(frozen=True)
class RenderedBatch:
    images: np.ndarray  # uint8 (B, S, S, 3)
    factors: np.ndarray  # float32 (B, F), in FACTORS order
    identities: np.ndarray  # int64 (B,)


def rendered_batch(seed: int, stream: int, index: int, size: int, count: int, supersample: int = 2) -> RenderedBatch:
    rng = np.random.default_rng([seed, stream, index])
    factors: list[HeadFactors] = sample_factors(rng, count)
    low = HELD_OUT_IDENTITY_START if stream == HELD_OUT_STREAM else 0
    identities = rng.integers(low, low + 2**31, count)
    images = render_batch(factors, identities.tolist(), size, supersample)
    return RenderedBatch(images, np.stack([f.as_array() for f in factors]), identities)


EMBEDDER_RENDER_SEED = 991  # renders for the embedding network's training pairs (training stream, never held out)
PICTURE_RENDER_SEED = 77  # renders only its picture loss judges (training stream, never held out)


def render_many(count: int, size: int, workers: int | None = None, seed: int = EMBEDDER_RENDER_SEED,
                chunk: int = 256) -> np.ndarray:
    """``count`` training-stream renders (uint8), rendered in chunks across worker processes."""
    chunks = [(i, min(chunk, count - i * chunk)) for i in range(-(-count // chunk))]
    workers = max(1, (os.cpu_count() or 2) - 1) if workers is None else workers
    if workers <= 1 or len(chunks) == 1:
        parts = [rendered_batch(seed, TRAIN_STREAM, i, size, n).images for i, n in chunks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(rendered_batch, seed, TRAIN_STREAM, i, size, n) for i, n in chunks]
            parts = [f.result().images for f in futures]
    return np.concatenate(parts) if parts else np.zeros((0, size, size, 3), np.uint8)


class Prefetcher:
    """Renders the next batches in worker processes while the current one trains."""

    def __init__(self, seed: int, size: int, count: int, supersample: int, workers: int, depth: int | None = None,
                 cycle: int | None = None) -> None:
        self.args = (seed, TRAIN_STREAM)
        self.cycle = cycle  # batch indices wrap at this (a fixed pool); nothing is rendered ahead past it
        self.size, self.count, self.supersample = size, count, supersample
        self.pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
        self.depth = depth or max(2, 2 * workers)
        self.pending: dict[int, Future] = {}

    def get(self, index: int) -> RenderedBatch:
        if self.pool is None:
            return rendered_batch(*self.args, index, self.size, self.count, self.supersample)
        for ahead in range(index, index + self.depth):
            if self.cycle is not None and ahead >= self.cycle:
                break
            if ahead not in self.pending:
                self.pending[ahead] = self.pool.submit(rendered_batch, *self.args, ahead, self.size, self.count, self.supersample)
        for stale in [k for k in self.pending if k < index]:
            self.pending.pop(stale).cancel()
        return self.pending.pop(index).result()

    def close(self) -> None:
        if self.pool is not None:
            for future in self.pending.values():
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
