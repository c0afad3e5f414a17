"""torch.compile of the denoiser, chosen per model, with eager as the fallback for anything compilation cannot do.

Why here and not in a family: the family seam (``families/base.py``) calls its
denoiser inside ``denoise``; compiling the whole ``denoise`` would specialise on
its Python timestep and recompile every step. Instead the denoiser module's
``forward`` is swapped for a compiled one while ``decode`` runs
(``compiled_denoiser``): the module sees tensors only, families stay untouched,
and everything else that calls the same module (inversion, source attention,
which swaps the module's attention processors) runs it eagerly as before.

On CUDA the compiled forward replays CUDA graphs (``reduce-overhead``); the
DDIM step consumes each output before the next call overwrites the graph's
buffers. ``auto`` compiles only once a model has spent ``AUTO_EAGER_SECONDS``
decoding eagerly (``CompilePlan`` says why).

A failure to compile (no C++ compiler, an unsupported operation, any
exception from the compiled call) logs one sentence, turns compilation off for
that model and reruns the call eagerly: a render never fails because of it.
Inductor keeps its compiled kernels on disk (``TORCHINDUCTOR_CACHE_DIR``,
else a folder under the temp dir) and never uses the network, so a second
render in a new process compiles from that cache, offline.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")
CUDA_GRAPHS = "reduce-overhead"  # torch.compile's mode that records CUDA graphs
AUTO_EAGER_SECONDS = 30.0  # auto: eager denoiser time a model spends before compiling starts to pay


@dataclass(frozen=True)
class CompilePlan:
    """How a model's denoiser is compiled: torch.compile's ``torch_mode``, after ``eager_seconds`` of eager calls.

    Why CUDA graphs on CUDA: on one H200 in bfloat16 (benchmarks/bench_roofline.py --compile
    default,reduce-overhead) they gave the demo model 3,127 frames/s against 831 compiled without them and
    292 eager (batch 64, 10 steps), and the 256x256 celebahq-shaped UNet 53 against 53 and 20 frames/s, and
    compiled in 15 and 28 s against 29 and 51 s. Why ``auto`` waits: a short render never earns its compile
    back (the 96-frame head-turn example: 3.2 s eager, 9.7 s compiled), so ``auto`` decodes eagerly until
    ``AUTO_EAGER_SECONDS`` of denoiser time were spent, about what a compile costs, and only then compiles: a
    render at most about twice as slow as the better choice, never the short one made slow (the ski-rental
    rule)."""

    torch_mode: str | None = None
    eager_seconds: float = 0.0


def compile_plan(mode: str, device_type: str) -> CompilePlan | None:
    """What ``mode`` (``auto``, ``on``, ``off``) means on ``device_type``; None: stay eager.

    ``auto`` compiles on CUDA only: on the 2-core CPU it gave no reliable gain (15-20% faster at batch 8 in two
    runs, 9% slower at batch 16 in a third) for 9-54 s of compiling (benchmarks/bench_render.py --compile)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}, not {mode!r}")
    if mode == "off" or (mode == "auto" and device_type != "cuda"):
        return None
    torch_mode = CUDA_GRAPHS if device_type == "cuda" else None
    return CompilePlan(torch_mode, AUTO_EAGER_SECONDS if mode == "auto" else 0.0)


@dataclass
class _Compiled:
    """One denoiser's compiled forward: eager calls until the plan's eager seconds are spent, then compiled;
    ``failed`` sends every later call to the eager forward."""

    eager: Callable[..., Any]
    plan: CompilePlan
    spent: float = 0.0  # seconds of eager calls so far
    compiled: Callable[..., Any] | None = None
    failed: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return self.eager(*args, **kwargs)
        if self.compiled is None and self.spent < self.plan.eager_seconds:
            return self._timed_eager(*args, **kwargs)
        try:
            if self.compiled is None:
                self.compiled = torch.compile(self.eager, mode=self.plan.torch_mode)  # static, then dynamic
            return self.compiled(*args, **kwargs)
        except torch.cuda.OutOfMemoryError:
            raise  # not a compilation problem: the renderer halves the batch
        except Exception as exc:  # noqa: BLE001 - anything compilation raises: fall back, never fail the render
            self.failed = True
            log.warning("torch.compile of the denoiser failed (%s: %s); decoding without it.",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "no message")
        return self.eager(*args, **kwargs)

    def _timed_eager(self, *args: Any, **kwargs: Any) -> Any:
        """The call's wall time, unsynchronised: on CUDA that is its launch time until the launch queue fills,
        after which launches wait for the GPU, so over a long render it sums to the GPU's time (a synchronise per
        call would slow every short render)."""
        started = time.perf_counter()
        output = self.eager(*args, **kwargs)
        self.spent += time.perf_counter() - started
        return output


_chosen: weakref.WeakKeyDictionary[torch.nn.Module, _Compiled] = weakref.WeakKeyDictionary()


def set_compile(model: Any, mode: str, torch_mode: str | None = None) -> bool:
    """Choose compilation for ``model``'s denoiser (``auto``, ``on``, ``off``); True when it may be compiled.
    ``torch_mode`` overrides the plan's torch.compile mode ("default", "reduce-overhead", ...; benchmarks compare
    them). Nothing compiles before the first decode (under ``auto``, before its eager budget is spent); choosing
    again after a failure tries again."""
    module = model.family.denoiser
    plan = compile_plan(mode, model.placement.device.type)
    if plan is None:
        _chosen.pop(module, None)
        return False
    if torch_mode is not None:
        plan = CompilePlan(torch_mode, plan.eager_seconds)
    _chosen[module] = _Compiled(type(module).forward.__get__(module), plan)
    return True


def compile_failed(model: Any) -> bool:
    state = _chosen.get(model.family.denoiser)
    return state is not None and state.failed


@contextlib.contextmanager
def compiled_denoiser(model: Any) -> Iterator[None]:
    """While inside, calls of the model's denoiser go through its compiled forward (when one was chosen)."""
    module = model.family.denoiser
    state = _chosen.get(module)
    if state is None or state.failed or "forward" in vars(module):  # not chosen, given up, or already inside
        yield
        return
    module.forward = state
    try:
        yield
    finally:
        del module.forward
