"""Issue 19: two more ways past batching's limit on the 2-core CPU, for the bundled model's UNet.

Batching is worth about 2.1x on this CPU (15.25 ms per frame-step at batch 1, 7.16 at 16), and the project
renderer is already at that limit, so the render's 3x goal needs a faster UNet call. This times, in one run and
on the same inputs, milliseconds per frame-step of:
  - one call with the process's intra-op threads (the engine today, channels-last);
  - the same batch as two "lanes": two Python threads, each running half of it with one intra-op thread
    (the GIL is released inside each operation, so the halves run side by side on the two cores);
  - the UNet traced and frozen by TorchScript (torch.jit.trace + torch.jit.freeze: constants folded).
Each row's largest output difference from the first is printed beside it.

    python benchmarks/experiments/speed/cpu_lanes.py [--batch 8 16 32]
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch

from latent_studio.engine.families.files import use_fast_layout
from latent_studio.engine.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--calls", type=int, default=8, help="UNet calls per timing; the fastest of three counts")
    args = parser.parse_args()

    model = load_model("toy-heads", device="cpu")
    unet = model.family.unet.eval()
    use_fast_layout(unet, model.placement)
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(2)

    def call(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return unet(x, t, return_dict=False)[0]

    def lanes(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        halves = [pool.submit(call, xs, ts) for xs, ts in zip(x.chunk(2), t.chunk(2), strict=True)]
        return torch.cat([half.result() for half in halves])

    def timed(run, x: torch.Tensor, t: torch.Tensor, intra_op: int) -> tuple[float, torch.Tensor]:
        torch.set_num_threads(intra_op)
        with torch.inference_mode():
            for _ in range(2):
                out = run(x, t)
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(args.calls):
                    out = run(x, t)
                best = min(best, (time.perf_counter() - started) / args.calls / len(x) * 1e3)
        torch.set_num_threads(threads)
        return best, out

    print(f"toy-heads UNet on the CPU, {threads} intra-op threads; ms per frame-step (lower is better)")
    for batch in args.batch:
        x = torch.randn(batch, *model.latent_shape, generator=torch.Generator().manual_seed(batch))
        x = x.contiguous(memory_format=torch.channels_last)
        t = torch.full((batch,), 500)
        engine, reference = timed(call, x, t, threads)
        rows = [("engine: one call", engine, reference)]
        rows.append(("two lanes of 1 thread", *timed(lanes, x, t, 1)))
        rows.append(("TorchScript, frozen", *timed(_frozen(unet, x, t), x, t, threads)))
        for name, ms, out in rows:
            print(f"batch {batch:3d}  {name:24s} {ms:6.2f} ms  {engine / ms:4.2f}x  "
                  f"largest difference {float((out - reference).abs().max()):.1e}", flush=True)


def _frozen(unet: torch.nn.Module, x: torch.Tensor, t: torch.Tensor):
    """The UNet traced at this batch's shape and frozen (its weights folded in as constants)."""

    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.unet(a, b, return_dict=False)[0]

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diffusers' shape asserts warn while tracing
        return torch.jit.freeze(torch.jit.trace(Plain().eval(), (x, t), check_trace=False))


if __name__ == "__main__":
    main()
