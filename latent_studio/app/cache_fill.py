"""Idle time fills the frame cache with final frames, and the timeline learns which frames are cached.

The After Effects / Blender way: while the worker has nothing else to do,
the frames of the document as it is now are rendered at its final steps,
nearest the playhead first (forward, then wrapping round), a few at a time so
that a preview or a job waiting behind them is never held up for long (they
cancel the batch at its next step). Frames are found in the cache by content
(``engine.render.frame_identity``), so a change to one keyframe leaves every
frame it does not touch cached. After each turn the filler reports, for every
frame, whether the cache holds its final version, a draft, or nothing.

Runs on the executor's worker thread (``InferenceExecutor.set_idle_work``);
the GUI thread only hands in targets. No Qt.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Hashable

from latent_studio.core.cancel import CancelToken
from latent_studio.core.project import Project

FINAL = "final"
DRAFT = "draft"
BATCH = 4  # frames per turn: a waiting preview is held up by at most one step of this many
SHARE_OF_CACHE = 0.5  # fill at most this share of the cache, so filling never evicts what it just made


@dataclass(frozen=True)
class CacheStatus:
    """What the cache holds for each frame of one version of the document: FINAL, DRAFT or None."""

    generation: int  # the target it describes (the GUI drops statuses of older targets)
    frames: tuple[str | None, ...]

    def ranges(self, kind: str) -> list[tuple[int, int]]:
        """Runs of consecutive frames of ``kind`` as (first, last), for drawing."""
        runs: list[tuple[int, int]] = []
        for index, state in enumerate(self.frames):
            if state == kind:
                if runs and runs[-1][1] == index - 1:
                    runs[-1] = (runs[-1][0], index)
                else:
                    runs.append((index, index))
        return runs


@dataclass(frozen=True)
class _Target:
    generation: int
    project: Project
    playhead: int
    fill: bool  # render missing frames, or only report the status


class CacheFiller:
    def __init__(self, executor, on_status: Callable[[CacheStatus], None]) -> None:
        self._executor = executor
        self._on_status = on_status
        self._lock = threading.Lock()
        self._target: _Target | None = None
        self._generation = 0
        self._identities: tuple[int, object, list[Hashable]] | None = None  # (generation, model, one per frame)
        self._reported: CacheStatus | None = None

    def set_target(self, project: Project | None, playhead: int, fill: bool = True) -> int:
        """The document as it is now (a snapshot the caller gives up) and where the playhead is; returns its generation.

        ``project`` None: nothing to fill (no anchor yet). The worker picks it up when it is next idle."""
        with self._lock:
            self._generation += 1
            self._target = None if project is None else _Target(self._generation, project, playhead, fill)
            generation = self._generation
        self._executor.wake_idle_work()
        return generation

    def move_playhead(self, playhead: int) -> None:
        """Fill from here next (the document is unchanged)."""
        with self._lock:
            if self._target is not None:
                self._target = _Target(self._target.generation, self._target.project, playhead, self._target.fill)
        self._executor.wake_idle_work()

    def __call__(self, cancel: CancelToken) -> bool:
        """One turn on the worker: report the status, render the next few missing frames; True while more remain."""
        with self._lock:
            target = self._target
        model = self._executor.model
        if target is None or model is None:
            return False
        from latent_studio.engine.render import frame_identities, render_frames  # torch: imported on the worker

        if self._identities is None or self._identities[:2] != (target.generation, model):
            frames = range(target.project.settings.frame_count)
            self._identities = (target.generation, model, frame_identities(model, target.project, frames, cancel))
        identities = self._identities[2]
        final_steps = target.project.settings.final_steps
        status = self._status(target.generation, identities, final_steps)
        if status != self._reported:
            self._reported = status
            self._on_status(status)
        missing = self._next_missing(status, target.playhead)
        if not target.fill or not missing:
            return False
        cache = self._executor.cache
        for _ in render_frames(model, target.project, missing, final_steps, cache=cache, batch_size=len(missing),
                               cancel=cancel):
            pass
        held = set(cache.keys())
        return any((identities[frame], final_steps, 8) in held for frame in missing)  # else the cache cannot hold them

    def _status(self, generation: int, identities: list[Hashable], final_steps: int) -> CacheStatus:
        held: dict[Hashable, bool] = {}  # identity -> True when its final version is held
        for key in self._executor.cache.keys():
            identity, steps, bit_depth = key
            if bit_depth == 8:
                held[identity] = held.get(identity, False) or steps == final_steps
        return CacheStatus(generation, tuple(None if i not in held else FINAL if held[i] else DRAFT for i in identities))

    def _next_missing(self, status: CacheStatus, playhead: int) -> list[int]:
        """The next frames without their final version, from the playhead forward, within the cache's share."""
        count = len(status.frames)
        cache = self._executor.cache
        frame_bytes = max(1, cache.bytes // len(cache)) if len(cache) else 1
        budget = int(cache.max_bytes * SHARE_OF_CACHE // frame_bytes)
        order = [(playhead + offset) % count for offset in range(min(count, budget))]
        return [frame for frame in order if status.frames[frame] != FINAL][:BATCH]
