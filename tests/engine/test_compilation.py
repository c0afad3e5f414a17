"""torch.compile of the denoiser: chosen per model, used only inside decode, and any failure decodes eagerly."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled
from latent_studio.core.seeds import noise_latent
from latent_studio.engine import compilation
from latent_studio.engine.compilation import AUTO_EAGER_SECONDS, CUDA_GRAPHS, CompilePlan, compile_failed, compile_plan, set_compile
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model

STEPS = 3


@pytest.fixture()
def model(untrained_model_dir):
    return load_model(str(untrained_model_dir), device="cpu")  # a fresh one per test: the choice is per model


def record_compiled_calls(monkeypatch) -> list[int]:
    """torch.compile replaced by a pass-through that records each compiled call's batch size."""
    calls = []

    def fake_compile(fn, **kwargs):
        def compiled(*args, **kw):
            calls.append(args[0].shape[0])
            return fn(*args, **kw)
        return compiled

    monkeypatch.setattr(compilation.torch, "compile", fake_compile)
    return calls


def latents(model, count=3):
    return np.stack([noise_latent(s, model.latent_shape) for s in range(count)])


@pytest.mark.parametrize("mode, device, expected", [
    ("auto", "cpu", None), ("auto", "mps", None), ("off", "cuda", None),
    ("auto", "cuda", CompilePlan(CUDA_GRAPHS, AUTO_EAGER_SECONDS)),  # CUDA graphs, once compiling pays
    ("on", "cuda", CompilePlan(CUDA_GRAPHS, 0.0)),
    ("on", "cpu", CompilePlan(None, 0.0)),
])
def test_the_plan_per_mode_and_device(mode, device, expected):
    assert compile_plan(mode, device) == expected


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="compile mode"):
        compile_plan("fast", "cpu")


def test_auto_decodes_eagerly_until_its_eager_budget_is_spent(model, monkeypatch):
    """The ski-rental rule: a short render never pays for a compile; a long one compiles once it has spent about
    what compiling costs."""
    expected = decode(model, latents(model), STEPS, batch_size=2)
    readings = iter(range(1000))
    monkeypatch.setattr(compilation, "time", SimpleNamespace(perf_counter=lambda: next(readings) * 0.5))
    monkeypatch.setattr(compilation, "compile_plan", lambda mode, device: CompilePlan(None, 1.0))
    compiled_calls = record_compiled_calls(monkeypatch)
    assert set_compile(model, "auto") is True
    np.testing.assert_array_equal(decode(model, latents(model), STEPS, batch_size=2), expected)
    assert compiled_calls == [2, 1, 1, 1]  # two eager calls of 0.5 s spent the budget; the other four compiled


def test_auto_and_off_leave_the_cpu_model_eager(model, monkeypatch):
    monkeypatch.setattr(compilation.torch, "compile", lambda fn, **kw: pytest.fail("compiled on a CPU under auto"))
    assert set_compile(model, "auto") is False and set_compile(model, "off") is False
    decode(model, latents(model), STEPS)


def test_the_compiled_forward_runs_inside_decode_only(model, monkeypatch):
    expected = decode(model, latents(model), STEPS, batch_size=2)
    calls = record_compiled_calls(monkeypatch)
    assert set_compile(model, "on") is True
    np.testing.assert_array_equal(decode(model, latents(model), STEPS, batch_size=2), expected)
    assert calls == [2] * STEPS + [1] * STEPS  # every UNet call of both batches went through it
    unet = model.family.denoiser
    assert "forward" not in vars(unet)  # outside decode the module is its plain self (inversion, source attention)
    with torch.inference_mode():
        unet(torch.zeros(1, *model.latent_shape), torch.tensor([10]))
    assert len(calls) == 2 * STEPS


def test_a_cancel_inside_decode_puts_the_plain_forward_back(model, monkeypatch):
    monkeypatch.setattr(compilation.torch, "compile", lambda fn, **kw: fn)
    set_compile(model, "on")
    token = CancelToken()
    with pytest.raises(Cancelled):
        decode(model, latents(model), STEPS, progress=lambda done, total: token.cancel(), cancel=token)
    assert "forward" not in vars(model.family.denoiser)


def _raise(*args, **kwargs):
    raise RuntimeError("Compiler: cc not found\nmore detail")


@pytest.mark.parametrize("where", ["torch.compile raises", "the compiled call raises"])
def test_a_failing_compile_decodes_eagerly_with_one_warning(model, monkeypatch, caplog, where):
    expected = decode(model, latents(model), STEPS)
    if where == "torch.compile raises":
        monkeypatch.setattr(compilation.torch, "compile", _raise)
    else:
        monkeypatch.setattr(compilation.torch, "compile", lambda fn, **kw: _raise)
    set_compile(model, "on")
    with caplog.at_level(logging.WARNING, logger=compilation.__name__):
        first = decode(model, latents(model), STEPS)
        second = decode(model, latents(model), STEPS)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    assert compile_failed(model)
    warnings = [r.getMessage() for r in caplog.records if r.name == compilation.__name__]
    assert warnings == ["torch.compile of the denoiser failed (RuntimeError: Compiler: cc not found); "
                        "decoding without it."]


def test_out_of_memory_is_not_taken_for_a_compile_failure(model, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(compilation.torch, "compile", lambda fn, **kw: out_of_memory)
    set_compile(model, "on")
    with pytest.raises(torch.cuda.OutOfMemoryError):  # the renderer halves the batch on it
        decode(model, latents(model), STEPS)
    assert not compile_failed(model)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.*")  # torch's own internals, met while compiling
@pytest.mark.filterwarnings("ignore:.*torch.jit.script_method.*:DeprecationWarning")
def test_really_compiled_frames_match_eager_within_one_grey_level(model):
    z = latents(model, 2)
    expected = decode(model, z, STEPS, batch_size=2)
    set_compile(model, "on")
    compiled = decode(model, z, STEPS, batch_size=2)
    assert not compile_failed(model)
    assert np.abs(compiled.astype(int) - expected.astype(int)).max() <= 1  # the batch-vs-single tolerance
