"""Direction methods side by side on the same embedded held-out heads of the bundled model.

For each direction and each method it prints: the own factor's |r| against the
strength, its span, whether it is monotonic, the largest drift of another
factor (% of that factor's range), the cost per edited frame, and for the head
turn a measure only this model allows: the same identity rendered at the
target yaw (yaw + strength, clipped to the factor's range), compared with the
edited frame at +-45 degrees (PSNR, and the distance of regressor features).
Below each row: every other factor's drift, and the glasses reading's mean
|change| (% of its range) at each strength among heads with glasses and among
heads without (the drift is a signed mean over all heads, in which the two
groups cancel).

Methods so far:
  shipped     the direction exactly as its file ships it (split, bends, keep, hold, decode)
  linear      the shipped direction's one line, added to x_T with the norm kept (the baseline;
              without the file's split, bends, keep or hold)
  orthogonal  the same vector with its components along the model's other
              directions removed (core.directions.orthogonalise), rescaled so its
              component along the original stays the same: InterFaceGAN's
              conditional edit, restricted to the factors that have a direction
              (fit-demo-directions already makes the others orthogonal to yaw)
  src-attn    the linear edit decoded beside its source, reading the source's
              self-attention keys and values from the first step on (MasaCtrl;
              engine/source_attention.py); the head turn ships with it
  orth+src    the orthogonal vector, decoded beside its source
  src-attn@F  the same as src-attn, reading the source only from fraction F of the steps on
              (the early, coarse steps are the edit's own)
  split       for a direction split by another attribute (the head turn by glasses): each head
              edited along its own blend of the two lines (core.directions.DirectionSplit), with
              the split's bends and keep where the file has them
  split+src   the same, decoded beside its source (the head turn ships with it)

    python benchmarks/bench_directions.py [--heads 50] [--strengths 9] [--steps 50] [--methods linear,src-attn]
        [--directions "Head turn,Smile"]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from latent_studio.core.directions import Direction, apply_directions, orthogonalise
from latent_studio.core.metrics import psnr
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import DIRECTION_FACTORS, EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS, HeadFactors
from latent_studio.demo.heads import render_batch
from latent_studio.demo.regressor import features, load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model
from latent_studio.engine.source_attention import decode_edits

GROUND_TRUTH_STRENGTHS = (-45.0, 45.0)


def orthogonal(direction: Direction, others: list[Direction]) -> Direction:
    """``direction`` without its components along ``others``, rescaled to keep its component along itself."""
    v = direction.vector
    w = orthogonalise(v, [o.vector for o in others])
    w = w * float(np.vdot(v, v) / np.vdot(w, v))
    return dataclasses.replace(direction, vector=w.astype(np.float32), method=direction.method + "+orthogonal")


def ground_truth(model, regressor, heads, factors, identities, direction, steps, batch) -> tuple[float, float]:
    """Mean PSNR and feature distance of the edited frames to the same identities rendered at the target yaw."""
    yaw = next(f for f in FACTORS if f.name == "yaw")
    edited, truth = [], []
    for strength in GROUND_TRUTH_STRENGTHS:
        edited += [apply_directions(h, [(direction, strength)]) for h in heads]
        targets = [HeadFactors.from_array(f).replace(yaw=float(np.clip(f[FACTOR_NAMES.index("yaw")] + strength, yaw.low, yaw.high))) for f in factors]
        truth.append(render_batch(targets, identities.tolist(), model.latent_shape[-1]))
    source_of = [i for _ in GROUND_TRUTH_STRENGTHS for i in range(len(heads))]
    images = decode_edits(model, np.stack(edited), np.asarray(heads, np.float32), source_of,
                          direction.source_attention_from, steps, batch_size=batch)
    truth = np.concatenate(truth)
    scores = [psnr(a, b) for a, b in zip(images, truth, strict=True)]
    distance = np.linalg.norm(features(regressor, images) - features(regressor, truth), axis=1)
    return float(np.mean(scores)), float(np.mean(distance))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=50)
    parser.add_argument("--strengths", type=int, default=9)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--methods", default="linear,orthogonal,src-attn",
                        help="comma-separated subset; src-attn@F reads the source from fraction F of the steps on")
    parser.add_argument("--directions", default="", help="comma-separated names (default: every direction)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    parser.add_argument("--dtype", default="float32", help="float32 (default; the directions were fitted in it)")
    args = parser.parse_args()

    model = load_model("toy-heads", device=args.device, dtype=args.dtype)
    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    directions = [d for d in model_directions(model) if d.name in DIRECTION_FACTORS
                  and (not args.directions or d.name in args.directions.split(","))]
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], args.heads)
    print(f"embedding {args.heads} held-out heads ({args.steps} steps)", flush=True)
    heads = embed_images(model, batch.images, args.steps, batch=args.batch)
    wearing = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5
    sizes = Sizes(heads=args.heads, strengths=args.strengths, steps=args.steps, batch=args.batch)

    print(f"\n{'direction':<11}{'method':<12}{'|r|':>6}{'span':>8}{'monotonic':>10}  {'largest drift':<22}"
          f"{'ms/frame':>9}{'GT dB @45':>10}{'GT feat':>9}")
    for direction in directions:
        factor = DIRECTION_FACTORS[direction.name]
        others = [d for d in directions if d is not direction]
        linear = dataclasses.replace(direction, source_attention_from=None, split=None, bend=None, hold=None, restore=None)
        variants = [("shipped", direction), ("linear", linear), ("orthogonal", orthogonal(linear, others)),
                    ("src-attn", dataclasses.replace(linear, source_attention_from=0.0)),
                    ("orth+src", dataclasses.replace(orthogonal(linear, others), source_attention_from=0.0))]
        variants += [(m, dataclasses.replace(linear, source_attention_from=float(m.split("@")[1])))
                     for m in args.methods.split(",") if m.startswith("src-attn@")]
        if direction.split is not None:  # one line per side of the split, blended by the probe's reading
            variants += [("split", dataclasses.replace(direction, source_attention_from=None)),
                         ("split+src", dataclasses.replace(direction, source_attention_from=0.0))]
        for name, variant in (v for v in variants if v[0] in args.methods.split(",")):
            started = time.perf_counter()
            table = direction_table(model, regressor, heads, variant, factor, sizes, wearing=wearing)
            per_frame = (time.perf_counter() - started) / (len(table.strengths) * args.heads) * 1000
            worst = max(table.drift_percent.items(), key=lambda kv: kv[1])
            gt = "" if factor != "yaw" else "{:>10.2f}{:>9.3f}".format(
                *ground_truth(model, regressor, heads, batch.factors, batch.identities, variant, args.steps, args.batch))
            print(f"{direction.name:<11}{name:<12}{abs(table.pearson_r):>6.3f}{table.span:>8.2f}"
                  f"{'yes' if table.monotonic else 'no':>10}  {f'{worst[0]} {worst[1]:.1f}%':<22}{per_frame:>9.0f}{gt}",
                  flush=True)
            print(f"{'':<23}drift % " + ", ".join(f"{k} {v:.1f}" for k, v in table.drift_percent.items()), flush=True)
            for group, curve in table.glasses_by_group.items():  # the signed drift lets these two cancel
                print(f"{'':<23}glasses |change| % {group}: " + " ".join(f"{v:.1f}" for v in curve), flush=True)


if __name__ == "__main__":
    main()
