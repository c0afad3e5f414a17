"""torch.compile of the denoiser, chosen per model, with eager as the fallback for anything compilation cannot do.

Why here and not in a family: the family seam (``families/base.py``) calls its
denoiser inside ``denoise``; compiling the whole ``denoise`` would specialise on
its Python timestep and recompile every step. Instead the denoiser module's
``forward`` is swapped for a compiled one while ``decode`` runs
(``compiled_denoiser``): the module sees tensors only, families stay untouched,
and everything else that calls the same module (inversion, source attention,
which swaps the module's attention processors) runs it eagerly as before.

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
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")


def should_compile(mode: str, device_type: str) -> bool:
    """``auto`` compiles on CUDA only: on the 2-core CPU it gave no reliable gain (15-20% faster at batch 8 in two
    runs, 9% slower at batch 16 in a third) for 9-54 s of compiling (benchmarks/bench_render.py --compile)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}, not {mode!r}")
    return mode == "on" or (mode == "auto" and device_type == "cuda")


@dataclass
class _Compiled:
    """One denoiser's compiled forward; ``failed`` sends every later call to the eager forward."""

    eager: Callable[..., Any]
    compiled: Callable[..., Any] | None = None
    failed: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                if self.compiled is None:
                    self.compiled = torch.compile(self.eager)  # static, then dynamic on a second batch size
                return self.compiled(*args, **kwargs)
            except torch.cuda.OutOfMemoryError:
                raise  # not a compilation problem: the renderer halves the batch
            except Exception as exc:  # noqa: BLE001 - anything compilation raises: fall back, never fail the render
                self.failed = True
                log.warning("torch.compile of the denoiser failed (%s: %s); decoding without it.",
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "no message")
        return self.eager(*args, **kwargs)


_chosen: weakref.WeakKeyDictionary[torch.nn.Module, _Compiled] = weakref.WeakKeyDictionary()


def set_compile(model: Any, mode: str) -> bool:
    """Choose compilation for ``model``'s denoiser (``auto``, ``on``, ``off``); True when it will be compiled.
    Nothing compiles until the first decode; choosing again after a failure tries again."""
    module = model.family.denoiser
    if should_compile(mode, model.placement.device.type):
        _chosen[module] = _Compiled(type(module).forward.__get__(module))
        return True
    _chosen.pop(module, None)
    return False


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
