"""Latent files and atomic writes: bad input is refused clearly and nothing saved is lost."""

import errno
import os

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from latent_studio.core import atomic
from latent_studio.core.errors import LatentFileError, OutputError
from latent_studio.core.latent_file import load_latent, save_latent
from latent_studio.core.seeds import noise_latent


def test_latent_round_trip_keeps_values_and_metadata(tmp_path):
    latent = noise_latent(1, (3, 8, 8))
    save_latent(tmp_path / "a.safetensors", latent, {"model_hash": "abc", "steps": 20})
    loaded = load_latent(tmp_path / "a.safetensors")
    np.testing.assert_array_equal(loaded.latent[0], latent)
    assert loaded.latent.shape == (1, 3, 8, 8)
    assert loaded.metadata["model_hash"] == "abc" and loaded.metadata["steps"] == "20"
    assert loaded.metadata["format"] == "latent-studio.latent"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"this is not safetensors", "not a readable safetensors"),
        (st_save({"other": np.zeros((3, 8, 8), np.float32)}), "no tensor named 'latent'"),
        (st_save({"latent": np.zeros((3, 8, 8), np.int32)}), "must be floating point"),
        (st_save({"latent": np.zeros((8, 8), np.float32)}), "shape (8, 8)"),
        (st_save({"latent": np.full((3, 8, 8), np.nan, np.float32)}), "NaN"),
        (b"PK\x03\x04" + bytes(64), "is a zip archive, such as a Latent Studio project (render one with"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "is an image (make its latent with `latent-studio embed"),
    ],
)
def test_bad_latent_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(LatentFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_latent(path)


def test_truncated_latent_file_is_refused(tmp_path):
    path = tmp_path / "cut.safetensors"
    save_latent(path, noise_latent(1, (3, 8, 8)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(LatentFileError, match="damaged or incompletely copied"):
        load_latent(path)


def test_missing_latent_file(tmp_path):
    with pytest.raises(LatentFileError, match="does not exist"):
        load_latent(tmp_path / "nope.safetensors")


def test_nan_latent_is_not_saved(tmp_path):
    with pytest.raises(LatentFileError):
        save_latent(tmp_path / "n.safetensors", np.full((3, 4, 4), np.nan))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "keep.bin"
    atomic.atomic_write_bytes(target, b"old work")
    with pytest.raises(RuntimeError):
        with atomic.atomic_writer(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old work"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]


def test_full_disk_is_reported_and_loses_nothing(tmp_path, monkeypatch):
    target = tmp_path / "keep.bin"
    atomic.atomic_write_bytes(target, b"old work")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OutputError, match="No space left on device"):
        atomic.atomic_write_bytes(target, b"new work")
    monkeypatch.undo()
    assert target.read_bytes() == b"old work"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]


def test_written_files_get_normal_permissions_and_keep_existing_ones(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    atomic.atomic_write_bytes(tmp_path / "new.bin", b"x")
    # what open() would have made under this umask, not mkstemp's private 0600
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    existing = tmp_path / "shared.bin"
    existing.write_bytes(b"old")
    existing.chmod(0o664)
    atomic.atomic_write_bytes(existing, b"new")
    assert existing.stat().st_mode & 0o777 == 0o664


def test_destination_checks(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        atomic.check_writable_destination(tmp_path / "missing" / "x.png")
    with pytest.raises(OutputError, match="is a folder"):
        atomic.check_writable_destination(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write to read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            atomic.check_writable_destination(folder / "x.png")
    finally:
        folder.chmod(0o700)


def test_unwritable_filesystem_is_reported(tmp_path):
    # /proc refuses new files even for root: the real failure path, not a mock.
    with pytest.raises(OutputError, match="Could not write|not writable"):
        atomic.atomic_write_bytes(atomic.Path("/proc/latent-studio-test.png"), b"x")


def test_a_latent_of_1e30_is_refused_in_one_sentence(tmp_path):
    from safetensors.numpy import save

    from latent_studio.core.errors import LatentFileError
    from latent_studio.core.latent_file import load_latent, save_latent

    path = tmp_path / "huge.safetensors"
    path.write_bytes(save({"latent": np.full((3, 4, 4), 1e30, np.float32)}))
    with pytest.raises(LatentFileError, match=r"values up to 1e\+30, far outside the model's noise"):
        load_latent(path)
    with pytest.raises(LatentFileError, match="Refusing to save it"):
        save_latent(tmp_path / "out.safetensors", np.full((3, 4, 4), 1e30, np.float32))
    assert not (tmp_path / "out.safetensors").exists()


def test_a_signal_right_after_the_temporary_is_made_leaves_no_temporary(tmp_path, monkeypatch):
    """Terminated raised between mkstemp creating the file and the writer knowing its name (a real race under load)."""
    from latent_studio.core.errors import Terminated

    real_mkstemp = atomic.tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        fd, _ = real_mkstemp(*args, **kwargs)
        os.close(fd)
        raise Terminated(15)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_signal)
    target = tmp_path / "p.lsproj"
    target.write_bytes(b"old")
    with pytest.raises(Terminated):
        atomic.atomic_write_bytes(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.lsproj"] and target.read_bytes() == b"old"
