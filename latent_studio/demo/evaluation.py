"""`latent-studio evaluate-demo`: objective figures for the bundled model, read by the factor regressor.

Three questions, each answered on held-out identities the model never saw:
do samples look like renders (Fréchet distance of regressor features, beside
the same distance between two render sets), can a render be embedded
faithfully (PSNR of the reconstruction), and does each shipped direction move
its own factor monotonically while leaving the others alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import Direction, apply_directions
from latent_studio.core.metrics import frechet_distance, latent_stats, psnr
from latent_studio.core.seeds import noise_latent
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.direction_fitting import DIRECTION_NAMES, read_along
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS
from latent_studio.demo.regressor import FactorRegressor, factor_difference, features
from latent_studio.engine.ddim import from_uint8
from latent_studio.engine.decode import decode
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.embedding import embed
from latent_studio.engine.inversion import DEFAULT_FIXED_POINT_ITERATIONS
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.source_attention import decode_edits
from latent_studio.media.images import save_png

# Which factor each shipped direction claims to control.
DIRECTION_FACTORS = {name: factor for factor, name in DIRECTION_NAMES.items()}  # "Head turn" -> "yaw", ...
# The issues' quality bars, checked in the report so the model card says plainly what passes.
FD_BAR = 0.6  # samples' Fréchet distance to renders (the render-vs-render floor is about 0.23)
PSNR_BAR_DB = 38.0  # inversion of held-out renders
IN_DOMAIN_SECONDS_BAR = 10.0  # one render embedded by the default command on the 2-core development CPU
NETWORK_PSNR_BAR_DB = 28.0  # the one-pass embedding network
NETWORK_BATCHED_SECONDS_BAR = 0.020  # per image, batched
DRIFT_BAR_PERCENT = 15.0


@dataclass(frozen=True)
class DirectionBars:
    """Issue 14's bars for one direction: |r| of its own factor, the span it must reach, tighter drift limits."""

    pearson: float
    span: float | None = None  # in the factor's units
    drift_limits: tuple[tuple[str, float], ...] = ()  # factors held tighter than DRIFT_BAR_PERCENT

    def drift_limit(self, factor: str) -> float:
        return dict(self.drift_limits).get(factor, DRIFT_BAR_PERCENT)


DIRECTION_BARS = {
    "yaw": DirectionBars(0.97, span=90.0, drift_limits=(("glasses", 10.0),)),  # over -60..+60 degrees
    "smile": DirectionBars(0.97, span=0.8),
    "glasses": DirectionBars(0.95),
    "hair_hue": DirectionBars(0.95),
}
EVALUATION_SEED = 77  # held-out renders for the evaluation; the floor's second set uses EVALUATION_SEED + 1
Log = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    samples: int = 1000
    embeddings: int = 100
    heads: int = 50
    strengths: int = 9
    steps: int = 50
    batch: int = 32
    grain_renders: int = 1000  # held-out renders whose grainiest sets the bar for a grainy sample


FULL = Sizes()
REDUCED = Sizes(samples=12, embeddings=4, heads=3, strengths=3, steps=4, batch=8, grain_renders=16)


@dataclass
class DirectionTable:
    name: str
    factor: str
    strengths: np.ndarray  # (K,)
    means: np.ndarray  # (K, F) mean regressor reading over the heads at each strength
    pearson_r: float  # strength vs the mean reading of the direction's own factor
    span: float  # max - min of that mean reading, in the factor's units
    monotonic: bool
    drift_curves: dict[str, np.ndarray]  # other factors: signed mean change from strength 0 at each strength, % of range
    # The glasses reading's mean |change| from strength 0 (% of its range) among heads that wear glasses and among
    # those that do not: the signed drift above lets bare heads that grow glasses cancel heads that lose theirs.
    glasses_by_group: dict[str, np.ndarray] = field(default_factory=dict)
    # The mean curve above is smooth even where single heads jump (each at its own strength): per head, the
    # largest change of its own factor between neighbouring strengths, as the median over the heads.
    largest_step: float = 0.0

    @property
    def drift_percent(self) -> dict[str, float]:
        """Each other factor's largest absolute mean change, % of its range."""
        return {name: float(np.max(np.abs(curve))) for name, curve in self.drift_curves.items()}


