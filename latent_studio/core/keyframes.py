"""Keyframes on absolute time and their evaluation: a pure function of t.

A track is a sorted tuple of keyframes; the interpolation stored on a
keyframe governs the segment that *starts* at it (as in Blender's F-curves
and Olive). Before the first keyframe and after the last the value is held
(constant extrapolation). Bezier segments use the keyframes' handles, kept
valid so that the curve never runs backwards in time; the ease modes are
fixed cubic-free curves on the segment's progress.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from enum import Enum
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Interpolation(str, Enum):
    HOLD = "hold"
    LINEAR = "linear"
    BEZIER = "bezier"
    EASE_IN = "ease_in"
    EASE_OUT = "ease_out"
    EASE_IN_OUT = "ease_in_out"


class KeyframeError(ValueError):
    """Keyframes out of order, at the same time, or otherwise invalid."""


@dataclass(frozen=True)
class Handle:
    """A bezier handle as an offset from its keyframe: ``dt`` seconds, ``dv`` value units.

    ``dt`` is a fraction-free time offset; it is clamped at evaluation so the
    curve stays a function of time (see ``_bezier_controls``).
    """

    dt: float = 0.0
    dv: float = 0.0


DEFAULT_HANDLE_FRACTION = 1.0 / 3.0  # a handle of a third of the segment: straight line when dv is 0


@dataclass(frozen=True)
class Keyframe(Generic[Value]):
    time: float
    value: Value
    interpolation: Interpolation = Interpolation.LINEAR
    # Bezier handles: into this keyframe (dt <= 0) and out of it (dt >= 0). None means "a third of the segment, flat".
    in_handle: Handle | None = None
    out_handle: Handle | None = None
    # Even pace (anchor track): the blend weights at which the morph of the segment that starts here has made
    # 0, 1/K, ..., 1 of its measured change (``engine.pace``). Empty: the blend follows the easing as it is.
    pace: tuple[float, ...] = ()


def check_pace(pace: tuple[float, ...]) -> None:
    """A pace table runs from 0 to 1 without going back, with at least two entries."""
    if not pace:
        return
    if len(pace) < 2 or pace[0] != 0.0 or pace[-1] != 1.0 or any(b < a for a, b in zip(pace, pace[1:], strict=False)):
        raise KeyframeError("an even-pace table must rise from 0 to 1 without going back")


def retime(progress: float, pace: tuple[float, ...]) -> float:
    """The blend weight at which the morph has made ``progress`` of its whole change (DiffMorpher's inverse of
    the cumulative distance), read off the pace table by linear interpolation."""
    if not pace:
        return progress
    position = min(max(progress, 0.0), 1.0) * (len(pace) - 1)
    i = min(int(position), len(pace) - 2)
    return pace[i] + (position - i) * (pace[i + 1] - pace[i])


def ease(interpolation: Interpolation, u: float) -> float:
    """Progress u in [0, 1] through a segment to the fraction of the change applied."""
    if interpolation is Interpolation.HOLD:
        return 0.0 if u < 1.0 else 1.0
    if interpolation is Interpolation.LINEAR:
        return u
    if interpolation is Interpolation.EASE_IN:
        return u * u
    if interpolation is Interpolation.EASE_OUT:
        return 1.0 - (1.0 - u) * (1.0 - u)
    if interpolation is Interpolation.EASE_IN_OUT:
        return u * u * (3.0 - 2.0 * u)
    raise ValueError(f"{interpolation} is not a fixed ease curve")


def check_order(keyframes: tuple[Keyframe, ...]) -> None:
    for earlier, later in zip(keyframes, keyframes[1:], strict=False):
        if later.time == earlier.time:
            raise KeyframeError(f"two keyframes at the same time ({later.time:g} s)")
        if later.time < earlier.time:
            raise KeyframeError(f"keyframes out of order ({earlier.time:g} s before {later.time:g} s)")


def segment(keyframes: tuple[Keyframe, ...], times: list[float], t: float) -> tuple[int, float]:
    """(index of the keyframe whose segment holds t, progress u in [0, 1]); extrapolation clamps."""
    if t <= times[0]:
        return 0, 0.0
    if t >= times[-1]:
        return len(times) - 1, 0.0
    i = bisect.bisect_right(times, t) - 1
    return i, (t - times[i]) / (times[i + 1] - times[i])


def evaluate_number(keyframes: tuple[Keyframe, ...], t: float, times: list[float] | None = None) -> float:
    """The value of a numeric track at absolute time t."""
    if not keyframes:
        raise KeyframeError("a track needs at least one keyframe")
    times = times if times is not None else [k.time for k in keyframes]
    i, u = segment(keyframes, times, t)
    start = keyframes[i]
    if u == 0.0:
        return float(start.value)
    end = keyframes[i + 1]
    v0, v1 = float(start.value), float(end.value)
    if start.interpolation is Interpolation.BEZIER:
        return _bezier_value(start, end, t)
    return v0 + (v1 - v0) * ease(start.interpolation, u)


def _bezier_controls(start: Keyframe, end: Keyframe) -> tuple[tuple[float, float], ...]:
    """The four control points in (time, value); handle times clamped into the segment (Blender's rule)."""
    span = end.time - start.time
    out_h = start.out_handle or Handle(span * DEFAULT_HANDLE_FRACTION, 0.0)
    in_h = end.in_handle or Handle(-span * DEFAULT_HANDLE_FRACTION, 0.0)
    out_dt = min(max(out_h.dt, 0.0), span)
    in_dt = max(min(in_h.dt, 0.0), -span)
    return (
        (start.time, float(start.value)),
        (start.time + out_dt, float(start.value) + out_h.dv),
        (end.time + in_dt, float(end.value) + in_h.dv),
        (end.time, float(end.value)),
    )


def _bezier_value(start: Keyframe, end: Keyframe, t: float) -> float:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = _bezier_controls(start, end)
    # With handle times inside the segment, x(s) is monotonic in s, so x(s) = t has one root.
    # Newton's method from the linear guess, kept inside a shrinking bracket (bisection when it strays).
    low, high = 0.0, 1.0
    s = (t - x0) / (x3 - x0)
    for _ in range(60):
        error = _cubic(x0, x1, x2, x3, s) - t
        if abs(error) < 1e-12 * max(1.0, abs(x3)):
            break
        if error < 0:
            low = s
        else:
            high = s
        slope = _cubic_slope(x0, x1, x2, x3, s)
        s = s - error / slope if slope > 0 else 0.5 * (low + high)
        if not low < s < high:
            s = 0.5 * (low + high)
    return _cubic(y0, y1, y2, y3, s)


def _cubic_slope(p0: float, p1: float, p2: float, p3: float, s: float) -> float:
    r = 1.0 - s
    return 3 * r * r * (p1 - p0) + 6 * r * s * (p2 - p1) + 3 * s * s * (p3 - p2)


def _cubic(p0: float, p1: float, p2: float, p3: float, s: float) -> float:
    r = 1.0 - s
    return r * r * r * p0 + 3 * r * r * s * p1 + 3 * r * s * s * p2 + s * s * s * p3


def valid_handles(start: Keyframe, end: Keyframe) -> tuple[Handle, Handle]:
    """The handles as evaluation uses them (clamped), for the UI to draw and store back."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = _bezier_controls(start, end)
    return Handle(x1 - x0, y1 - y0), Handle(x2 - x3, y2 - y3)


@dataclass(frozen=True)
class AnchorBlend:
    """Where the anchor track is at time t: slerp from ``a`` to ``b`` by ``weight`` (b is None when held)."""

    a: str
    b: str | None
    weight: float


def evaluate_anchor(keyframes: tuple[Keyframe, ...], t: float, times: list[float] | None = None) -> AnchorBlend:
    """Anchors name assets; consecutive anchors are joined by slerp with the segment's easing."""
    if not keyframes:
        raise KeyframeError("the anchor track needs at least one keyframe")
    times = times if times is not None else [k.time for k in keyframes]
    i, u = segment(keyframes, times, t)
    start = keyframes[i]
    if u == 0.0 or start.interpolation is Interpolation.HOLD:
        return AnchorBlend(str(start.value), None, 0.0)
    end = keyframes[i + 1]
    if end.value == start.value:
        return AnchorBlend(str(start.value), None, 0.0)
    if start.interpolation is Interpolation.BEZIER:  # handles in weight units: 0 at start, 1 at end
        weight = _bezier_value(replace(start, value=0.0), replace(end, value=1.0), t)
    else:
        weight = ease(start.interpolation, u)
    weight = retime(min(max(weight, 0.0), 1.0), start.pace)  # the easing now shapes the change, not the weight
    return AnchorBlend(str(start.value), str(end.value), weight)
