"""Issue 14 (e): source feature matching. Beside the shipped source attention (8x8), at the UNet's 16x16 / 32x32
decoder resnets each edit row's features are replaced (blend alpha) by its source row's features gathered by
cosine-similarity attention (no learned weights: works on any UNet), so detail finer than the attention
resolution (glasses) can follow the face to where it moved.
env: LAYERS=1,2 (up_blocks indices) ALPHA=0.5,1 TAU=0.1 START=0 (fraction of steps) HEADS=8 NAMES="Head turn"
"""
import sys, os, time, dataclasses
import numpy as np
import torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import bench_directions as bench
import latent_studio.engine.source_attention as sa
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import DIRECTION_FACTORS, EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

STEPS = 50
OUT = os.environ.get("OUT", ".")  # where pictures and caches go
SIGMA = float(os.environ.get("SIGMA", 0))
sa.TRAJECTORIES = sa.TrajectoryCache(max_bytes=0)  # always decode beside the sources


class Matcher:
    def __init__(self, unet, layers):
        self.unet = unet
        self.alpha, self.tau, self.start = 1.0, 0.1, 0
        self.calls = 0
        self.on = True
        self.attn = unet.up_blocks[0].attentions[0]
        unet.register_forward_pre_hook(self.count)
        for i in layers:
            for r in unet.up_blocks[i].resnets:
                r.register_forward_hook(self.hook)

    def count(self, module, args):
        self.calls += 1

    def hook(self, module, inputs, output):
        proc = self.attn.processor
        rows = getattr(proc, "source_rows", None)
        k = (self.calls - 1) % STEPS
        if not self.on or rows is None or k < self.start:
            return output
        b, c, h, w = output.shape
        f = output.reshape(b, c, h * w)
        src = f[rows]                                  # (B, C, N)
        fn = torch.nn.functional.normalize(f, dim=1)
        sn = torch.nn.functional.normalize(src, dim=1)
        sim = torch.einsum("bcn,bcm->bnm", fn, sn) / self.tau
        if SIGMA > 0:
            ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            pos = torch.stack([ys.flatten(), xs.flatten()], 1).float() * (64 / h)
            sim = sim - (torch.cdist(pos, pos) ** 2 / (2 * SIGMA ** 2))[None]
        gathered = torch.einsum("bnm,bcm->bcn", sim.softmax(-1), src)
        own = (rows == torch.arange(b, device=rows.device))[:, None, None]
        mixed = torch.where(own, f, (1 - self.alpha) * f + self.alpha * gathered)
        return mixed.reshape(b, c, h, w)


def main():
    heads_n = int(os.environ.get("HEADS", 8))
    names = os.environ.get("NAMES", "Head turn").split(",")
    layers = [int(x) for x in os.environ.get("LAYERS", "1,2").split(",")]
    settings = [tuple(float(v) for v in s.split(":")) for s in os.environ.get("SETTINGS", "1:0.1:0").split(",")]
    model = load_model("toy-heads")
    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    matcher = Matcher(model.family.unet, layers)
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], heads_n)
    matcher.on = False
    heads = embed_images(model, batch.images, STEPS, batch=32)
    matcher.on = True
    sizes = Sizes(heads=heads_n, strengths=9, steps=STEPS, batch=32)
    if os.environ.get("STRIP"):
        from latent_studio.demo.evaluation import held_out_renders
        from latent_studio.core.latent_math import add_directions
        from PIL import Image
        turn = next(d for d in model_directions(model) if d.name == "Head turn")
        images, _ = held_out_renders(4, 64, EVALUATION_SEED + 3)
        matcher.on = False
        latents = embed_images(model, images, STEPS)
        strengths = np.linspace(-60, 60, 9)
        blocks = []
        for alpha, tau, start in [(0, 0.1, 0)] + settings:
            matcher.on = alpha > 0
            matcher.alpha, matcher.tau, matcher.start = alpha, tau, int(start * STEPS)
            rows = []
            for image, latent in zip(images, latents):
                edited = np.stack([add_directions(latent, [(turn.vector, s)]) for s in strengths])
                matcher.calls = 0
                frames = sa.decode_edits(model, edited, latent[None], [0] * len(edited), 0.0, STEPS)
                rows.append(np.concatenate([image, np.full_like(image[:, :4], 255), *frames], axis=1))
            blocks.append(np.concatenate(rows, 0))
            blocks.append(np.full_like(blocks[-1][:6], 255))
        Image.fromarray(np.concatenate(blocks, 0)).resize((blocks[0].shape[1] * 2, sum(b.shape[0] for b in blocks) * 2), Image.NEAREST).save(OUT + "/strip_" + os.environ["STRIP"] + ".png")
        return
    for direction in [d for d in model_directions(model) if d.name in names]:
        direction = dataclasses.replace(direction, source_attention_from=0.0)
        factor = DIRECTION_FACTORS[direction.name]
        for alpha, tau, start in settings:
            matcher.alpha, matcher.tau, matcher.start = alpha, tau, int(start * STEPS)
            matcher.calls = 0
            t = time.perf_counter()
            table = direction_table(model, regressor, heads, direction, factor, sizes)
            drift = ", ".join(f"{k} {x:.1f}" for k, x in sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4])
            gt = ""
            if factor == "yaw":
                matcher.calls = 0
                gt = "GT %.2f dB feat %.3f" % bench.ground_truth(model, regressor, heads, batch.factors, batch.identities, direction, STEPS, 32)
            print(f"{direction.name} layers {layers} alpha {alpha} tau {tau} start {start}: |r| {abs(table.pearson_r):.3f} "
                  f"span {table.span:.2f} mono {table.monotonic} | {drift} | {gt} | {time.perf_counter() - t:.0f}s", flush=True)

main()
