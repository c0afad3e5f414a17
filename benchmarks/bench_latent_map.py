"""Which feature space makes a latent map mean something: raw x_T against the UNet bottleneck (h-space at t = T).

    python benchmarks/bench_latent_map.py [--samples 80] [--steps 20]

For N seeds of the bundled model, the pairwise distances in each space are
compared with the pairwise distances between the decoded pictures (RMS of
32x32 reductions): Spearman rank correlation (1: the space orders pairs as
the pictures do), and the spread of the distances (std / mean; raw noise is
nearly equidistant). Also the seconds each space costs. Then the 2-D
projections (PCA, UMAP when umap-learn is installed) of the draft pictures'
features, as the map panel draws them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.core.errors import UserError
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.latent_map import METHODS, bottleneck_features, picture_features, project_2d
from latent_studio.engine.models import load_model
from latent_studio.core.metrics import reduced_picture


def pairwise(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1).astype(np.float64)
    squared = (flat ** 2).sum(axis=1)
    d = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0.0))
    return d[np.triu_indices(len(x), 1)]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks = [np.argsort(np.argsort(v)).astype(np.float64) for v in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=80)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    model = load_model("toy-heads")
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in range(args.samples)])
    images = decode(model, latents, args.steps)
    pictures = pairwise(np.stack([reduced_picture(i) for i in images]))
    rows = [("raw x_T", pairwise(latents), 0.0)]
    for at in (0, 2, 5, 8):
        started = time.perf_counter()
        features = bottleneck_features(model, latents, steps=10, at=at)
        rows.append((f"bottleneck, step {at} of 10", pairwise(features), time.perf_counter() - started))
    started = time.perf_counter()
    drafts = decode(model, latents, 4)
    rows.append(("4-step draft pictures", pairwise(np.stack([reduced_picture(i) for i in drafts])), time.perf_counter() - started))
    if model.draft is not None:
        started = time.perf_counter()
        one_pass = decode(model, latents, DRAFT_PASS)
        rows.append(("draft decoder pictures", pairwise(np.stack([reduced_picture(i) for i in one_pass])),
                     time.perf_counter() - started))
    print(f"{args.samples} seeds of toy-heads, pictures at {args.steps} steps, distances of 32x32 reductions")
    print(f"{'space':<28} {'Spearman vs pictures':>21} {'spread (std/mean)':>18} {'seconds':>8}")
    for name, distances, cost in rows:
        print(f"{name:<28} {spearman(distances, pictures):>21.3f} {distances.std() / distances.mean():>18.3f} {cost:>8.1f}")
    features = picture_features(one_pass if model.draft is not None else drafts)
    print("\nThe 2-D map of those pictures' features: its distances against the pictures', and the share of each "
          "face's 10 nearest neighbours (by picture) that stay among its 10 nearest on the map")
    print(f"{'projection':<12} {'Spearman':>9} {'neighbours kept':>16} {'seconds':>8}")
    for method in METHODS:
        started = time.perf_counter()
        try:
            positions = project_2d(features, method)
        except UserError as exc:
            print(f"{method:<12} skipped: {exc}")
            continue
        cost = time.perf_counter() - started
        print(f"{method:<12} {spearman(pairwise(positions), pictures):>9.3f} "
              f"{neighbours_kept(positions, images):>16.2f} {cost:>8.1f}")
    return 0


def neighbours_kept(positions: np.ndarray, images: np.ndarray, k: int = 10) -> float:
    picture = np.stack([reduced_picture(i).ravel() for i in images]).astype(np.float64)

    def nearest(x: np.ndarray) -> np.ndarray:
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1)[:, :k]

    a, b = nearest(picture), nearest(positions.astype(np.float64))
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))


if __name__ == "__main__":
    sys.exit(main())