@dataclass(frozen=True)
class EmbeddingRow:
    """One embedding method measured on the same held-out renders."""

    method: str
    psnr_mean: float
    psnr_min: float
    seconds_single: float  # one image through the default command's path (embed, reconstruction included)
    seconds_batched: float  # per image, in batches of Sizes.batch
    latent_std: float
    latent_autocorr: float  # mean lag-1 autocorrelation: about 0 for noise-like latents


@dataclass
class Report:
    sizes: Sizes
    fd_samples: float = float("nan")
    fd_floor: float = float("nan")
    grainy: int = 0  # of the 32-seed grid, samples grainier than the grainiest held-out render
    embedding: list[EmbeddingRow] = field(default_factory=list)
    directions: list[DirectionTable] = field(default_factory=list)


def grain(images: np.ndarray) -> np.ndarray:
    """Per image: mean absolute difference between the luminance and its 3x3 median, in grey levels.

    Sampling grain is isolated speckle, which a median removes; the renders' hard
    edges (glasses, hairline) survive a 3x3 median, so clean renders score low.
    """
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (N, H, W)
    padded = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    height, width = luma.shape[1:]
    shifted = np.stack([padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)])
    return np.abs(luma - np.median(shifted, axis=0)).mean(axis=(1, 2))


def grain_threshold(size: int, count: int = 1000) -> float:
    """The grain of the grainiest of ``count`` held-out renders: a sample above it is called grainy."""
    renders, _ = held_out_renders(count, size, EVALUATION_SEED + 4)
    return float(grain(renders).max())


def held_out_renders(count: int, size: int, seed: int = EVALUATION_SEED) -> tuple[np.ndarray, np.ndarray]:
    batch = rendered_batch(seed, HELD_OUT_STREAM, 0, size, count)
    return batch.images, batch.factors


def evaluate(
    model: LoadedModel,
    regressor: FactorRegressor,
    directions: list[Direction],
    sizes: Sizes = FULL,
    *,
    log: Log = print,
    cancel: CancelToken | None = None,
) -> Report:
    report = Report(sizes)
    size = model.image_size[-1]
    shape = model.latent_shape

    log(f"sampling {sizes.samples} seeds ({sizes.steps} steps)")
    seeds = np.stack([noise_latent(seed, shape) for seed in range(sizes.samples)])
    samples = decode(model, seeds, sizes.steps, batch_size=sizes.batch, cancel=cancel)
    renders_a, _ = held_out_renders(sizes.samples, size)
    renders_b, _ = held_out_renders(sizes.samples, size, EVALUATION_SEED + 1)
    report.fd_samples = frechet_distance(features(regressor, samples), features(regressor, renders_a))
    report.fd_floor = frechet_distance(features(regressor, renders_b), features(regressor, renders_a))

    report.grainy = int((grain(samples[:32]) > grain_threshold(size, sizes.grain_renders)).sum())

    log(f"embedding {sizes.embeddings} held-out renders")
    images, factors = held_out_renders(sizes.embeddings, size, EVALUATION_SEED + 2)
    row, latents = inversion_row(model, images, sizes, cancel)
    report.embedding.append(row)
    if model.embedder is not None:
        report.embedding.append(network_row(model, images, sizes, cancel))

    heads = latents[: sizes.heads]
    for direction in directions:
        factor = DIRECTION_FACTORS.get(direction.name)
        if factor is None:
            continue
        log(f"pushing {len(heads)} heads along '{direction.name}'")
        wearing = factors[: len(heads), FACTOR_NAMES.index("glasses")] > 0.5
        report.directions.append(direction_table(model, regressor, heads, direction, factor, sizes, cancel, wearing))
    return report


