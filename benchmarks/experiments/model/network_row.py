"""evaluate-demo's embedding-network row alone (the same code and the same 100 held-out renders), for each model
folder given, side by side: mean and min PSNR, seconds for one image through `embed --mode network` and per image
batched, and the latents' standard deviation and lag-1 autocorrelation. The full evaluate-demo run takes most of an
hour on the 2-core CPU; this row takes about a minute a folder.

    python benchmarks/experiments/model/network_row.py resources/models/toy-heads /tmp/old-toy-heads
"""
import sys

from latent_studio.demo.evaluation import EVALUATION_SEED, FULL, held_out_renders, network_row
from latent_studio.engine.models import load_model

images, _ = held_out_renders(FULL.embeddings, 64, EVALUATION_SEED + 2)
print(f"{'model folder':<40} {'mean dB':>8} {'min dB':>7} {'s/image':>8} {'batched':>8} {'std':>6} {'lag-1':>7}")
for folder in sys.argv[1:]:
    model = load_model(folder, device="cpu", dtype="float32")
    row = network_row(model, images, FULL)
    print(f"{folder:<40} {row.psnr_mean:>8.2f} {row.psnr_min:>7.2f} {row.seconds_single:>8.2f} "
          f"{row.seconds_batched:>8.3f} {row.latent_std:>6.3f} {row.latent_autocorr:>+7.3f}", flush=True)
