"""Every change to a project, as an undo command that holds ids and values, never objects.

Keyframes are addressed by (track id, time): times are unique on a track.
The anchor track's id is ``ANCHOR_TRACK``; a strength track's id is its
direction's id.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any

from latent_studio.core.directions import Direction
from latent_studio.core.keyframes import Handle, Interpolation, Keyframe, KeyframeError, check_pace
from latent_studio.core.project import ANCHOR_TRACK, Asset, Project, ProjectError, Settings

# The parts of a project an edit can change; each command names its own in ``parts``, so views redraw only what changed.
ASSETS = "assets"
DIRECTIONS = "directions"
TRACKS = "tracks"  # the anchor track and the strength tracks
SETTINGS = "settings"
ALL_PARTS = frozenset({ASSETS, DIRECTIONS, TRACKS, SETTINGS})


def changed_parts(command) -> frozenset[str]:
    """What an edit (applied, undone or redone) changed; everything for a command that does not say."""
    return frozenset(getattr(command, "parts", ALL_PARTS))


def changed_assets(command) -> frozenset[str]:
    """The ids of the assets an edit added, removed or changed."""
    if isinstance(command, Batch):
        return frozenset().union(*(changed_assets(c) for c in command.commands))
    if isinstance(command, AddAsset):
        return frozenset({command.asset.id})
    asset_id = getattr(command, "asset_id", None)
    return frozenset({asset_id}) if asset_id else frozenset()


def track_keyframes(project: Project, track_id: str) -> tuple[Keyframe, ...]:
    return project.anchors if track_id == ANCHOR_TRACK else project.track(track_id).keyframes


def set_track_keyframes(project: Project, track_id: str, keyframes: tuple[Keyframe, ...]) -> None:
    if track_id == ANCHOR_TRACK:
        project.anchors = keyframes
    else:
        project.editable_track(track_id).keyframes = keyframes


def find_keyframe(keyframes: tuple[Keyframe, ...], time: float) -> int:
    for i, key in enumerate(keyframes):
        if key.time == time:
            return i
    raise KeyframeError(f"no keyframe at {time:g} s")


def _insert(keyframes: tuple[Keyframe, ...], key: Keyframe) -> tuple[Keyframe, ...]:
    times = [k.time for k in keyframes]
    if key.time in times:
        raise KeyframeError(f"there is already a keyframe at {key.time:g} s")
    i = bisect.bisect_left(times, key.time)
    return keyframes[:i] + (key,) + keyframes[i:]


def _check_time(project: Project, time: float) -> None:
    if not 0.0 <= time <= project.settings.duration:
        raise KeyframeError(f"{time:g} s is outside the timeline (0 to {project.settings.duration:g} s)")


@dataclass
class AddKeyframe:
    parts = frozenset({TRACKS})  # not a field: what it changes

    track: str
    keyframe: Keyframe
    label: str = "Add keyframe"
    gesture: str | None = None  # never merges

    def apply(self, project: Project) -> None:
        _check_time(project, self.keyframe.time)
        if self.track == ANCHOR_TRACK:
            project.asset(str(self.keyframe.value))
        set_track_keyframes(project, self.track, _insert(track_keyframes(project, self.track), self.keyframe))

    def revert(self, project: Project) -> None:
        keys = track_keyframes(project, self.track)
        i = find_keyframe(keys, self.keyframe.time)
        set_track_keyframes(project, self.track, keys[:i] + keys[i + 1 :])

    def merge(self, later) -> bool:
        return False


@dataclass
class RemoveKeyframe:
    parts = frozenset({TRACKS})  # not a field: what it changes

    track: str
    time: float
    label: str = "Delete keyframe"
    gesture: str | None = None
    removed: Keyframe | None = None

    def apply(self, project: Project) -> None:
        keys = track_keyframes(project, self.track)
        i = find_keyframe(keys, self.time)
        self.removed = keys[i]
        set_track_keyframes(project, self.track, keys[:i] + keys[i + 1 :])

    def revert(self, project: Project) -> None:
        assert self.removed is not None
        set_track_keyframes(project, self.track, _insert(track_keyframes(project, self.track), self.removed))

    def merge(self, later) -> bool:
        return False


@dataclass
class ChangeKeyframe:
    """Move a keyframe in time and/or change its value, interpolation or handles; drags merge."""

    parts = frozenset({TRACKS})  # not a field: what it changes

    track: str
    time: float
    changes: dict[str, Any]  # Keyframe fields: time, value, interpolation, in_handle, out_handle, pace
    label: str = "Edit keyframe"
    gesture: str | None = None
    before: Keyframe | None = None
    after: Keyframe | None = None

    def apply(self, project: Project) -> None:
        keys = track_keyframes(project, self.track)
        i = find_keyframe(keys, self.time)
        self.before = self.before or keys[i]
        changes = dict(self.changes)
        if "interpolation" in changes:
            changes["interpolation"] = Interpolation(changes["interpolation"])
        for name in ("in_handle", "out_handle"):
            if isinstance(changes.get(name), (tuple, list)):
                changes[name] = Handle(*changes[name])
        if "pace" in changes:
            changes["pace"] = tuple(float(v) for v in changes["pace"])
            check_pace(changes["pace"])
        self.after = replace(keys[i], **changes)
        _check_time(project, self.after.time)
        if self.track == ANCHOR_TRACK:
            project.asset(str(self.after.value))
        rest = keys[:i] + keys[i + 1 :]
        set_track_keyframes(project, self.track, _insert(rest, self.after))

    def revert(self, project: Project) -> None:
        assert self.before is not None and self.after is not None
        keys = track_keyframes(project, self.track)
        i = find_keyframe(keys, self.after.time)
        set_track_keyframes(project, self.track, _insert(keys[:i] + keys[i + 1 :], self.before))

    def merge(self, later) -> bool:
        if not isinstance(later, ChangeKeyframe) or later.track != self.track or self.after is None:
            return False
        if later.before is None or later.before.time != self.after.time:
            return False
        self.after = later.after
        self.changes = {**self.changes, **later.changes}
        return True


@dataclass
class SetBaseStrength:
    """A direction's strength where its track has no keyframes (a slider drag merges into one step)."""

    parts = frozenset({TRACKS})  # not a field: what it changes

    direction: str
    value: float
    label: str = "Set strength"
    gesture: str | None = None
    previous: float | None = None

    def apply(self, project: Project) -> None:
        track = project.editable_track(self.direction)
        if self.previous is None:
            self.previous = track.base
        track.base = float(self.value)

    def revert(self, project: Project) -> None:
        project.editable_track(self.direction).base = float(self.previous or 0.0)

    def merge(self, later) -> bool:
        if isinstance(later, SetBaseStrength) and later.direction == self.direction:
            self.value = later.value
            return True
        return False


