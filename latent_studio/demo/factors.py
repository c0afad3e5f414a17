"""The factors of variation of a toy head, with their ranges.

Every render is a pure function of (factors, identity seed), so every image
comes with its ground truth: that is what lets the evaluation measure how well
a direction controls what it claims to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Factor:
    name: str
    low: float
    high: float
    binary: bool = False

    @property
    def span(self) -> float:
        return self.high - self.low


FACTORS: tuple[Factor, ...] = (
    Factor("yaw", -60.0, 60.0),  # degrees, positive turns the face to the viewer's right
    Factor("pitch", -20.0, 20.0),  # degrees, positive looks up
    Factor("smile", -1.0, 1.0),  # frown .. broad smile
    Factor("eye_open", 0.0, 1.0),  # closed .. wide open
    Factor("glasses", 0.0, 1.0, binary=True),
    Factor("hair_hue", 0.0, 1.0),  # hue circle
    Factor("hair_length", 0.0, 1.0),  # cropped .. shoulder length
    Factor("skin_tone", 0.0, 1.0),  # light .. dark
    Factor("background_hue", 0.0, 1.0),
    Factor("light_angle", -70.0, 70.0),  # degrees of azimuth, positive lights from the viewer's right
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)
_LOW = np.array([f.low for f in FACTORS], np.float32)
_SPAN = np.array([f.span for f in FACTORS], np.float32)


@dataclass(frozen=True)
class HeadFactors:
    yaw: float = 0.0
    pitch: float = 0.0
    smile: float = 0.3
    eye_open: float = 0.8
    glasses: float = 0.0
    hair_hue: float = 0.08
    hair_length: float = 0.3
    skin_tone: float = 0.3
    background_hue: float = 0.55
    light_angle: float = -30.0

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FACTOR_NAMES], dtype=np.float32)

    @classmethod
    def from_array(cls, values) -> "HeadFactors":
        return cls(**{name: float(v) for name, v in zip(FACTOR_NAMES, values, strict=True)})

    def replace(self, **changes) -> "HeadFactors":
        data = asdict(self)
        data.update(changes)
        return HeadFactors(**data)


assert tuple(f.name for f in fields(HeadFactors)) == FACTOR_NAMES


def sample_factors(rng: np.random.Generator, count: int) -> list[HeadFactors]:
    """Independent uniform factors (glasses on for half the heads)."""
    columns = []
    for factor in FACTORS:
        if factor.binary:
            columns.append((rng.random(count) < 0.5).astype(np.float64))
        else:
            columns.append(rng.uniform(factor.low, factor.high, count))
    return [HeadFactors.from_array(row) for row in np.stack(columns, axis=1)]


def normalise(values: np.ndarray) -> np.ndarray:
    """Factor values (..., F) to [0, 1] per factor, for regression targets and drift in % of range."""
    return (np.asarray(values, np.float32) - _LOW) / _SPAN


def denormalise(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float32) * _SPAN + _LOW
