"""Rendering a project to every format, read back with PyAV / Pillow; cancels and bad ranges lose nothing."""

import json
import threading

import av
import numpy as np
import pytest
from PIL import Image

from latent_studio.app.export import ExportOptions, export_project
from latent_studio.app.projects import empty_project, place_anchors, seed_asset
from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, OutputError, UserError
from latent_studio.core.directions import Direction
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import Settings, evaluate
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.render import FrameCache, render_frames
from latent_studio.media.export import FORMATS

STEPS = 3


@pytest.fixture()
def project(trained_model):
    project = empty_project(trained_model, Settings(fps="25", duration=0.4, width=32, height=32, final_steps=STEPS))
    for seed in (1, 2):
        asset = seed_asset(trained_model, seed, steps=STEPS)
        project.assets[asset.id] = asset
    place_anchors(project, list(project.assets))
    turn = Direction("Turn", noise_latent(5, trained_model.latent_shape), "test", (-1, 1), trained_model.content_hash, id="turn")
    project.directions["turn"] = turn
    project.editable_track("turn").keyframes = (Keyframe(0.0, -1.0, Interpolation.EASE_IN_OUT), Keyframe(0.4, 1.0))
    return project


VIDEO = {  # format -> (codec read back, pixel format read back)
    "mp4": ("h264", "yuv420p"),
    "mp4-h265": ("hevc", "yuv420p"),
    "prores": ("prores", "yuv422p10le"),
    "prores4444": ("prores", "yuv444p12le"),  # FFmpeg's ProRes decoder outputs 12-bit for 4444
    "webm": ("vp9", "yuv420p"),
}


@pytest.mark.parametrize("key", list(VIDEO))
def test_videos_decode_back_with_the_right_frames_rate_size_codec_and_colour_tags(trained_model, project, tmp_path, key):
    fmt = FORMATS[key]
    out = tmp_path / f"clip{fmt.suffix}"
    result = export_project(project, trained_model, out, ExportOptions(fmt))
    assert result.frames == 10 and out.is_file()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = [f for f in container.decode(video=0)]
        context = stream.codec_context
        assert (context.name, context.pix_fmt) == VIDEO[key]
        assert stream.average_rate == 25 and (context.width, context.height) == (32, 32)
        assert (context.color_primaries, context.color_trc, context.colorspace, context.color_range) == (1, 1, 1, 1)
    assert len(frames) == 10
    sidecar = json.loads(result.sidecar.read_text())
    assert [r["frame"] for r in sidecar["frames"]] == list(range(10))
    assert sidecar["model"]["content_hash"] == trained_model.content_hash and sidecar["steps"] == STEPS
    assert sidecar["frames"][3]["strengths"]["turn"] == pytest.approx(project.track("turn").value_at(3 / 25))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, result.sidecar.name])  # no temp files left


def test_gif_has_every_frame_at_the_project_rate(trained_model, project, tmp_path):
    out = tmp_path / "clip.gif"
    export_project(project, trained_model, out, ExportOptions(FORMATS["gif"], scale=2.0))
    with Image.open(out) as gif:
        assert gif.n_frames == 10 and gif.size == (32, 32) and gif.info["duration"] == 40 and gif.info["loop"] == 0


@pytest.mark.parametrize("key, depth", [("png", 8), ("png16", 16)])
def test_png_sequences_are_numbered_and_exact(trained_model, project, tmp_path, key, depth):
    out = tmp_path / "frames"
    result = export_project(project, trained_model, out, ExportOptions(FORMATS[key], first_frame=2, last_frame=6, first_number=101))
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"frame_{n:05d}.png" for n in range(101, 106)] + ["frames.json"]
    with av.open(str(out / "frame_00101.png")) as png:
        frame = next(png.decode(video=0))
    assert frame.format.name == ("rgb24" if depth == 8 else "rgb48be") and (frame.width, frame.height) == (32, 32)
    sidecar = json.loads(result.sidecar.read_text())
    assert [(r["frame"], r["file"]) for r in sidecar["frames"]][:2] == [(2, "frame_00101.png"), (3, "frame_00102.png")]
    # the written pixels are the renderer's frame, upscaled
    rendered = next(render_frames(trained_model, project, [2], STEPS, bit_depth=depth))
    spec, image = rendered.spec, rendered.image
    assert spec == evaluate(project, 2 / 25)
    written = frame.to_ndarray()
    assert written.dtype == (np.uint8 if depth == 8 else np.uint16)
    nearest = project.settings.upscale == "nearest"
    assert nearest or abs(float(written.mean()) - float(image.mean())) < 0.02 * (255 if depth == 8 else 65535)