@dataclass
class SetStrengthAt:
    """What a direction slider does at the playhead, as one command a whole drag merges into.

    A track without keyframes changes its base value; a track with keyframes
    gets its keyframe at ``time`` changed, or a new one there (the way an
    animated property behaves in a compositor).
    """

    parts = frozenset({TRACKS})  # not a field: what it changes

    direction: str
    time: float
    value: float
    label: str = "Set strength"
    gesture: str | None = None
    before: tuple[tuple[Keyframe, ...], float] | None = None

    def apply(self, project: Project) -> None:
        track = project.editable_track(self.direction)
        if self.before is None:
            self.before = (track.keyframes, track.base)
        keys, base = self.before
        value = float(self.value)
        if not keys:
            track.keyframes, track.base = (), value
            return
        _check_time(project, self.time)
        times = [k.time for k in keys]
        if self.time in times:
            i = times.index(self.time)
            track.keyframes = keys[:i] + (replace(keys[i], value=value),) + keys[i + 1 :]
        else:
            track.keyframes = _insert(keys, Keyframe(self.time, value, keys[max(0, bisect.bisect_left(times, self.time) - 1)].interpolation))
        track.base = base

    def revert(self, project: Project) -> None:
        assert self.before is not None
        track = project.editable_track(self.direction)
        track.keyframes, track.base = self.before

    def merge(self, later) -> bool:
        if isinstance(later, SetStrengthAt) and later.direction == self.direction and later.time == self.time:
            self.value = later.value
            return True
        return False


@dataclass
class AddAsset:
    parts = frozenset({ASSETS})  # not a field: what it changes

    asset: Asset
    label: str = "Add asset"
    gesture: str | None = None

    def apply(self, project: Project) -> None:
        if self.asset.id in project.assets:
            raise ProjectError(f"Asset id {self.asset.id} is already in use.")
        project.assets[self.asset.id] = self.asset

    def revert(self, project: Project) -> None:
        del project.assets[self.asset.id]

    def merge(self, later) -> bool:
        return False