def inversion_row(model: LoadedModel, images: np.ndarray, sizes: Sizes,
                  cancel: CancelToken | None = None) -> tuple[EmbeddingRow, np.ndarray]:
    """Fixed-point inversion of the held-out renders, batched; plus three images one at a time, as `embed` does."""
    started = time.perf_counter()
    latents = embed_images(model, images, sizes.steps, batch=sizes.batch,
                           fixed_point_iterations=DEFAULT_FIXED_POINT_ITERATIONS, cancel=cancel)
    batched = (time.perf_counter() - started) / len(images)
    return _embedding_row("inversion", model, images, latents, sizes.steps, batched, sizes, cancel), latents


def network_row(model: LoadedModel, images: np.ndarray, sizes: Sizes, cancel: CancelToken | None = None) -> EmbeddingRow:
    """The model's one-pass embedding network on the same renders: one forward pass per batch."""
    network = model.embedder
    pixels = from_uint8(torch.from_numpy(images))
    network.latents(pixels[: sizes.batch])  # warm-up: first-call allocations stay out of the figure
    started = time.perf_counter()
    latents = np.concatenate([network.latents(pixels[i : i + sizes.batch]).cpu().numpy()
                              for i in range(0, len(images), sizes.batch)])
    batched = (time.perf_counter() - started) / len(images)
    return _embedding_row("network", model, images, latents, network.steps, batched, sizes, cancel)


def _embedding_row(method: str, model: LoadedModel, images: np.ndarray, latents: np.ndarray, steps: int,
                   batched: float, sizes: Sizes, cancel: CancelToken | None) -> EmbeddingRow:
    """What every method's row reports: reconstruction PSNR, one image through `embed`, and the latents' statistics."""
    reconstructions = decode(model, latents, steps, batch_size=sizes.batch, cancel=cancel)
    scores = [psnr(a, b) for a, b in zip(reconstructions, images, strict=True)]
    singles = [embed(model, image, steps, mode=method, cancel=cancel).seconds for image in images[:3]]
    stats = [latent_stats(latent) for latent in latents]
    return EmbeddingRow(method, float(np.mean(scores)), float(np.min(scores)), float(np.mean(singles)), batched,
                        float(np.mean([s.std for s in stats])), float(np.mean([s.autocorr_lag1 for s in stats])))


def direction_table(
    model: LoadedModel,
    regressor: FactorRegressor,
    heads: np.ndarray,
    direction: Direction,
    factor: str,
    sizes: Sizes,
    cancel: CancelToken | None = None,
    wearing: np.ndarray | None = None,
) -> DirectionTable:
    """Push ``heads`` along ``direction`` and read every factor; ``wearing`` (which heads wear glasses, when known)
    adds the glasses change per group."""
    low, high = direction.strength_range
    strengths = np.linspace(low, high, sizes.strengths)
    if not np.any(strengths == 0.0):
        strengths = np.sort(np.append(strengths, 0.0))
    readings = read_along(model, regressor, heads, direction, strengths, sizes.steps, batch_size=sizes.batch,
                          source_attention_from=direction.source_attention_from, cancel=cancel)
    zero = int(np.flatnonzero(strengths == 0.0)[0])
    change = np.stack([factor_difference(name, readings[..., i] - readings[zero, :, i]) for i, name in enumerate(FACTOR_NAMES)],
                      axis=-1)
    mean_change = change.mean(axis=1)  # (K, F)
    means = readings[zero].mean(axis=0)[None] + mean_change
    own = FACTOR_NAMES.index(factor)
    own_curve = means[:, own]
    steps = np.diff(own_curve)
    drift = {f.name: mean_change[:, i] / f.span * 100.0 for i, f in enumerate(FACTORS) if f.name != factor}
    groups = {}
    if wearing is not None and factor != "glasses":
        glasses = np.abs(change[..., FACTOR_NAMES.index("glasses")]) * 100.0  # the glasses factor's range is 1
        wearing = np.asarray(wearing, bool)
        groups = {name: glasses[:, members].mean(axis=1) for name, members in
                  (("with glasses", wearing), ("without glasses", ~wearing)) if members.any()}
    return DirectionTable(
        name=direction.name,
        factor=factor,
        strengths=strengths,
        means=means,
        pearson_r=float(np.corrcoef(strengths, own_curve)[0, 1]) if np.ptp(own_curve) > 0 else 0.0,
        span=float(np.ptp(own_curve)),
        monotonic=bool(np.all(steps > 0) or np.all(steps < 0)),
        drift_curves=drift,
        glasses_by_group=groups,
        largest_step=float(np.median(np.abs(np.diff(change[..., own], axis=0)).max(axis=0))),
    )


