"""The project document: model, assets, directions, tracks and settings (pure Python + numpy).

The document is plain data. Every change goes through an undo command
(``core.edits``); views and renderers read it and evaluate frames from it.
``evaluate(project, t)`` is a pure function of absolute time that returns a
frozen, hashable ``FrameSpec``; ``frame_latent`` turns a spec into the noise
latent the engine decodes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from latent_studio.core.directions import Direction, apply_directions
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import AnchorBlend, Keyframe, evaluate_anchor, evaluate_number
from latent_studio.core.latent_math import slerp

FRAME_RATES: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "24": Fraction(24),
    "25": Fraction(25),
    "30": Fraction(30),
    "50": Fraction(50),
    "60": Fraction(60),
}
UPSCALE_FILTERS = ("lanczos", "nearest")
FIT_MODES = ("fit", "fill", "pad", "stretch")  # how an export places a frame on a canvas of another shape
MIN_SIZE, MAX_SIZE = 16, 8192  # output pixels per side
MAX_DURATION = 3600.0  # seconds: an hour is 216,000 frames at 60 fps; longer is a typo, not a film
MAX_STEPS = 1000
MAX_GUIDANCE = 30.0
MAX_PROMPT_CHARACTERS = 2000
ANCHOR_TRACK = "anchor"
ASSET_KINDS = ("image", "seed", "latent")


class ProjectError(UserError):
    """The project is inconsistent (a missing asset, a bad setting, ...)."""


def new_id() -> str:
    return secrets.token_hex(6)


def check_output_size(width: int, height: int) -> None:
    """An output size the writers can take: within MIN_SIZE..MAX_SIZE a side, and even (video encoders need it)."""
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ProjectError(f"Output size {width}x{height} is outside {MIN_SIZE}..{MAX_SIZE} pixels.")
    if width % 2 or height % 2:
        raise ProjectError(f"Output size {width}x{height} must be even (video encoders need it).")


@dataclass(frozen=True)
class ModelRef:
    spec: str  # bundled name, folder or Hugging Face id
    content_hash: str


@dataclass(frozen=True)
class Settings:
    fps: str = "24"
    duration: float = 4.0  # seconds
    width: int = 256
    height: int = 256
    upscale: str = "lanczos"
    preview_steps: int = 10
    final_steps: int = 50
    # What a text-conditioned model reads with every frame (one conditioning per project). The empty prompt at
    # guidance 1 is the default: the only conditioning under which DDIM inversion is exact.
    prompt: str = ""
    negative_prompt: str = ""
    guidance: float = 1.0
    # The timeline's in and out points (frames, inclusive): what Export renders unless told otherwise.
    # out_frame -1 is "to the last frame", so a change of length keeps a range that was never set.
    in_frame: int = 0
    out_frame: int = -1
    # Export composites each frame back into the photo its face was aligned from (media.paste_back).
    paste_back: bool = False
    # A song or a voice for timing (media.audio): the file (absolute here; saved relative to the project's folder
    # when inside it) and where on the timeline its start plays, in seconds (negative: its first seconds are skipped).
    audio_path: str = ""
    audio_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.fps not in FRAME_RATES:
            raise ProjectError(f"Frame rate {self.fps} is not supported; choose one of {', '.join(FRAME_RATES)}.")
        if not (np.isfinite(self.duration) and 0 < self.duration <= MAX_DURATION):
            raise ProjectError(f"The length must be above 0 and at most {MAX_DURATION:g} seconds, not {self.duration}.")
        check_output_size(self.width, self.height)
        if self.upscale not in UPSCALE_FILTERS:
            raise ProjectError(f"Upscale filter '{self.upscale}' is unknown; choose {' or '.join(UPSCALE_FILTERS)}.")
        for name in ("preview_steps", "final_steps"):
            if not 1 <= getattr(self, name) <= MAX_STEPS:
                raise ProjectError(f"{name.replace('_', ' ')} must be between 1 and {MAX_STEPS}.")
        if not (np.isfinite(self.guidance) and 1.0 <= self.guidance <= MAX_GUIDANCE):
            raise ProjectError(f"The guidance scale must be between 1 and {MAX_GUIDANCE:g}, not {self.guidance}.")
        for name in ("prompt", "negative_prompt"):
            if len(getattr(self, name)) > MAX_PROMPT_CHARACTERS:
                raise ProjectError(f"The {name.replace('_', ' ')} is longer than {MAX_PROMPT_CHARACTERS} characters.")
        if not (np.isfinite(self.audio_offset) and abs(self.audio_offset) <= MAX_DURATION):
            raise ProjectError(f"The audio offset must be within ±{MAX_DURATION:g} seconds, not {self.audio_offset}.")
        if self.in_frame < 0 or self.out_frame < -1 or (self.out_frame != -1 and self.out_frame < self.in_frame):
            raise ProjectError(f"The out point (frame {self.out_frame}) must not come before the in point "
                               f"(frame {self.in_frame}).")

    @property
    def work_range(self) -> tuple[int, int]:
        """The in and out points as frames that exist (first, last): a shortened timeline cuts the range too, and a
        range that now lies wholly past the end is no range (the whole timeline, not its last frame alone)."""
        last = self.frame_count - 1
        if self.in_frame > last:
            return 0, last
        out = last if self.out_frame == -1 else min(self.out_frame, last)
        return self.in_frame, out

    @property
    def has_work_range(self) -> bool:
        """True when in or out points narrow the timeline."""
        return self.work_range != (0, self.frame_count - 1)

    @property
    def conditioned(self) -> bool:
        """True when frames read a prompt, a negative prompt or guidance other than the default."""
        return bool(self.prompt or self.negative_prompt or self.guidance != 1.0)

    @property
    def rate(self) -> Fraction:
        return FRAME_RATES[self.fps]

    @property
    def frame_count(self) -> int:
        return max(1, round(Fraction(self.duration).limit_denominator(10**6) * self.rate))

    def frame_time(self, index: int) -> float:
        rate = self.rate  # exact integer arithmetic, one rounding: frame 24000 of 23.976 fps is exactly 1001 s
        return index * rate.denominator / rate.numerator


@dataclass(eq=False)
class Asset:
    """A latent the project can use as an anchor: an embedded image, a seed, or a made latent."""

    id: str
    kind: str  # "image", "seed" or "latent"
    name: str
    latent: np.ndarray  # float32 (C, H, W)
    source: str = ""  # file name, "seed 42", "a - b + c", ...
    psnr: float | None = None  # reconstruction PSNR of an embedded image
    seed: int | None = None
    thumbnail: bytes | None = None  # PNG: the decoded latent (for an image, its reconstruction)
    metadata: dict[str, str] = field(default_factory=dict)
    original: bytes | None = None  # PNG: the prepared image an embedding was made from (before/after view)
    photo: bytes | None = None  # the whole photo file a face was aligned from, as read (paste-back composites into it)


@dataclass
class StrengthTrack:
    """A direction's strength over time: ``base`` when there are no keyframes."""

    keyframes: tuple[Keyframe, ...] = ()
    base: float = 0.0

    def value_at(self, t: float, times: list[float] | None = None) -> float:
        """The strength at time t: the one place it is computed (``times``: the keys' times, gathered once)."""
        return evaluate_number(self.keyframes, t, times) if self.keyframes else self.base

    @property
    def is_empty(self) -> bool:
        return not self.keyframes and self.base == 0.0


