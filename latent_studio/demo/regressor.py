"""A small CNN that reads every factor off a toy-head image.

The evaluation uses it as an objective observer: embed a head, push it along
the yaw direction, decode, and ask the regressor what yaw it sees (and whether
anything else drifted). Hues are circular, so they are predicted as (cos, sin).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import UserError
from latent_studio.core.safetensors_header import read_metadata
from latent_studio.demo.data import HELD_OUT_STREAM, TRAIN_STREAM, rendered_batch
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS, denormalise, normalise
from latent_studio.engine.ddim import from_uint8

CIRCULAR = ("hair_hue", "background_hue")


class FactorRegressor(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers, channels = [], 3
        for out in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.GroupNorm(8, out), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU()]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(channels * 16, 256), nn.SiLU(), nn.Linear(256, output_size()))
        self.width = width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        """The 256-d hidden layer: what the Fréchet distance compares (like Inception features in FID)."""
        return self.head[1](self.head[0](self.features(images)))


def output_size() -> int:
    return len(FACTORS) + len(CIRCULAR)


def encode_targets(factors: np.ndarray) -> np.ndarray:
    """Factor values (B, F) to regression targets: [0, 1] per factor, hues replaced by (cos, sin)."""
    normal = normalise(factors)
    columns = []
    for i, name in enumerate(FACTOR_NAMES):
        if name in CIRCULAR:
            angle = 2 * np.pi * factors[:, i]
            columns += [0.5 + 0.5 * np.cos(angle), 0.5 + 0.5 * np.sin(angle)]
        else:
            columns.append(normal[:, i])
    return np.stack(columns, axis=1).astype(np.float32)


def decode_outputs(outputs: np.ndarray) -> np.ndarray:
    """Regression outputs back to factor values (B, F)."""
    values, j = [], 0
    for name in FACTOR_NAMES:
        if name in CIRCULAR:
            angle = np.arctan2(outputs[:, j + 1] - 0.5, outputs[:, j] - 0.5)
            values.append((angle / (2 * np.pi)) % 1.0)
            j += 2
        else:
            values.append(outputs[:, j])
            j += 1
    stacked = np.stack(values, axis=1)
    circular_idx = [FACTOR_NAMES.index(n) for n in CIRCULAR]
    linear = denormalise(stacked)
    linear[:, circular_idx] = stacked[:, circular_idx]
    return linear


def to_input(images: np.ndarray) -> torch.Tensor:
    return from_uint8(torch.from_numpy(np.ascontiguousarray(images)))


@torch.no_grad()
def predict(model: FactorRegressor, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 (B, S, S, 3) images to factor values (B, F)."""
    model.eval()
    outputs = [model(to_input(images[i : i + batch])).numpy() for i in range(0, len(images), batch)]
    return decode_outputs(np.concatenate(outputs))


@torch.no_grad()
def features(model: FactorRegressor, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 (B, S, S, 3) images to their (B, 256) hidden-layer features."""
    model.eval()
    return np.concatenate([model.embedding(to_input(images[i : i + batch])).numpy() for i in range(0, len(images), batch)])


@dataclass(frozen=True)
class RegressorRecipe:
    resolution: int = 64
    width: int = 32
    pool_batches: int = 160  # training pool: this many batches of ``batch`` renders
    batch: int = 64
    steps: int = 3000
    learning_rate: float = 1e-3
    seed: int = 1


def render_pool(recipe: RegressorRecipe, stream: int, batches: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [rendered_batch(recipe.seed, stream, i, recipe.resolution, recipe.batch) for i in range(batches)]
    return np.concatenate([p.images for p in parts]), np.concatenate([p.factors for p in parts])


def train_regressor(recipe: RegressorRecipe, progress: Callable[[int, int, float], None] | None = None) -> tuple[FactorRegressor, dict]:
    """Train on a pool of renders (rendering is slower than a CNN step on a CPU), with flips as augmentation."""
    started = time.perf_counter()
    images, factors = render_pool(recipe, TRAIN_STREAM, recipe.pool_batches)
    targets = torch.from_numpy(encode_targets(factors))
    flipped_targets = torch.from_numpy(encode_targets(_mirror(factors)))
    inputs = to_input(images)
    torch.manual_seed(recipe.seed)
    model = FactorRegressor(recipe.width)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.learning_rate, total_steps=recipe.steps)
    generator = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for step in range(recipe.steps):
        index = torch.randint(0, len(inputs), (recipe.batch,), generator=generator)
        flip = torch.rand(recipe.batch, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], inputs[index].flip(-1), inputs[index])
        y = torch.where(flip[:, None], flipped_targets[index], targets[index])
        loss = torch.mean((model(x) - y) ** 2)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress:
            progress(step + 1, recipe.steps, loss.item())
    return model.eval(), {"seconds": f"{time.perf_counter() - started:.0f}", "pool": str(len(inputs))}


def _mirror(factors: np.ndarray) -> np.ndarray:
    """A horizontally flipped head: yaw and light direction change sign, everything else stays."""
    out = factors.copy()
    for name in ("yaw", "light_angle"):
        out[:, FACTOR_NAMES.index(name)] *= -1
    return out


def factor_difference(name: str, difference: np.ndarray) -> np.ndarray:
    """``difference`` of readings of factor ``name``; hues wrap around the circle to the shorter way."""
    return (difference + 0.5) % 1.0 - 0.5 if name in CIRCULAR else difference


def held_out_report(model: FactorRegressor, recipe: RegressorRecipe, batches: int = 16) -> dict[str, dict[str, float]]:
    """Mean absolute error (factor units and % of range) and R^2 per factor on held-out identities."""
    images, truth = render_pool(recipe, HELD_OUT_STREAM, batches)
    predicted = predict(model, images)
    report = {}
    for i, factor in enumerate(FACTORS):
        error = factor_difference(factor.name, predicted[:, i] - truth[:, i])
        mae = float(np.mean(np.abs(error)))
        r2 = 1.0 - float(np.mean(error**2)) / float(np.var(truth[:, i]))
        report[factor.name] = {"mae": mae, "mae_percent": 100 * mae / factor.span, "r2": r2}
    return report


def save_regressor(path: Path, model: FactorRegressor, info: dict[str, str]) -> None:
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "latent-studio.factor-regressor", "width": str(model.width),
                "factors": json.dumps(list(FACTOR_NAMES)), "info": json.dumps(info, sort_keys=True)}
    atomic_write_bytes(Path(path), st_save(weights, metadata=metadata))


def load_regressor(path: Path) -> FactorRegressor:
    path = Path(path)
    try:
        data = path.read_bytes()
        metadata = read_metadata(data)
        if json.loads(metadata["factors"]) != list(FACTOR_NAMES):
            raise UserError(f"The factor regressor {path} predicts other factors than this version of Latent Studio renders.")
        model = FactorRegressor(int(metadata["width"]))
        model.load_state_dict(st_load(data))
    except UserError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise UserError(f"The factor regressor {path} cannot be read ({exc}).") from exc
    return model.eval()