def format_report(report: Report, hardware: str = "") -> str:
    s = report.sizes
    where = f" on {hardware}" if hardware else ""
    lines = [
        f"Samples ({s.samples}, {s.steps} DDIM steps): Fréchet distance of regressor features to held-out renders "
        f"{report.fd_samples:.2f}; floor (two independent render sets) {report.fd_floor:.2f}; "
        f"grainy samples in the 32-seed grid: {report.grainy}",
        f"Embedding ({s.embeddings} held-out renders, {s.steps} steps{where}):",
        f"  {'method':<12}{'mean dB':>9}{'min dB':>8}{'s/image':>9}{'batched':>9}{'std':>7}{'lag-1':>7}",
    ]
    for row in report.embedding:
        lines.append(f"  {row.method:<12}{row.psnr_mean:>9.2f}{row.psnr_min:>8.2f}{row.seconds_single:>9.2f}"
                     f"{row.seconds_batched:>9.3f}{row.latent_std:>7.3f}{row.latent_autocorr:>+7.3f}")
    lines.append(f"  (s/image: one image as `latent-studio embed` runs it; batched: per image in batches of {s.batch})")
    for table in report.directions:
        unit = next(f for f in FACTORS if f.name == table.factor)
        worst = max(table.drift_percent.items(), key=lambda kv: kv[1])
        lines.append(
            f"Direction '{table.name}' on {s.heads} embedded held-out heads: {table.factor} |r| = {abs(table.pearson_r):.3f}, "
            f"span {table.span:.2f} (range {unit.low:g}..{unit.high:g}), monotonic {'yes' if table.monotonic else 'no'}; "
            f"largest drift of another factor {worst[1]:.1f}% ({worst[0]})"
        )
        lines.append(f"  {'strength':<16}" + " ".join(f"{v:>8.2f}" for v in table.strengths))
        lines.append(f"  {table.factor:<16}" + " ".join(f"{v:>8.2f}" for v in table.means[:, FACTOR_NAMES.index(table.factor)]))
        mean_step = table.span / max(len(table.strengths) - 1, 1)
        lines.append(f"  per head, the largest {table.factor} step between neighbouring strengths: median {table.largest_step:.2f} "
                     f"(the mean curve's steps average {mean_step:.2f}; a head whose step is far larger jumps)")
        lines.append("  drift % " + ", ".join(f"{k} {v:.1f}" for k, v in table.drift_percent.items()))
        for name, curve in table.drift_curves.items():  # where a factor drifts too far, show where along the range
            if np.max(np.abs(curve)) > DIRECTION_BARS.get(table.factor, DirectionBars(0.95)).drift_limit(name):
                lines.append(f"  {name + ' drift %':<16}" + " ".join(f"{v:>8.1f}" for v in curve))
        if table.glasses_by_group:
            lines.append("  glasses |change| % by group (the drift's signed mean lets the two cancel):")
        for group, curve in table.glasses_by_group.items():
            lines.append(f"  {group:<16}" + " ".join(f"{v:>8.1f}" for v in curve))
    lines.append("Quality bars: " + "; ".join(bar_verdicts(report)))
    return "\n".join(lines)


