"""Export guards on the untrained tiny model (no training needed): disk space, the output lock, truthful messages,
and the streaming GIF writer."""

import numpy as np
import pytest
from PIL import Image

from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.errors import OutputError
from latent_studio.media.export import FORMATS


def test_a_render_that_will_not_fit_on_the_disk_stops_after_the_first_frames(untrained_model, project, tmp_path, monkeypatch):
    from collections import namedtuple

    from latent_studio.app import export as export_module

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(export_module.shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 100, 100))
    out = tmp_path / "clip.gif"
    with pytest.raises(OutputError, match=r"clip.gif would need about .* MB more for its 10 frames, but only 0 MB are free"):
        export_project(project, untrained_model, out, ExportOptions(FORMATS["gif"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert export_project(project, untrained_model, out, ExportOptions(FORMATS["gif"])).frames == 10


def test_a_second_render_to_the_same_output_is_refused_while_the_first_runs(untrained_model, project, tmp_path):
    from latent_studio.core.writers import output_lock

    out = tmp_path / "clip.mp4"
    with output_lock(out):  # stands in for another render of this output still running
        with pytest.raises(OutputError, match="clip.mp4 is being written by another Latent Studio"):
            export_project(project, untrained_model, out, ExportOptions(FORMATS["mp4"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_sidecar_that_cannot_be_written_is_reported_truthfully(untrained_model, project, tmp_path, monkeypatch):
    import errno

    from latent_studio.app import export as export_module

    def full(path, data):
        raise OutputError(f"Could not write {path}: No space left on device. Nothing was written.") from OSError(
            errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module, "atomic_write_bytes", full)
    out = tmp_path / "clip.gif"
    with pytest.raises(OutputError) as info:
        export_project(project, untrained_model, out, ExportOptions(FORMATS["gif"]))
    assert "was written and is complete, but its frame list clip.gif.json could not be (No space left on device)" in str(info.value)
    assert "Nothing was written" not in str(info.value) and out.is_file()


def test_a_long_gif_is_streamed_with_one_palette(tmp_path):
    from fractions import Fraction

    from latent_studio.media.export import GifWriter

    rng = np.random.default_rng(0)
    frames = [np.repeat(np.repeat(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), 8, 0), 8, 1) for _ in range(20)]
    writer = GifWriter(tmp_path / "clip.gif", Fraction(25))
    for i, frame in enumerate(frames):
        writer.write(frame)
        assert len(writer.pending) <= GifWriter.PALETTE_FRAMES  # only the palette's frames ever wait in memory
        if i >= GifWriter.PALETTE_FRAMES:
            assert writer.pending == []
    writer.finish()
    with Image.open(tmp_path / "clip.gif") as gif:
        assert gif.n_frames == 20 and gif.info["loop"] == 0 and gif.info["duration"] == 40
        for i in (0, 19):
            gif.seek(i)
            error = np.abs(np.asarray(gif.convert("RGB"), np.int16) - frames[i]).mean()
            assert error < 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]