@dataclass
class RemoveAsset:
    """Remove an asset and every anchor keyframe that names it (undo brings both back)."""

    parts = frozenset({ASSETS, TRACKS})  # not a field: what it changes

    asset_id: str
    label: str = "Remove asset"
    gesture: str | None = None
    removed: Asset | None = None
    anchors_before: tuple[Keyframe, ...] = ()

    def apply(self, project: Project) -> None:
        self.removed = project.asset(self.asset_id)
        self.anchors_before = project.anchors
        project.anchors = tuple(k for k in project.anchors if k.value != self.asset_id)
        del project.assets[self.asset_id]

    def revert(self, project: Project) -> None:
        assert self.removed is not None
        project.assets[self.asset_id] = self.removed
        project.anchors = self.anchors_before

    def merge(self, later) -> bool:
        return False


@dataclass
class RenameAsset:
    parts = frozenset({ASSETS})  # not a field: what it changes

    asset_id: str
    name: str
    label: str = "Rename asset"
    gesture: str | None = None
    previous: str = ""

    def apply(self, project: Project) -> None:
        asset = project.asset(self.asset_id)
        self.previous = self.previous or asset.name
        asset.name = self.name

    def revert(self, project: Project) -> None:
        project.asset(self.asset_id).name = self.previous

    def merge(self, later) -> bool:
        return False


@dataclass
class AddDirection:
    parts = frozenset({DIRECTIONS, TRACKS})  # not a field: what it changes

    direction: Direction
    label: str = "Add direction"
    gesture: str | None = None

    def apply(self, project: Project) -> None:
        if self.direction.id in project.directions:
            raise ProjectError(f"Direction id {self.direction.id} is already in use.")
        project.directions[self.direction.id] = self.direction

    def revert(self, project: Project) -> None:
        del project.directions[self.direction.id]
        project.strengths.pop(self.direction.id, None)

    def merge(self, later) -> bool:
        return False


@dataclass
class RemoveDirection:
    parts = frozenset({DIRECTIONS, TRACKS})  # not a field: what it changes

    direction_id: str
    label: str = "Remove direction"
    gesture: str | None = None
    removed: Direction | None = None
    track: Any = None

    def apply(self, project: Project) -> None:
        self.removed = project.direction(self.direction_id)
        self.track = project.strengths.pop(self.direction_id, None)
        del project.directions[self.direction_id]

    def revert(self, project: Project) -> None:
        assert self.removed is not None
        project.directions[self.direction_id] = self.removed
        if self.track is not None:
            project.strengths[self.direction_id] = self.track

    def merge(self, later) -> bool:
        return False


@dataclass
class ReplaceDirections:
    """Directions swapped for others with the same ids (a model's refit directions): slider tracks stay."""

    parts = frozenset({DIRECTIONS})  # not a field: what it changes

    directions: list[Direction]
    label: str = "Update directions"
    gesture: str | None = None
    previous: list[Direction] = field(default_factory=list)

    def apply(self, project: Project) -> None:
        missing = [d.name for d in self.directions if d.id not in project.directions]
        if missing:
            raise ProjectError(f"The project has no direction {', '.join(missing)} to update.")
        self.previous = [project.directions[d.id] for d in self.directions]
        for direction in self.directions:
            project.directions[direction.id] = direction

    def revert(self, project: Project) -> None:
        for direction in self.previous:
            project.directions[direction.id] = direction

    def merge(self, later) -> bool:
        return False


@dataclass
class ChangeSettings:
    parts = frozenset({SETTINGS})  # not a field: what it changes

    changes: dict[str, Any]
    label: str = "Change settings"
    gesture: str | None = None
    previous: Settings | None = field(default=None)

    def apply(self, project: Project) -> None:
        self.previous = self.previous or project.settings
        project.settings = replace(project.settings, **self.changes)

    def revert(self, project: Project) -> None:
        assert self.previous is not None
        project.settings = self.previous

    def merge(self, later) -> bool:
        if isinstance(later, ChangeSettings):
            self.changes = {**self.changes, **later.changes}
            return True
        return False


@dataclass
class Batch:
    """Several commands as one undo step (deleting a selection); all or nothing."""

    commands: list
    label: str = "Edit"
    gesture: str | None = None

    @property
    def parts(self) -> frozenset[str]:
        return frozenset().union(*(changed_parts(c) for c in self.commands))

    def apply(self, project: Project) -> None:
        done = []
        try:
            for command in self.commands:
                command.apply(project)
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.revert(project)
            raise

    def revert(self, project: Project) -> None:
        for command in reversed(self.commands):
            command.revert(project)

    def merge(self, later) -> bool:
        return False