def bar_verdicts(report: Report) -> list[str]:
    """One 'pass'/'FAIL' phrase per bar, with the measured figure."""
    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    out = [f"samples FD <= {FD_BAR:g} {verdict(report.fd_samples <= FD_BAR)}",
           f"no grainy sample {verdict(report.grainy == 0)}"]
    inversion = next((row for row in report.embedding if row.method == "inversion"), None)
    if inversion is not None:
        out.append(f"inversion PSNR >= {PSNR_BAR_DB:g} dB {verdict(inversion.psnr_mean >= PSNR_BAR_DB)}")
        out.append(f"one image in <= {IN_DOMAIN_SECONDS_BAR:g} s {verdict(inversion.seconds_single <= IN_DOMAIN_SECONDS_BAR)}")
    network = next((row for row in report.embedding if row.method == "network"), None)
    if network is not None:
        fast = network.seconds_batched <= NETWORK_BATCHED_SECONDS_BAR
        out.append(f"network PSNR >= {NETWORK_PSNR_BAR_DB:g} dB {verdict(network.psnr_mean >= NETWORK_PSNR_BAR_DB)}, "
                   f"<= {NETWORK_BATCHED_SECONDS_BAR * 1000:g} ms per image batched {verdict(fast)}")
    for table in report.directions:
        bars = DIRECTION_BARS.get(table.factor, DirectionBars(0.95))
        over = {k: v for k, v in table.drift_percent.items() if v > bars.drift_limit(k)}
        checks = [f"|r| >= {bars.pearson:g} {verdict(abs(table.pearson_r) >= bars.pearson)}",
                  f"monotonic {verdict(table.monotonic)}"]
        if bars.span is not None:
            checks.append(f"span >= {bars.span:g} {verdict(table.span >= bars.span)}")
        tighter = "".join(f", {k} <= {v:g}%" for k, v in bars.drift_limits)
        drift = f"drift <= {DRIFT_BAR_PERCENT:g}%{tighter} {verdict(not over)}"
        if over:
            drift += " (" + ", ".join(f"{k} {v:.1f}" for k, v in sorted(over.items(), key=lambda kv: -kv[1])) + ")"
        out.append(f"{table.name}: " + ", ".join([*checks, drift]))
    return out


def write_figures(model: LoadedModel, directions: list[Direction], folder: Path, steps: int = 50) -> list[Path]:
    """samples.png (a grid of seeds 0-31) and head_turn.png (four held-out renders, two without glasses and two
    with, each beside its embedding turned over the range)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = np.stack([noise_latent(seed, model.latent_shape) for seed in range(32)])
    samples = decode(model, seeds, steps)
    paths = [folder / "demo_samples.png", folder / "demo_head_turn.png"]
    save_png(paths[0], _upscale(_grid(samples, columns=8), 2))
    turn = next((d for d in directions if DIRECTION_FACTORS.get(d.name) == "yaw"), None)
    if turn is None:
        return paths[:1]
    images, factors = held_out_renders(16, model.image_size[-1], EVALUATION_SEED + 3)
    glasses = factors[:, FACTOR_NAMES.index("glasses")] > 0.5
    chosen = [*np.flatnonzero(~glasses)[:2], *np.flatnonzero(glasses)[:2]]
    images = images[chosen]
    latents = embed_images(model, images, steps)
    strengths = np.linspace(*turn.strength_range, 9)
    rows = []
    for image, latent in zip(images, latents, strict=True):
        edited = np.stack([apply_directions(latent, [(turn, s)]) for s in strengths])
        frames = decode_edits(model, edited, latent[None], [0] * len(edited), turn.source_attention_from, steps)
        rows.append(np.concatenate([image, np.full_like(image[:, :4], 255), *frames], axis=1))
    save_png(paths[1], _upscale(np.concatenate(rows, axis=0), 2))
    return paths


def _grid(images: np.ndarray, columns: int) -> np.ndarray:
    rows = [np.concatenate(list(images[i : i + columns]), axis=1) for i in range(0, len(images), columns)]
    return np.concatenate(rows, axis=0)


def _upscale(image: np.ndarray, factor: int) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


CARD_HEADING = "## Evaluation (written by `latent-studio evaluate-demo`)"


def update_model_card(folder: Path, report_text: str) -> Path:
    """Replace (or add) the evaluation section of the model card."""
    card = Path(folder) / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if CARD_HEADING in text:
        text = text[: text.index(CARD_HEADING)].rstrip() + "\n"
    section = f"\n{CARD_HEADING}\n\n```text\n{report_text}\n```\n"
    atomic_write_bytes(card, (text + section).encode("utf-8"))
    return card
