"""Build the PyInstaller bundle from this checkout and run its self-test and start-up check with no display.

Slow (a few minutes: PyInstaller analyses torch); CI runs it. The build script
itself prints the bundle's size and start-up time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_bundle_builds_and_passes_its_self_test_without_a_display(tmp_path):
    pytest.importorskip("PyInstaller")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHON=sys.executable, DIST=str(tmp_path / "dist"), WORK=str(tmp_path / "work"))
    result = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=1800)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "self-test passed" in out and "FAIL" not in out
    assert "first frame on the canvas after" in out
    bundle = tmp_path / "dist" / "latent-studio"
    assert (bundle / "_internal" / "resources" / "models" / "toy-heads").is_dir()
    ours = {"conftest.py", "test_main_window.py", "test_bundle.py", "test_project_file.py"}
    assert not [p for p in bundle.rglob("*.py") if p.name in ours], "no test files of ours in the bundle"
    weights = [p for p in bundle.rglob("*.safetensors") if "resources" not in p.parts]
    assert not weights, f"model weights outside resources/: {weights}"
    print(next(line for line in out.splitlines() if line.startswith("bundle size")))
    if importlib.util.find_spec("transformers") is not None:  # built with the text extra: Stable Diffusion loads
        from tests.engine.test_stable_diffusion_family import save_tiny_sd

        model = save_tiny_sd(tmp_path / "models" / "tiny-sd")
        info = subprocess.run([str(bundle / "latent-studio"), "info", "--model", str(model)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert info.returncode == 0 and "32x32 RGB Stable Diffusion" in info.stdout, info.stdout + info.stderr
