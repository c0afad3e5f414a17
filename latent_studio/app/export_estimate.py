"""How long an export will take and how much disk it will use, said before it starts.

Sizes come from bytes per pixel measured on the bundled examples by
benchmarks/bench_export_size.py, at the model's size and at 1920x1080
(upscaled frames compress better per pixel), interpolated on the logarithm
of the frame's pixel count. Time comes from the decode speed this machine
showed in the preview; frames already in the cache at the export's steps
cost nothing. Both are estimates and are shown as "about".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# (format, quality or "-") -> bytes per pixel at 256x256 and at 1920x1080: the mean of the two examples, 24 frames
# each at 50 steps (`python benchmarks/bench_export_size.py`, toy-heads v4; the examples differ by 10-30%)
BYTES_PER_PIXEL: dict[tuple[str, str], tuple[float, float]] = {
    ("mp4", "high"): (0.0154, 0.0054),
    ("mp4", "standard"): (0.0102, 0.0033),
    ("mp4", "small"): (0.0060, 0.0017),
    ("mp4-h265", "high"): (0.0107, 0.0017),
    ("mp4-h265", "standard"): (0.0068, 0.0009),
    ("mp4-h265", "small"): (0.0048, 0.0005),
    ("prores", "-"): (0.5574, 0.1645),
    ("prores4444", "-"): (0.7330, 0.2291),
    ("webm", "high"): (0.0092, 0.0014),
    ("webm", "standard"): (0.0059, 0.0008),
    ("webm", "small"): (0.0038, 0.0005),
    ("gif", "-"): (0.4097, 0.1772),
    ("png", "-"): (0.6002, 0.1527),
    ("png16", "-"): (5.3949, 2.8554),
}
MEASURED_PIXELS = (256 * 256, 1920 * 1080)


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None until this machine's speed is known
    bytes: int | None  # None for a format without a measurement

    def describe(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"about {describe_seconds(self.seconds)}")
        if self.bytes is not None:
            parts.append(f"about {describe_bytes(self.bytes)}")
        return " and ".join(parts) if parts else "unknown until a frame has been previewed"


def bytes_per_pixel(format_key: str, quality: str, pixels: int) -> float | None:
    measured = BYTES_PER_PIXEL.get((format_key, quality)) or BYTES_PER_PIXEL.get((format_key, "-"))
    if measured is None:
        return None
    small, large = measured
    low, high = (math.log(p) for p in MEASURED_PIXELS)
    share = min(1.0, max(0.0, (math.log(max(1, pixels)) - low) / (high - low)))
    return math.exp(math.log(small) + share * (math.log(large) - math.log(small)))


def estimate(format_key: str, quality: str, size: tuple[int, int], frames: int, frames_to_decode: int,
             steps: int, seconds_per_step: float | None) -> Estimate:
    """The export of ``frames`` frames at ``size``, of which ``frames_to_decode`` are not in the cache."""
    pixels = size[0] * size[1]
    per_pixel = bytes_per_pixel(format_key, quality, pixels)
    size_bytes = None if per_pixel is None else int(per_pixel * pixels * frames)
    seconds = None if seconds_per_step is None else seconds_per_step * steps * frames_to_decode
    return Estimate(seconds, size_bytes)


def describe_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def describe_bytes(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}" if count < 10 * scale else f"{count / scale:.0f} {unit}"
    return f"{count} bytes"
