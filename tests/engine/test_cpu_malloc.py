"""The CPU malloc tuning: set once on glibc Linux, left alone when asked or elsewhere, applied when a model loads on the CPU."""

import ctypes

import pytest

from latent_studio.engine import cpu_malloc, models
from latent_studio.engine.cpu_malloc import malloc_tuned, tune_malloc


@pytest.fixture(autouse=True)
def untuned(monkeypatch):
    monkeypatch.setattr(cpu_malloc, "_tuned", False)
    monkeypatch.delenv(cpu_malloc.ENV_VAR, raising=False)


def glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not glibc(), reason="needs glibc's mallopt")
def test_glibc_is_tuned_once_per_process(monkeypatch):
    assert not malloc_tuned() and tune_malloc() is True and malloc_tuned()
    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", lambda name: pytest.fail("tuned a second time"))
    assert tune_malloc() is True


def test_the_environment_can_keep_the_c_library_as_it_is(monkeypatch):
    monkeypatch.setenv(cpu_malloc.ENV_VAR, "default")
    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", lambda name: pytest.fail("touched malloc"))
    assert tune_malloc() is False


def test_other_platforms_and_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(cpu_malloc.sys, "platform", "darwin")
    assert tune_malloc() is False
    monkeypatch.setattr(cpu_malloc.sys, "platform", "linux")

    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", no_glibc)
    assert tune_malloc() is False


def test_a_model_loaded_on_the_cpu_tunes_malloc(monkeypatch, untrained_model_dir):
    calls = []
    monkeypatch.setattr(models, "tune_malloc", lambda: calls.append(True))
    models.load_model(str(untrained_model_dir), device="cpu")
    assert calls == [True]
