"""The layering of the design notes, checked by machine."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


def test_core_and_media_import_without_torch_or_qt():
    code = (
        "import sys, pkgutil, importlib, latent_studio.core, latent_studio.media\n"
        "for pkg in (latent_studio.core, latent_studio.media):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
        "bad = sorted(n for n in ('torch', 'diffusers', 'PySide6', 'qasync') if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_cli_help_does_not_import_torch():
    code = "import sys; from latent_studio import cli; cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr
