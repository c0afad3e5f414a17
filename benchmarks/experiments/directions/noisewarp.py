"""Issue 14 (e): move x_T's detail with the face. The edit's flow back to the source comes from block matching
the source frame and the plainly edited frame; the source noise is gathered along it (nearest neighbour, so
every value stays a sample of the same Gaussian), then the direction is added.
Variants: A warp(x) ; B warp(x) + s d ; C warp(x - low(x)) + low(x) + s d
"""
import os
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from latent_studio.core.latent_math import add_directions
from latent_studio.demo.evaluation import held_out_renders, EVALUATION_SEED
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model
from latent_studio.engine.source_attention import decode_edits

STEPS = 50
OUT = os.environ.get("OUT", ".")  # where pictures and caches go
R = int(os.environ.get("R", 10))


def block_flow(edit, source, radius=R, patch=7, penalty=2e-4):
    """For each pixel of ``edit`` (H, W, 3 uint8), the offset to its best-matching pixel of ``source``."""
    a = torch.from_numpy(edit).float().permute(2, 0, 1)[None] / 255
    b = torch.from_numpy(source).float().permute(2, 0, 1)[None] / 255
    h, w = edit.shape[:2]
    bp = F.pad(b, (radius, radius, radius, radius), mode="replicate")
    best = torch.full((h, w), float("inf")); off = torch.zeros(2, h, w, dtype=torch.long)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = bp[..., radius + dy:radius + dy + h, radius + dx:radius + dx + w]
            ssd = F.avg_pool2d(((a - shifted) ** 2).sum(1, keepdim=True), patch, 1, patch // 2, count_include_pad=False)[0, 0]
            ssd = ssd + penalty * (dy * dy + dx * dx)
            better = ssd < best
            best = torch.where(better, ssd, best)
            off[0][better] = dy; off[1][better] = dx
    return off


def gather(x, off):
    """x (C, H, W) sampled at p + off(p), nearest neighbour (clamped at the border)."""
    c, h, w = x.shape
    ys = (torch.arange(h)[:, None] + off[0]).clamp(0, h - 1)
    xs = (torch.arange(w)[None] + off[1]).clamp(0, w - 1)
    return torch.from_numpy(x)[:, ys, xs].numpy()


def lowpass(x, sigma=2.0):
    k = np.exp(-0.5 * (np.arange(-6, 7) / sigma) ** 2); k /= k.sum()
    t = torch.from_numpy(x)[:, None].float()
    t = F.conv2d(F.pad(t, (6, 6, 0, 0), mode="reflect"), torch.from_numpy(k).float().view(1, 1, 1, -1))
    t = F.conv2d(F.pad(t, (0, 0, 6, 6), mode="reflect"), torch.from_numpy(k).float().view(1, 1, -1, 1))
    return t[:, 0].numpy()


def main():
    model = load_model("toy-heads")
    turn = next(d for d in model_directions(model) if d.name == "Head turn")
    images, _ = held_out_renders(4, 64, EVALUATION_SEED + 3)
    latents = embed_images(model, images, STEPS)
    strengths = np.linspace(-60, 60, 9)
    blocks = {k: [] for k in ("shipped", "A", "B", "C")}
    for image, x in zip(images, latents):
        source = decode(model, x[None], STEPS)[0]
        edited = np.stack([add_directions(x, [(turn.vector, s)]) for s in strengths])
        plain = decode_edits(model, edited, x[None], [0] * len(edited), 0.0, STEPS)
        blocks["shipped"].append(np.concatenate([image, *plain], 1))
        for variant in "ABC":
            warped = []
            for s, frame in zip(strengths, plain):
                off = block_flow(frame, source)
                if variant == "A":
                    y = gather(x, off)
                elif variant == "B":
                    y = gather(x, off) + s * turn.vector
                else:
                    low = lowpass(x)
                    y = gather(x - low, off) + low + s * turn.vector
                y = y * np.linalg.norm(x) / np.linalg.norm(y)
                warped.append(y.astype(np.float32))
            frames = decode_edits(model, np.stack(warped), x[None], [0] * len(warped), 0.0, STEPS)
            blocks[variant].append(np.concatenate([image, *frames], 1))
        print("head done", flush=True)
    sep = lambda a: np.full_like(a[:4], 255)
    out = []
    for k, rows in blocks.items():
        b = np.concatenate(rows, 0); out += [b, sep(b)]
    Image.fromarray(np.concatenate(out, 0)).resize((out[0].shape[1] * 2, sum(o.shape[0] for o in out) * 2), Image.NEAREST).save(OUT + "/warp_" + os.environ.get("TAG", "a") + ".png")

if __name__ == "__main__":
    main()
