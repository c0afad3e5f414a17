"""Project frames to pixels: frame specs -> latents -> batched DDIM decode, through a frame cache.

The one frame pipeline: the preview, export, the CLI and the self-test all
ask ``render_frames`` and get ``Frame`` values back. Frames are rendered in
timeline order, a batch at a time: the batch's specs are evaluated and their
latents built, frames already in the cache are reused (the key is the
latent's content, not ids, so it cannot go stale when a project, asset or
direction changes), the distinct missing latents are decoded together, and
the frames come out in order. Nothing but
the current batch is held, so a ten-minute render needs no more memory than
a short one. On a CUDA out-of-memory error the batch size halves and the
batch is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.latent_math import latent_digest
from latent_studio.core.lru import BytesLRU
from latent_studio.core.project import FrameSpec, Project, evaluate_frames, frame_latent, frame_source
from latent_studio.engine.conditioning import conditioning_key, guided, project_conditioning
from latent_studio.engine.decode import DEFAULT_BATCH, decode
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.source_attention import decode_attending

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class FrameCache(BytesLRU):
    """Least-recently-used frames keyed by ``cache_key`` (what decides the pixels), bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(max_bytes)

    def put(self, key: Hashable, frame: np.ndarray) -> None:
        frame = frame.copy()
        frame.setflags(write=False)  # shared by every reader: nobody may paint on it
        super().put(key, frame, frame.nbytes)


@dataclass(frozen=True)
class RenderProgress:
    done: int  # frames delivered
    total: int
    decoded: int  # frames that needed the model (the rest came from the cache or repeated a spec)


Progress = Callable[[RenderProgress], None]


@dataclass(frozen=True, eq=False)
class Frame:
    """One rendered frame, as every consumer of the pipeline receives it."""

    index: int  # frame number on the timeline
    time: float  # seconds
    spec: FrameSpec  # what the document says at that time
    image: np.ndarray  # (H, W, 3) uint8 or uint16, read-only
    steps: int  # DDIM steps it was decoded with
    cached: bool  # True when no decode was needed (from the cache, or a repeat of an earlier spec)
    source_attention_from: float | None = None  # set when it was decoded reading its source's attention


Source = tuple[np.ndarray, float]  # (unedited latent, fraction of the steps from which the edit reads it)


def cache_key(latent: np.ndarray, model: LoadedModel, steps: int, bit_depth: int = 8,
              source: Source | None = None, conditioning: Any = None) -> Hashable:
    """Everything that decides a decoded frame: ``(frame_identity(...), steps, bit_depth)``."""
    return frame_identity(latent, model, source, conditioning), steps, bit_depth


def frame_identity(latent: np.ndarray, model: LoadedModel, source: Source | None = None,
                   conditioning: Any = None) -> Hashable:
    """What decides a frame apart from its steps and bit depth: the latent's bytes, the weights, where and how
    they run, for an edit decoded with source attention the source's bytes and from when it is read, and the
    project's prompt, negative prompt and guidance. The cache's status (which frames are final, which drafts)
    reads the steps beside it."""
    read = None if source is None else (latent_digest(source[0]), source[1])
    return latent_digest(latent), model.content_hash, model.placement.numerics, read, conditioning_key(conditioning)


def _latent_and_source(project: Project, spec: FrameSpec, conditioning: Any) -> tuple[np.ndarray, Source | None]:
    """A spec's latent, and the source it is decoded beside (none under guidance: guided edits decode plainly)."""
    return frame_latent(project, spec), None if guided(conditioning) else frame_source(project, spec)


def frame_identities(model: LoadedModel, project: Project, frames: Iterable[int],
                     cancel: CancelToken | None = None) -> list[Hashable]:
    """Each frame's ``frame_identity``, without decoding anything (repeated specs computed once)."""
    conditioning = project_conditioning(model, project.settings)
    indices = list(frames)
    identities: dict[FrameSpec, Hashable] = {}
    out = []
    for spec in evaluate_frames(project, indices):
        if spec not in identities:
            check(cancel)
            latent, source = _latent_and_source(project, spec, conditioning)
            identities[spec] = frame_identity(latent, model, source, conditioning)
        out.append(identities[spec])
    return out


