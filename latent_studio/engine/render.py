"""Project frames to pixels: frame specs -> latents -> batched DDIM decode, through a frame cache.

Frames are rendered in timeline order, a batch at a time: the batch's specs
are evaluated, frames already in the cache are reused, the distinct missing
specs are decoded together, and the frames come out in order. Nothing but
the current batch is held, so a ten-minute render needs no more memory than
a short one. On a CUDA out-of-memory error the batch size halves and the
batch is tried again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Iterator

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.project import FrameSpec, Project, evaluate_frames, frame_latent
from latent_studio.engine.decode import DEFAULT_BATCH, decode
from latent_studio.engine.models import LoadedModel

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class FrameCache:
    """Least-recently-used frames keyed by (spec, model hash, steps, bit depth), bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._frames: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable) -> np.ndarray | None:
        frame = self._frames.get(key)
        if frame is None:
            self.misses += 1
            return None
        self._frames.move_to_end(key)
        self.hits += 1
        return frame

    def put(self, key: Hashable, frame: np.ndarray) -> None:
        if frame.nbytes > self.max_bytes:
            return
        frame = frame.copy()
        frame.setflags(write=False)  # shared by every reader: nobody may paint on it
        old = self._frames.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        self._frames[key] = frame
        self.bytes += frame.nbytes
        while self.bytes > self.max_bytes:
            _, evicted = self._frames.popitem(last=False)
            self.bytes -= evicted.nbytes

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self.bytes = 0


@dataclass(frozen=True)
class RenderProgress:
    done: int  # frames delivered
    total: int
    decoded: int  # frames that needed the model (the rest came from the cache or repeated a spec)


Progress = Callable[[RenderProgress], None]


def cache_key(spec: FrameSpec, model: LoadedModel, steps: int, bit_depth: int = 8) -> Hashable:
    return (spec, model.content_hash, steps, bit_depth)


def render_frames(
    model: LoadedModel,
    project: Project,
    frames: Iterable[int],
    steps: int,
    *,
    cache: FrameCache | None = None,
    batch_size: int = DEFAULT_BATCH,
    bit_depth: int = 8,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[int, FrameSpec, np.ndarray]]:
    """Yield (frame index, spec, image) in the order given; each image is (H, W, 3) uint8 or uint16."""
    indices = list(frames)
    done = decoded = 0
    for start in range(0, len(indices), max(1, batch_size)):
        check(cancel)
        chunk = indices[start : start + max(1, batch_size)]
        specs = evaluate_frames(project, chunk)
        images: dict[FrameSpec, np.ndarray] = {}
        missing: list[FrameSpec] = []
        for spec in specs:
            if spec in images or spec in missing:
                continue
            hit = cache.get(cache_key(spec, model, steps, bit_depth)) if cache is not None else None
            if hit is not None:
                images[spec] = hit
            else:
                missing.append(spec)
        if missing:
            latents = np.stack([frame_latent(project, spec) for spec in missing])
            pixels, batch_size = _decode_adapting(model, latents, steps, batch_size, bit_depth, cancel)
            for spec, image in zip(missing, pixels, strict=True):
                images[spec] = image
                if cache is not None:
                    cache.put(cache_key(spec, model, steps, bit_depth), image)
            decoded += len(missing)
        for index, spec in zip(chunk, specs, strict=True):
            check(cancel)
            yield index, spec, images[spec]
            done += 1
            if progress:
                progress(RenderProgress(done, len(indices), decoded))


def _decode_adapting(model, latents, steps, batch_size, bit_depth, cancel) -> tuple[np.ndarray, int]:
    """Decode, halving the batch on a CUDA out-of-memory error; returns the batch size that worked."""
    while True:
        try:
            return decode(model, latents, steps, batch_size=batch_size, bit_depth=bit_depth, cancel=cancel), batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            torch.cuda.empty_cache()
