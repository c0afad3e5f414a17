"""Issue 14 method (d): h-space directions (Kwon et al. 2023, Asyrp) fitted by binned-centroid regression
of the UNet bottleneck (mid-block output) per DDIM step against the regressor's reading of each sample.

Edit: for the first `window` steps, the bottleneck gets + s * dh_k; the step's clean estimate comes from the
edited prediction and its noise from the plain one (Asyrp's asymmetric reverse process); later steps plain.
"""
import time, os
import numpy as np
import torch
import latent_studio.demo.evaluation as evaluation
from latent_studio.core.directions import fit_binned_direction
from latent_studio.core.seeds import noise_latent
from latent_studio.core.resources import resources_dir
from latent_studio.core.metrics import psnr
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import DIRECTION_FACTORS, EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS, HeadFactors
from latent_studio.demo.heads import render_batch
from latent_studio.demo.regressor import load_regressor, predict, features
from latent_studio.engine.ddim import make_plan, split_prediction, to_uint8
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

STEPS = 50
OUT = os.environ.get("OUT", ".")  # where pictures and caches go
torch.set_grad_enabled(False)


class Bottleneck:
    def __init__(self, unet):
        self.record = None   # list to append to
        self.add = None      # tensor to add (B, C, H, W) or None
        unet.mid_block.register_forward_hook(self.hook)

    def hook(self, module, inputs, output):
        if self.record is not None:
            self.record.append(output.detach().float().cpu().numpy().astype(np.float16))
        if self.add is not None:
            return output + self.add.to(output.dtype)
        return output


def sample_bottlenecks(model, hook, seeds, window):
    plan = make_plan(model.scheduler_config, STEPS)
    hs, images = [], []
    for i in range(0, len(seeds), 32):
        x = torch.from_numpy(np.stack([noise_latent(s, model.latent_shape) for s in seeds[i:i + 32]]))
        rec = []
        for k in range(plan.steps):
            hook.record = rec if k < window else None
            out = model.family.denoise(x, plan.timesteps[k])
            clean, noise = split_prediction(out, x, plan.alphas[k], plan.prediction_type)
            x = np.sqrt(plan.alphas_prev[k]) * clean + np.sqrt(1 - plan.alphas_prev[k]) * noise
        hook.record = None
        hs.append(np.stack(rec, 1))  # (B, window, C, H, W)
        images.append(to_uint8(model.family.to_images(x)).numpy())
        print("sampled", i + 32, flush=True)
    return np.concatenate(hs), np.concatenate(images)


def decode_hedit(model, hook, latents, deltas, strengths_per_row, window, asymmetric=True, batch=32):
    """deltas: (window, C, H, W); each row i gets strengths_per_row[i] * deltas[k] at step k < window."""
    plan = make_plan(model.scheduler_config, STEPS)
    out_images = []
    for i in range(0, len(latents), batch):
        x = torch.from_numpy(np.ascontiguousarray(latents[i:i + batch], np.float32))
        s = torch.tensor(strengths_per_row[i:i + batch], dtype=torch.float32)[:, None, None, None]
        for k in range(plan.steps):
            t = plan.timesteps[k]
            if k < window:
                hook.add = s * torch.from_numpy(deltas[k].astype(np.float32))[None]
                edited = model.family.denoise(x, t)
                hook.add = None
                clean, noise_e = split_prediction(edited, x, plan.alphas[k], plan.prediction_type)
                if asymmetric:
                    plain = model.family.denoise(x, t)
                    _, noise = split_prediction(plain, x, plan.alphas[k], plan.prediction_type)
                else:
                    noise = noise_e
            else:
                out = model.family.denoise(x, t)
                clean, noise = split_prediction(out, x, plan.alphas[k], plan.prediction_type)
            x = np.sqrt(plan.alphas_prev[k]) * clean + np.sqrt(1 - plan.alphas_prev[k]) * noise
        out_images.append(to_uint8(model.family.to_images(x)).numpy())
    return np.concatenate(out_images)


