"""`new`, `inspect` and `render` end to end on the tiny trained model."""

import json

import av
import numpy as np
import pytest
from PIL import Image

from latent_studio.cli import main
from latent_studio.core.project_file import load_project


@pytest.fixture()
def project_file(trained_model_dir, tmp_path):
    face = tmp_path / "face.png"
    Image.new("RGB", (40, 30), (200, 120, 90)).save(face)
    path = tmp_path / "p.lsproj"
    code = main(["new", str(path), "--model", str(trained_model_dir), "--device", "cpu", "--image", str(face),
                 "--seed", "4", "--duration", "0.5", "--fps", "24", "--size", "32x32", "--steps", "4"])
    assert code == 0
    return path


def test_new_makes_a_project_with_an_embedded_image_and_a_seed(project_file, capsys):
    project = load_project(project_file)
    kinds = sorted(a.kind for a in project.assets.values())
    assert kinds == ["image", "seed"] and len(project.anchors) == 2
    image = next(a for a in project.assets.values() if a.kind == "image")
    assert 10 < image.psnr < 100 and image.thumbnail.startswith(b"\x89PNG") and image.source == "face.png"
    assert main(["inspect", str(project_file)]) == 0
    out = capsys.readouterr().out
    assert "12 frames" in out and "PSNR" in out and "anchor track (2 keyframes)" in out


def test_render_writes_video_and_frame_list_with_range_and_scale(project_file, trained_model_dir, tmp_path, capsys):
    out = tmp_path / "clip.webm"
    code = main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--device", "cpu",
                 "--range", "2-9", "--scale", "3", "--steps", "3", "--fps", "25"])
    assert code == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(video=0)) == 8
        assert (stream.codec_context.width, stream.codec_context.height) == (48, 48) and stream.average_rate == 25
    frames = json.loads((tmp_path / "clip.webm.json").read_text())["frames"]
    assert [f["frame"] for f in frames] == list(range(2, 10))
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--range", "5-99"], "outside the timeline"),
        (["--range", "five"], "should look like 0-47"),
        (["--format", "avi"], "Unknown format 'avi'"),
        (["--fps", "29"], "29 is not a supported frame rate"),
        (["--size", "1920x1080", "--scale", "2"], "--size or --scale, not both"),
        (["--size", "1921x1080"], "width and height must be even"),
        (["--chunk", "4"], "only apply with --cluster"),
        (["--cluster", "slurm"], "Cluster 'slurm' is not understood"),
        (["--cluster", "ray", "--batch", "2", "--chunk", "3"], "not a multiple of the batch of 2 frames"),
        (["--cluster", "ray", "--chunk", "3"], "not a multiple of the batch of 8 frames"),  # auto: 8 on a cluster
        (["--batch", "many"], "from 1 to 256, or auto"),
        (["--compile", "maybe"], "invalid choice: 'maybe'"),
    ],
)
def test_render_errors_are_one_line_and_write_nothing(project_file, trained_model_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "clip.mp4"
    code = main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--steps", "2", *extra])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "clip.mp4.json").exists()


def test_render_batch_auto_comes_from_free_memory_and_a_failed_compile_still_renders(project_file, trained_model_dir,
                                                                                       tmp_path, monkeypatch, caplog):
    import latent_studio.app.export as export_module
    from latent_studio.engine import batch_size, compilation

    batches = []
    plain_export = export_module.export_project

    def spy(project, model, output, options, **kwargs):
        batches.append(options.batch_size)
        return plain_export(project, model, output, options, **kwargs)

    monkeypatch.setattr(export_module, "export_project", spy)
    monkeypatch.setattr(batch_size, "auto_batch", lambda model: 5)
    monkeypatch.setattr(compilation.torch, "compile", lambda fn, **kw: (_ for _ in ()).throw(RuntimeError("no cc")))
    out = tmp_path / "frames"
    code = main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--device", "cpu",
                 "--steps", "2", "--format", "png", "--compile", "on"])
    assert code == 0 and batches == [5] and len(list(out.glob("frame_*.png"))) == 12
    assert "torch.compile of the denoiser failed (RuntimeError: no cc); decoding without it." in caplog.text
    assert main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--device", "cpu",
                 "--steps", "2", "--format", "png", "--batch", "3", "--compile", "off"]) == 0
    assert batches == [5, 3]


