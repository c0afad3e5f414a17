"""Writer identity: stale temporaries of dead writers go, a live writer's stay; output locks refuse a second writer."""

import os
import subprocess
import sys

import pytest

from latent_studio.core import writers
from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import OutputError


def dead_identity() -> str:
    """The identity of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = writers.identity(child.pid)
    child.wait()
    return ident if ident.split("-")[1] != "0" else f"{child.pid}-12345"


def test_identity_tells_live_from_dead_and_a_recycled_pid():
    me = writers.identity()
    assert writers.is_alive(me)
    assert not writers.is_alive(dead_identity())
    if me.split("-")[1] != "0":  # where start times are known, our pid with another start time is someone else
        assert not writers.is_alive(f"{os.getpid()}-{int(me.split('-')[1]) + 1}")


def test_the_next_write_removes_dead_writers_temporaries_and_keeps_live_ones(tmp_path):
    dead = dead_identity()
    stale = [tmp_path / f".clip.mp4.{dead}.abc123.part.mp4", tmp_path / f".p.lsproj.{dead}.x_y9.part"]
    for path in stale:
        path.write_bytes(b"half")
    stale_folder = tmp_path / f".frames.{dead}.k2j3.part"
    stale_folder.mkdir()
    (stale_folder / "frame_00000.png").write_bytes(b"x")
    live = tmp_path / f".other.lsproj.{writers.identity()}.qq11.part"
    live.write_bytes(b"being written")
    unrelated = [tmp_path / ".bashrc", tmp_path / f".notes.{dead}.txt", tmp_path / ".old-style.abc.part"]
    for path in unrelated:
        path.write_text("mine")
    atomic_write_bytes(tmp_path / "p.lsproj", b"new")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["p.lsproj", live.name, *(p.name for p in unrelated)])


def test_a_temporary_name_carries_the_writers_identity(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: seen.append(os.path.basename(a)) or real_replace(a, b))
    atomic_write_bytes(tmp_path / "x.bin", b"1")
    assert seen[0].startswith(f".x.bin.{writers.identity()}.") and seen[0].endswith(".part")


def test_a_second_writer_to_the_same_output_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "clip.mp4"
    with writers.output_lock(out) as lock:
        assert lock.name == ".clip.mp4.lock"
        with pytest.raises(OutputError, match=rf"clip.mp4 is being written by another Latent Studio \(process {os.getpid()} on "):
            with writers.output_lock(out):
                pass
        assert lock.exists()
    assert not lock.exists()


def test_a_dead_writers_lock_is_taken_over(tmp_path):
    import socket

    out = tmp_path / "clip.mp4"
    writers.lock_path(out).write_text(f"{dead_identity()} {socket.gethostname()}\n")
    with writers.output_lock(out):
        assert writers.lock_path(out).read_text().startswith(writers.identity())
    assert not writers.lock_path(out).exists()