def main():
    n_samples = int(os.environ.get("SAMPLES", 384))
    window = int(os.environ.get("WINDOW", 20))
    gains = [float(g) for g in os.environ.get("GAINS", "1").split(",")]
    asym = os.environ.get("ASYM", "1") == "1"
    heads_n = int(os.environ.get("HEADS", 8))
    factor = os.environ.get("FACTOR", "yaw")
    name = {v: k for k, v in DIRECTION_FACTORS.items()}[factor]
    model = load_model("toy-heads")
    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    hook = Bottleneck(model.family.unet)
    cache = OUT + f"/h_{n_samples}_{window}.npz"
    bigger = OUT + f"/h_{n_samples}_20.npz"
    if window <= 20 and os.path.exists(bigger):
        z = np.load(bigger); hs, readings = z["hs"][:, :window], z["readings"]
    elif os.path.exists(cache):
        z = np.load(cache); hs, readings = z["hs"], z["readings"]
    else:
        t = time.perf_counter()
        hs, images = sample_bottlenecks(model, hook, list(range(10_000, 10_000 + n_samples)), window)
        readings = predict(regressor, images)
        np.savez(cache, hs=hs, readings=readings)
        print(f"sampled {n_samples} in {time.perf_counter() - t:.0f}s", flush=True)
    values = readings[:, FACTOR_NAMES.index(factor)]
    print(f"{factor} of samples: {values.min():.2f}..{values.max():.2f}", flush=True)
    deltas = np.stack([fit_binned_direction(hs[:, k].astype(np.float32), values, bins=13).direction for k in range(window)])
    print("delta norm per step", np.round(np.linalg.norm(deltas.reshape(window, -1), axis=1)[::5], 2),
          "h norm", np.round(np.linalg.norm(hs[:, ::5].reshape(len(hs), -1, 8192).astype(np.float32), axis=2).mean(0), 1), flush=True)
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], heads_n)
    heads = embed_images(model, batch.images, STEPS, batch=32)
    direction = next(d for d in model_directions(model) if d.name == name)
    sizes = Sizes(heads=heads_n, strengths=9, steps=STEPS, batch=32)
    for gain in gains:
        def reader(model_, regressor_, heads_, vector, strengths, steps, **kw):
            rows = np.concatenate([heads_ for _ in strengths])
            per = np.concatenate([[s * gain] * len(heads_) for s in strengths])
            images = decode_hedit(model, hook, rows, deltas, per, window, asym)
            return predict(regressor, images).reshape(len(strengths), len(heads_), -1)
        evaluation.read_along = reader
        t = time.perf_counter()
        table = direction_table(model, regressor, heads, direction, factor, sizes)
        drift = ", ".join(f"{k} {x:.1f}" for k, x in sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4])
        gt = ""
        if factor == "yaw":
            yaw = next(f for f in FACTORS if f.name == "yaw")
            edited, truth, per = [], [], []
            for s in (-45.0, 45.0):
                edited.append(heads); per += [s * gain] * len(heads)
                targets = [HeadFactors.from_array(f).replace(yaw=float(np.clip(f[FACTOR_NAMES.index("yaw")] + s, yaw.low, yaw.high))) for f in batch.factors]
                truth.append(render_batch(targets, batch.identities.tolist(), 64))
            images = decode_hedit(model, hook, np.concatenate(edited), deltas, per, window, asym)
            truth = np.concatenate(truth)
            gt = "GT %.2f dB feat %.3f" % (np.mean([psnr(a, b) for a, b in zip(images, truth)]),
                                         np.mean(np.linalg.norm(features(regressor, images) - features(regressor, truth), axis=1)))
            from PIL import Image
            Image.fromarray(np.concatenate([np.concatenate(list(images[:8]), 1), np.concatenate(list(images[8:16]), 1), np.concatenate(list(truth[8:16]), 1)], 0)).save(OUT + f"/hspace_w{window}_g{gain}.png")
        print(f"h-space {name} window {window} gain {gain} asym {asym}: |r| {abs(table.pearson_r):.3f} span {table.span:.2f} "
              f"mono {table.monotonic} | {drift} | {gt} | {time.perf_counter() - t:.0f}s", flush=True)
        print("   means", np.round(table.means[:, FACTOR_NAMES.index(factor)], 2), flush=True)

main()