def test_render_on_a_cluster_without_ray_says_how_to_install_it(project_file, trained_model_dir, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.setattr("latent_studio.app.cluster_render.ray_available", lambda: False)
    out = tmp_path / "frames"
    code = main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--cluster", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and 'pip install "latent-studio[cluster]"' in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_render_of_a_broken_project_is_a_clear_error(tmp_path, capsys):
    broken = tmp_path / "broken.lsproj"
    broken.write_bytes(b"PK\x03\x04 not really")
    assert main(["render", str(broken), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "broken.lsproj: not a Latent Studio project" in capsys.readouterr().err


def test_render_set_holds_a_direction_of_the_example_at_a_constant_strength(tmp_path, capsys):
    from latent_studio.core.resources import resources_dir

    example = resources_dir() / "examples" / "head_turn.lsproj"
    before = example.read_bytes()
    out = tmp_path / "frames"
    code = main(["render", str(example), "-o", str(out), "--range", "0-1", "--steps", "2", "--device", "cpu",
                 "--set", "head turn=30", "--set", "Smile=0.5"])
    assert code == 0, capsys.readouterr().err
    project = load_project(example)
    ids = {d.name: d.id for d in project.directions.values()}
    frames = json.loads((out / "frames.json").read_text())["frames"]
    assert [f["strengths"][ids["Head turn"]] for f in frames] == [30.0, 30.0]
    assert [f["strengths"][ids["Smile"]] for f in frames] == [0.5, 0.5]
    assert example.read_bytes() == before  # the project file is not changed


@pytest.mark.parametrize("setting, message", [("Wink=1", "no direction named 'Wink'; its directions: 'Head turn'"),
                                              ("Smile", 'should look like "Head turn=30"'),
                                              ("Smile=nan", "is not a strength"),
                                              ("Head turn=300", "Head turn=300 is outside its range, -60 to 60 degrees"),
                                              ("Smile=-5", "Smile=-5 is outside its range, -0.5 to 1,")])
def test_render_set_errors_are_one_line(tmp_path, capsys, setting, message):
    from latent_studio.core.resources import resources_dir

    out = tmp_path / "clip.mp4"
    code = main(["render", str(resources_dir() / "examples" / "head_turn.lsproj"), "-o", str(out), "--steps", "2",
                 "--set", setting])
    assert code == 2 and message in capsys.readouterr().err and not out.exists()


def test_render_warns_when_its_steps_are_not_those_the_photos_were_embedded_at(tmp_path, capsys):
    """Ada was inverted at 50 steps: at 2 her frame is another face, and the render says so (at 50 it says nothing)."""
    from latent_studio.core.resources import resources_dir

    example = resources_dir() / "examples" / "head_turn.lsproj"
    assert main(["render", str(example), "-o", str(tmp_path / "a"), "--range", "0-0", "--steps", "2"]) == 0
    assert "At 2 steps, photos embedded at other steps will not look like themselves: Ada (50)" in capsys.readouterr().err
    assert load_project(example).settings.final_steps == 50
    assert main(["render", str(example), "-o", str(tmp_path / "b"), "--range", "0-0"]) == 0
    assert "photos embedded at other steps" not in capsys.readouterr().err


def test_render_to_an_hd_size_letterboxes_the_square_frames(project_file, trained_model_dir, tmp_path):
    out = tmp_path / "hd"
    code = main(["render", str(project_file), "-o", str(out), "--model", str(trained_model_dir), "--device", "cpu",
                 "--range", "0-0", "--steps", "2", "--size", "96x48", "--format", "png"])
    assert code == 0
    with Image.open(next(out.glob("frame_*.png"))) as image:
        frame = np.asarray(image)
    assert frame.shape == (48, 96, 3)
    assert frame[:, :24].max() == 0 and frame[:, -24:].max() == 0 and frame[:, 24:72].max() > 0  # black bars, frame centred
    assert json.loads((out / "frames.json").read_text())["fit"] == "fit"


def test_render_draft_is_a_playblast_of_the_canvas_drafts(tmp_path, capsys):
    from latent_studio.core.project import evaluate_frames, frame_latent
    from latent_studio.core.resources import resources_dir
    from latent_studio.engine.decode import decode
    from latent_studio.engine.models import load_model

    example = resources_dir() / "examples" / "head_turn.lsproj"
    out = tmp_path / "frames"
    assert main(["render", str(example), "-o", str(out), "--range", "10-11", "--draft", "--scale", "1", "--device", "cpu"]) == 0
    sidecar = json.loads((out / "frames.json").read_text())
    assert sidecar["draft"] is True and sidecar["steps"] == 0  # one pass of the bundled draft decoder
    project = load_project(example)
    latents = np.stack([frame_latent(project, spec) for spec in evaluate_frames(project, [10, 11])])
    expected = decode(load_model("toy-heads", device="cpu"), latents, 0)
    written = [np.asarray(Image.open(out / f["file"]).convert("RGB")) for f in sidecar["frames"]]
    assert np.abs(np.stack(written).astype(int) - expected).max() <= 1  # batching rounds floats differently
    capsys.readouterr()
    assert main(["render", str(example), "-o", str(tmp_path / "b"), "--draft", "--steps", "5"]) == 2
    assert "--draft or --steps, not both" in capsys.readouterr().err


def test_paste_back_renders_the_face_into_its_photo_at_the_photos_size(trained_model_dir, tmp_path, capsys):
    yy, xx = np.mgrid[0:161, 0:210]
    photo = np.stack([100 + 80 * np.sin(xx / 13.0), 120 + 60 * np.cos(yy / 11.0), 90 + 0 * xx], -1).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "me.png")
    project_path = tmp_path / "p.lsproj"
    assert main(["new", str(project_path), "--model", str(trained_model_dir), "--device", "cpu",
                 "--image", str(tmp_path / "me.png"), "--align", "manual:90,70,120,72,104,100", "--paste-back",
                 "--duration", "0.25", "--fps", "24", "--size", "32x32", "--steps", "4"]) == 0, capsys.readouterr().err
    project = load_project(project_path)
    asset = next(iter(project.assets.values()))
    assert project.settings.paste_back and asset.photo == (tmp_path / "me.png").read_bytes()  # the photo, whole
    out = tmp_path / "frames"
    assert main(["render", str(project_path), "-o", str(out), "--range", "0-1", "--device", "cpu"]) == 0
    sidecar = json.loads((out / "frames.json").read_text())
    assert sidecar["paste_back"] == {"asset": asset.id, "photo_size": [210, 161]} and sidecar["size"] == [210, 160]
    frame = np.asarray(Image.open(out / sidecar["frames"][0]["file"]).convert("RGB"))
    assert frame.shape == (160, 210, 3)  # the photo's size, made even
    # the face's square spans x 42-168, y 11-137 of the photo; beyond it, the photo itself
    np.testing.assert_array_equal(frame[140:, :], photo[140:160, :])
    np.testing.assert_array_equal(frame[:, :38], photo[:160, :38])
    assert np.abs(frame[70:90, 95:115].astype(int) - photo[70:90, 95:115]).mean() > 3  # the face: the model's
    plain = tmp_path / "plain"
    assert main(["render", str(project_path), "-o", str(plain), "--range", "0-0", "--no-paste-back"]) == 0
    assert json.loads((plain / "frames.json").read_text())["size"] == [32, 32]


def test_paste_back_without_an_aligned_face_is_one_sentence(project_file, tmp_path, capsys):
    assert main(["render", str(project_file), "-o", str(tmp_path / "x"), "--paste-back"]) == 2
    assert "Paste-back needs a face on the timeline that was embedded with alignment" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_render_muxes_the_projects_audio_cut_to_the_range(project_file, tmp_path, capsys):
    from fractions import Fraction

    from latent_studio.core.project_file import save_project

    song = tmp_path / "music" / "song.wav"
    song.parent.mkdir()
    t = np.arange(48_000 * 3) / 48_000
    with av.open(str(song), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=48_000, layout="stereo")
        ramp = np.stack([t / 3, t / 3]).astype(np.float32)  # the sample value says where in the song it is
        frame = av.AudioFrame.from_ndarray(ramp, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48_000, 0, Fraction(1, 48_000)
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    out = tmp_path / "a.mp4"
    assert main(["render", str(project_file), "-o", str(out), "--audio", str(song), "--audio-offset", "-1",
                 "--range", "6-11", "--device", "cpu"]) == 0, capsys.readouterr().err
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
    assert abs(len(samples) / 48_000 - 0.25) < 0.05  # frames 6-11 at 24 fps: 0.25 s
    # frame 6 is at 0.25 s on the timeline, which hears 1.25 s into the song (offset -1): the ramp's value there
    middle = samples[len(samples) // 2 - 2000 : len(samples) // 2 + 2000].mean()
    assert abs(middle - (1.25 + 0.125) / 3) < 0.03
    sidecar = json.loads(out.with_name("a.mp4.json").read_text())
    assert sidecar["audio"]["offset"] == -1 and sidecar["audio"]["codec"] == "aac"
    assert load_project(project_file).settings.audio_path == ""  # --audio does not change the project

    project = load_project(project_file)  # now the project's own audio, saved relative to its folder
    from dataclasses import replace
    project.settings = replace(project.settings, audio_path=str(song))
    moved = tmp_path / "p2.lsproj"
    save_project(project, moved)
    with zipfile_manifest(moved) as manifest:
        assert manifest["settings"]["audio_path"] == "music/song.wav"
    assert load_project(moved).settings.audio_path == str(song)
    silent = tmp_path / "silent.mp4"
    assert main(["render", str(moved), "-o", str(silent), "--range", "0-2", "--no-audio"]) == 0
    with av.open(str(silent)) as container:
        assert not container.streams.audio
    song.unlink()
    capsys.readouterr()
    assert main(["render", str(moved), "-o", str(tmp_path / "b.mp4"), "--range", "0-2"]) == 2
    err = capsys.readouterr().err
    assert "song.wav is not there" in err and "export without audio (untick Audio, or --no-audio)" in err
    assert not (tmp_path / "b.mp4").exists()
    assert main(["inspect", str(moved)]) == 0 and "(missing)" in capsys.readouterr().out


def zipfile_manifest(path):
    import contextlib
    import zipfile

    @contextlib.contextmanager
    def opened():
        with zipfile.ZipFile(path) as archive:
            yield json.loads(archive.read("manifest.json"))

    return opened()