@dataclass(frozen=True, eq=False)
class SavedMap:
    """The last latent map, kept with the project so that it shows again without decoding (app.latent_map)."""

    model_hash: str  # the model it was made with: a map of another model is not shown
    method: str  # pca or umap
    positions: np.ndarray  # (N, 2) float32 in [0, 1]
    seeds: tuple[int | None, ...]  # a sampled face's seed
    asset_ids: tuple[str | None, ...]  # or the project's asset at that point
    atlas: bytes  # PNG: the thumbnails in a grid, row by row, in the points' order


@dataclass
class Project:
    model: ModelRef
    settings: Settings = field(default_factory=Settings)
    assets: dict[str, Asset] = field(default_factory=dict)
    directions: dict[str, Direction] = field(default_factory=dict)
    anchors: tuple[Keyframe, ...] = ()  # values are asset ids
    strengths: dict[str, StrengthTrack] = field(default_factory=dict)  # direction id -> track
    latent_map: SavedMap | None = None  # a cache, not part of the document's edits

    def asset(self, asset_id: str) -> Asset:
        try:
            return self.assets[asset_id]
        except KeyError:
            raise ProjectError(f"The project refers to asset {asset_id}, which it does not contain.") from None

    def direction(self, direction_id: str) -> Direction:
        try:
            return self.directions[direction_id]
        except KeyError:
            raise ProjectError(f"The project refers to direction {direction_id}, which it does not contain.") from None

    def track(self, track_id: str) -> StrengthTrack:
        """A direction's track for reading: an empty one when it has none yet. Reading never stores anything."""
        self.direction(track_id)
        track = self.strengths.get(track_id)
        return track if track is not None else StrengthTrack()

    def editable_track(self, track_id: str) -> StrengthTrack:
        """A direction's track for an edit to change in place (created empty when missing)."""
        self.direction(track_id)
        return self.strengths.setdefault(track_id, StrengthTrack())

    def strength_at(self, direction_id: str, t: float) -> float:
        """A direction's strength at time t (0 for a direction without a track)."""
        track = self.strengths.get(direction_id)
        return track.value_at(t) if track is not None else 0.0


