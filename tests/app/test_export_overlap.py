"""Export with the writer on its own thread: the same bytes as writing inline, the same errors, nothing left behind."""

import threading

import pytest

from latent_studio.app import export as export_module
from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, OutputError
from latent_studio.media.export import FORMATS, PngSequenceWriter


def no_writer_thread():
    return not [t for t in threading.enumerate() if t.name == "latent-studio-writer"]


@pytest.mark.parametrize("key", ["png", "mp4"])
def test_the_writer_thread_writes_the_bytes_inline_writing_does(untrained_model, project, tmp_path, key):
    fmt = FORMATS[key]
    options = ExportOptions(fmt, batch_size=3)
    inline = export_project(project, untrained_model, tmp_path / f"inline{fmt.suffix}", options, writer_thread=False)
    threaded = export_project(project, untrained_model, tmp_path / f"threaded{fmt.suffix}", options)
    if fmt.suffix:
        assert threaded.path.read_bytes() == inline.path.read_bytes()
    else:
        names = sorted(p.name for p in inline.path.iterdir())
        assert names == sorted(p.name for p in threaded.path.iterdir()) and len(names) == 11  # 10 frames + list
        for name in names:
            assert (threaded.path / name).read_bytes() == (inline.path / name).read_bytes()
    assert threaded.sidecar.read_text().replace("threaded", "inline") == inline.sidecar.read_text()
    assert no_writer_thread()


def test_an_error_in_the_writer_thread_is_the_same_user_error_and_leaves_nothing(untrained_model, project, tmp_path,
                                                                                   monkeypatch):
    written = []
    plain_write = PngSequenceWriter.write

    def failing_write(self, frame):
        if len(written) == 4:
            raise OutputError("Could not write frame_00004.png: No space left on device.")
        written.append(threading.current_thread().name)
        plain_write(self, frame)

    monkeypatch.setattr(PngSequenceWriter, "write", failing_write)
    out = tmp_path / "frames"
    with pytest.raises(OutputError, match="No space left on device"):
        export_project(project, untrained_model, out, ExportOptions(FORMATS["png"], batch_size=2))
    assert set(written) == {"latent-studio-writer"}
    assert list(tmp_path.iterdir()) == [] and no_writer_thread()  # no folder, no temporary, no frame list


def test_the_disk_check_after_the_first_frames_still_stops_the_render(untrained_model, project, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "SIZE_ESTIMATE_AFTER", 3)
    monkeypatch.setattr(export_module, "check_disk_space", lambda *a: (_ for _ in ()).throw(OutputError("disk full")))
    with pytest.raises(OutputError, match="disk full"):
        export_project(project, untrained_model, tmp_path / "clip.mp4", ExportOptions(FORMATS["mp4"], batch_size=2))
    assert list(tmp_path.iterdir()) == [] and no_writer_thread()


def test_a_cancel_while_the_writer_thread_is_behind_removes_the_partial_output(untrained_model, project, tmp_path,
                                                                               monkeypatch):
    slow, plain_write = threading.Event(), PngSequenceWriter.write

    def slow_write(self, frame):
        slow.wait(0.05)  # the writer lags the decode, so frames wait in its queue when the cancel comes
        plain_write(self, frame)

    monkeypatch.setattr(PngSequenceWriter, "write", slow_write)
    token = CancelToken()

    def cancel_after_five(progress):
        if progress.done == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        export_project(project, untrained_model, tmp_path / "frames", ExportOptions(FORMATS["png"], batch_size=2),
                       progress=cancel_after_five, cancel=token)
    assert list(tmp_path.iterdir()) == [] and no_writer_thread()
