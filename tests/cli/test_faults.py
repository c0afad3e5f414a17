"""Fault injection: writers killed at random moments lose nothing, and no temporary survives the next write."""

import os
import random
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest

from latent_studio.cli import main
from latent_studio.core.atomic import atomic_write_bytes
from tests.core.test_writers import dead_identity

SAVE_LOOP = """
import sys
from argparse import Namespace
from latent_studio.cli import run_command
from latent_studio.core.atomic import atomic_write_bytes

target, versions = sys.argv[1], [open(p, "rb").read() for p in sys.argv[2:]]

def loop(args):
    print("ready", flush=True)
    i = 0
    while True:
        atomic_write_bytes(target, versions[i % 2])
        i += 1

sys.exit(run_command(Namespace(command="save", verbose=False), loop))
"""


def _temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_saves_killed_at_random_moments_leave_old_or_new_bytes_and_no_temporary(tmp_path):
    rng = np.random.default_rng(0)
    old, a, b = (rng.bytes(4 << 20) for _ in range(3))
    (tmp_path / "a.bin").write_bytes(a)
    (tmp_path / "b.bin").write_bytes(b)
    work = tmp_path / "work"
    work.mkdir()
    target = work / "p.lsproj"
    target.write_bytes(old)
    chance = random.Random(21)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for signum in (signal.SIGTERM, signal.SIGKILL, signal.SIGHUP, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        left_before = set(_temporaries(work))  # a killed predecessor's, until the child's first write removes it
        child = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(target), str(tmp_path / "a.bin"), str(tmp_path / "b.bin")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(chance.uniform(0.0, 0.25))
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
        assert target.read_bytes() in (old, a, b)
        if signum == signal.SIGKILL:
            assert child.returncode == -signal.SIGKILL and len(_temporaries(work)) <= 1
        else:  # the handler unwinds: the temporary goes, one sentence, 128 + n
            assert child.returncode == 128 + signum, err
            assert err.count("\n") == 1 and err.startswith(f"latent-studio: stopped by {signum.name};"), err
            assert set(_temporaries(work)) <= left_before  # its own is gone (signalled before its first write: nothing new)
    atomic_write_bytes(work / "next.bin", b"the next write")
    assert _temporaries(work) == []


def test_the_next_render_removes_temporaries_of_killed_renders(tmp_path):
    from latent_studio.media.export import FORMATS, open_writer

    dead = dead_identity()
    for i in range(3):
        (tmp_path / f".clip.gif.{dead}.r{i}.part.gif").write_bytes(b"GIF89a half")
    (tmp_path / f".frames.{dead}.q1.part").mkdir()
    writer = open_writer(tmp_path / "clip.gif", FORMATS["gif"], Fraction(24), (16, 16))
    writer.write(np.zeros((16, 16, 3), np.uint8))
    writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]


@pytest.fixture()
def long_project(untrained_model_dir, tmp_path):
    path = tmp_path / "p.lsproj"
    assert main(["new", str(path), "--model", str(untrained_model_dir), "--device", "cpu", "--seed", "4", "--seed", "5",
                 "--duration", "4", "--size", "16x16", "--steps", "2"]) == 0
    return path


def test_sigterm_during_a_png_render_removes_the_partial_folder_and_exits_143(long_project, untrained_model_dir, tmp_path):
    out = tmp_path / "frames"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), HF_HUB_OFFLINE="1")
    child = subprocess.Popen([sys.executable, "-m", "latent_studio", "render", str(long_project), "-o", str(out),
                              "--model", str(untrained_model_dir), "--device", "cpu", "--steps", "200", "--batch", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".frames.") and p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert err.splitlines()[-1].startswith("latent-studio: stopped by SIGTERM; no half-written file is left")
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.lsproj"]


def test_ctrl_c_while_the_command_is_still_importing_is_one_sentence(monkeypatch, capsys):
    """Ctrl+C in the first second lands in numpy's or torch's import: exit 130 and one line, not a traceback."""
    import types

    from latent_studio.entry import main as entry_main

    class Interrupted(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "latent_studio.cli", Interrupted("latent_studio.cli"))
    assert entry_main() == 130
    assert capsys.readouterr().err == "latent-studio: cancelled while starting; nothing was written.\n"