def snapshot(project: Project) -> Project:
    """A copy a worker thread can read while the user keeps editing the original.

    Containers and tracks are copied; latents, vectors and PNG bytes are shared,
    because edits replace them and never write into them.
    """
    return replace(
        project,
        assets={k: replace(a, metadata=dict(a.metadata)) for k, a in project.assets.items()},
        directions=dict(project.directions),  # directions are frozen
        strengths={k: replace(t) for k, t in project.strengths.items()},
    )


@dataclass(frozen=True)
class FrameSpec:
    """Everything that decides one frame's latent; hashable, so it keys the frame cache."""

    anchor: AnchorBlend
    strengths: tuple[tuple[str, float], ...]  # (direction id, strength), non-zero only, sorted by id


class _Timeline:
    """A project's tracks with their keyframe times gathered once, for evaluating many times."""

    def __init__(self, project: Project) -> None:
        if not project.anchors:
            raise ProjectError("The timeline has no anchor: place a face (an asset) on it first.")
        self.anchors = project.anchors
        self.anchor_times = [k.time for k in project.anchors]
        self.tracks = [(d, project.strengths[d]) for d in sorted(project.strengths)]
        self.track_times = [[k.time for k in track.keyframes] for _, track in self.tracks]

    def at(self, t: float) -> FrameSpec:
        strengths = []
        for (direction_id, track), times in zip(self.tracks, self.track_times, strict=True):
            value = track.value_at(t, times)
            if value != 0.0:
                strengths.append((direction_id, value))
        return FrameSpec(evaluate_anchor(self.anchors, t, self.anchor_times), tuple(strengths))


def evaluate(project: Project, t: float) -> FrameSpec:
    """The frame at absolute time t (seconds): a pure function of the document."""
    return _Timeline(project).at(t)


def evaluate_frames(project: Project, frames) -> list[FrameSpec]:
    """``evaluate`` for many frame indices, with each track's keyframe times gathered once, not per frame."""
    timeline = _Timeline(project)
    return [timeline.at(project.settings.frame_time(index)) for index in frames]


def anchor_latent(project: Project, spec: FrameSpec) -> np.ndarray:
    """The frame's latent before any direction: the slerp between its anchors."""
    a = project.asset(spec.anchor.a).latent
    latent = a if spec.anchor.b is None else slerp(a, project.asset(spec.anchor.b).latent, spec.anchor.weight)
    return np.asarray(latent, np.float32)


def frame_latent(project: Project, spec: FrameSpec) -> np.ndarray:
    """Slerp between the anchors, then add the directions, keeping the slerped latent's norm."""
    latent = anchor_latent(project, spec)
    if spec.strengths:
        latent = apply_directions(latent, [(project.direction(d), s) for d, s in spec.strengths])
    return np.asarray(latent, np.float32)


def frame_source(project: Project, spec: FrameSpec) -> tuple[np.ndarray, float] | None:
    """For a frame edited along a direction decoded with source attention: its source (the anchors' blend)
    and the fraction of the steps from which it reads the source (the earliest its directions ask for).

    None for a plain frame: no direction at a non-zero strength asks for it.
    """
    starts = [project.direction(d).source_attention_from for d, _ in spec.strengths]
    starts = [s for s in starts if s is not None]
    return (anchor_latent(project, spec), min(starts)) if starts else None