def test_render_is_deterministic_and_the_cache_serves_repeats(trained_model, project):
    cache = FrameCache()
    first = [f.image for f in render_frames(trained_model, project, range(10), STEPS, cache=cache, batch_size=4)]
    assert cache.misses == 10 and len(cache) == 10
    again = [f.image for f in render_frames(trained_model, project, range(10), STEPS, cache=cache, batch_size=3)]
    assert cache.hits == 10
    fresh = [f.image for f in render_frames(trained_model, project, range(10), STEPS, batch_size=4)]
    for a, b, c in zip(first, again, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_cache_is_bounded_in_bytes():
    cache = FrameCache(max_bytes=3 * 48)
    for i in range(5):
        cache.put(i, np.full((4, 4, 3), i, np.uint8))
    assert len(cache) == 3 and cache.bytes == 144 and cache.get(0) is None and cache.get(4) is not None


def test_a_cancelled_render_leaves_no_output(trained_model, project, tmp_path):
    token = CancelToken()
    out = tmp_path / "clip.mp4"

    def cancel_after_three(progress):
        if progress.done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        export_project(project, trained_model, out, ExportOptions(FORMATS["mp4"], batch_size=2), progress=cancel_after_three, cancel=token)
    assert list(tmp_path.iterdir()) == []
    frames = tmp_path / "frames"
    with pytest.raises(Cancelled):
        export_project(project, trained_model, frames, ExportOptions(FORMATS["png"], batch_size=2), progress=cancel_after_three,
                       cancel=(token := CancelToken()))
    assert list(tmp_path.iterdir()) == []


def test_bad_ranges_and_destinations_are_refused_before_rendering(trained_model, project, tmp_path):
    calls = []
    with pytest.raises(UserError, match="outside the timeline, which has frames 0-9"):
        export_project(project, trained_model, tmp_path / "a.mp4", ExportOptions(FORMATS["mp4"], first_frame=5, last_frame=12),
                       progress=calls.append)
    with pytest.raises(OutputError, match="does not exist"):
        export_project(project, trained_model, tmp_path / "missing" / "a.mp4", ExportOptions(FORMATS["mp4"]), progress=calls.append)
    with pytest.raises(OutputError, match="should end in .mov"):
        export_project(project, trained_model, tmp_path / "a.mp4", ExportOptions(FORMATS["prores"]), progress=calls.append)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not an empty folder"):
        export_project(project, trained_model, tmp_path / "busy", ExportOptions(FORMATS["png"]), progress=calls.append)
    assert calls == [] and (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_a_full_disk_during_export_removes_the_partial_file(trained_model, project, tmp_path, monkeypatch):
    import os

    real_replace = os.replace

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="No space left on device"):
        export_project(project, trained_model, tmp_path / "a.mp4", ExportOptions(FORMATS["mp4"]))
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_rendering_in_a_thread_can_be_cancelled_from_another(trained_model, project, tmp_path):
    token = CancelToken()
    errors = []

    def run():
        try:
            export_project(project, trained_model, tmp_path / "a.webm", ExportOptions(FORMATS["webm"], batch_size=1),
                           progress=lambda p: token.cancel(), cancel=token)
        except Cancelled as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and len(errors) == 1 and list(tmp_path.iterdir()) == []


EXAMPLES = ["head_turn.lsproj", "morph.lsproj"]


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("key", list(FORMATS))
def test_example_projects_render_to_every_format(example, key, tmp_path):
    from latent_studio.core.project_file import load_project
    from latent_studio.core.resources import bundled_models, resources_dir
    from latent_studio.engine.models import load_model

    root = resources_dir()
    if root is None or not (root / "examples" / example).is_file() or "toy-heads" not in bundled_models():
        pytest.skip("the demo model and its examples are not bundled")
    project = load_project(root / "examples" / example)
    model = _demo_model(load_model)
    fmt = FORMATS[key]
    out = tmp_path / (f"clip{fmt.suffix}" if fmt.suffix else "frames")
    result = export_project(project, model, out, ExportOptions(fmt, last_frame=5, steps=2, scale=1.0))
    if key in VIDEO:
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert sum(1 for _ in container.decode(video=0)) == 6 and stream.average_rate == 24
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == VIDEO[key]
            assert (stream.codec_context.width, stream.codec_context.height) == (64, 64)
            assert stream.codec_context.color_primaries == 1 and stream.codec_context.colorspace == 1
    elif key == "gif":
        with Image.open(out) as gif:
            assert gif.n_frames == 6 and gif.size == (64, 64)
    else:
        assert len(list(out.glob("frame_*.png"))) == 6
    assert result.frames == 6


_DEMO = {}


def _demo_model(load_model):
    if "model" not in _DEMO:
        _DEMO["model"] = load_model("toy-heads", device="cpu")
    return _DEMO["model"]


def test_the_previews_final_frame_is_the_exported_frame(trained_model, project, tmp_path):
    """Preview and export share one pipeline: the same frame comes out as the same bytes."""
    import time as clock

    from latent_studio.app.executor import InferenceExecutor, PreviewRequest
    from latent_studio.core.project import snapshot

    shown = []
    executor = InferenceExecutor(shown.append)
    try:
        executor.load_model(lambda: trained_model).future.result(timeout=30)
        spec = evaluate(project, project.settings.frame_time(3))
        executor.request_preview(PreviewRequest(1, spec, STEPS, snapshot(project), 3))
        deadline = clock.monotonic() + 60
        while not shown:
            assert clock.monotonic() < deadline, "no preview came back"
            clock.sleep(0.01)
    finally:
        assert executor.shutdown(timeout=30)
    result = export_project(project, trained_model, tmp_path / "frames", ExportOptions(FORMATS["png"], scale=1.0))
    record = json.loads(result.sidecar.read_text())["frames"][3]
    written = np.asarray(Image.open(tmp_path / "frames" / record["file"]).convert("RGB"))
    assert record["frame"] == 3 and shown[0].request.key == spec
    np.testing.assert_array_equal(written, shown[0].image)


def test_the_frame_cache_keys_by_content_so_a_changed_asset_is_never_served_stale(trained_model, project):
    from dataclasses import replace

    from latent_studio.core.project import snapshot

    cache = FrameCache()
    first = next(render_frames(trained_model, project, [0], STEPS, cache=cache))
    other = snapshot(project)  # e.g. another project whose asset has the same id
    asset_id = first.spec.anchor.a
    other.assets[asset_id] = replace(other.assets[asset_id], latent=noise_latent(77, trained_model.latent_shape))
    second = next(render_frames(trained_model, other, [0], STEPS, cache=cache))
    assert first.spec == second.spec and not second.cached
    assert not np.array_equal(first.image, second.image)
    assert next(render_frames(trained_model, project, [0], STEPS, cache=cache)).cached


def test_an_out_of_memory_batch_is_halved_and_no_frame_is_lost(trained_model, project, monkeypatch):
    import torch

    from latent_studio.engine import render

    real_decode, failures = render.decode, []

    def decode_that_runs_out_once(model, latents, steps, batch_size, **kwargs):
        if batch_size > 2 and not failures:
            failures.append(batch_size)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_decode(model, latents, steps, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(render, "decode", decode_that_runs_out_once)
    frames = list(render_frames(trained_model, project, range(10), STEPS, batch_size=4))
    assert failures == [4] and [f.index for f in frames] == list(range(10))