def cached_image(model: LoadedModel, project: Project, frame: int, steps: int, cache: FrameCache,
                 bit_depth: int = 8) -> np.ndarray | None:
    """The frame as the cache holds it at ``steps``, or None; never decodes."""
    return cache.get((frame_identities(model, project, [frame])[0], steps, bit_depth))


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
    step_progress: Callable[[int, int], None] | None = None,
) -> Iterator[Frame]:
    """Yield the frames in the order given. ``step_progress(done, total)``: DDIM steps of each batch's decode
    (a preview's refinement shows them)."""
    indices = list(frames)
    conditioning = project_conditioning(model, project.settings)
    done = decoded = start = 0
    while start < len(indices):  # the batch may halve on the way (out of memory): step by what was taken
        check(cancel)
        chunk = indices[start : start + max(1, batch_size)]
        start += len(chunk)
        specs = evaluate_frames(project, chunk)
        images: dict[FrameSpec, np.ndarray] = {}
        sources: dict[FrameSpec, Source | None] = {}
        missing: list[tuple[FrameSpec, np.ndarray, Hashable]] = []
        for spec in dict.fromkeys(specs):  # each distinct spec once, in order
            latent, sources[spec] = _latent_and_source(project, spec, conditioning)
            key = cache_key(latent, model, steps, bit_depth, sources[spec], conditioning)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                images[spec] = hit
            else:
                missing.append((spec, latent, key))
        fresh: set[FrameSpec] = set()
        if missing:
            work = [(latent, sources[spec]) for spec, latent, _ in missing]
            pixels, batch_size = _decode_adapting(model, work, steps, batch_size, bit_depth, conditioning, cancel,
                                                  step_progress)
            for (spec, _, key), image in zip(missing, pixels, strict=True):
                image.setflags(write=False)
                images[spec] = image
                fresh.add(spec)
                if cache is not None:
                    cache.put(key, image)
            decoded += len(missing)
        for index, spec in zip(chunk, specs, strict=True):
            check(cancel)
            source = sources[spec]
            yield Frame(index, project.settings.frame_time(index), spec, images[spec], steps, spec not in fresh,
                        None if source is None else source[1])
            fresh.discard(spec)  # a repeat of this spec later in the chunk needed no decode
            done += 1
            if progress:
                progress(RenderProgress(done, len(indices), decoded))


def _decode_adapting(model, work: list[tuple[np.ndarray, Source | None]], steps, batch_size, bit_depth,
                     conditioning, cancel, step_progress=None) -> tuple[list[np.ndarray], int]:
    """Decode, halving the batch on a CUDA out-of-memory error; returns the batch size that worked."""
    while True:
        try:
            return _decode_all(model, work, steps, batch_size, bit_depth, conditioning, cancel,
                               step_progress), batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            torch.cuda.empty_cache()


def _decode_all(model, work: list[tuple[np.ndarray, Source | None]], steps, batch_size, bit_depth,
                conditioning, cancel, step_progress=None) -> list[np.ndarray]:
    """Plain latents decoded together; edits with a source decoded beside their sources, grouped by start.
    A draft pass (``DRAFT_PASS``) decodes every latent plainly: the draft decoder reads no source."""
    images: list[np.ndarray | None] = [None] * len(work)
    if steps == DRAFT_PASS:
        work = [(latent, None) for latent, _ in work]
    plain = [i for i, (_, source) in enumerate(work) if source is None]
    if plain:
        pixels = decode(model, np.stack([work[i][0] for i in plain]), steps, batch_size=batch_size,
                        bit_depth=bit_depth, conditioning=conditioning, cancel=cancel, progress=step_progress)
        for i, image in zip(plain, pixels, strict=True):
            images[i] = image
    for start in dict.fromkeys(source[1] for _, source in work if source is not None):
        edits = [i for i, (_, source) in enumerate(work) if source is not None and source[1] == start]
        digests = {i: latent_digest(work[i][1][0]) for i in edits}
        distinct = list(dict.fromkeys(digests.values()))
        first = {digest: next(i for i in edits if digests[i] == digest) for digest in distinct}
        pixels = decode_attending(model, np.stack([work[i][0] for i in edits]),
                                  np.stack([work[first[d]][1][0] for d in distinct]),
                                  [distinct.index(digests[i]) for i in edits], start, steps,
                                  batch_size=batch_size, bit_depth=bit_depth, conditioning=conditioning, cancel=cancel,
                                  progress=step_progress)
        for i, image in zip(edits, pixels, strict=True):
            images[i] = image
    return images
