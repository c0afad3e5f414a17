"""Command-line numbers are checked when parsed; outputs never replace a file silently, nor one of the inputs."""

import json
import os

import pytest
from PIL import Image

from latent_studio.cli import main

NO_MODEL = ["--model", "never-loaded-model-folder/"]  # every refusal below happens before a model loads


@pytest.mark.parametrize(
    "argv, message",
    [
        (["new", "p.lsproj", "--seed", "99999999999999999999999"], "from 0 to 9223372036854775807"),
        (["new", "p.lsproj", "--seed", "-1"], "from 0 to 9223372036854775807"),
        (["new", "p.lsproj", "--seed", "1", "--duration", "1e9"], "above 0 and at most 3600"),
        (["new", "p.lsproj", "--seed", "1", "--duration", "nan"], "above 0 and at most 3600"),
        (["new", "p.lsproj", "--seed", "1", "--duration", "0"], "above 0 and at most 3600"),
        (["new", "p.lsproj", "--seed", "1", "--fps", "29"], "choose one of 23.976, 24, 25, 30, 50, 60"),
        (["new", "p.lsproj", "--seed", "1", "--size", "17x16"], "even numbers from 16 to 8192"),
        (["new", "p.lsproj", "--seed", "1", "--size", "99999x64"], "even numbers from 16 to 8192"),
        (["new", "p.lsproj", "--seed", "1", "--size", "big"], "should look like 256x256"),
        (["new", "p.lsproj", "--seed", "1", "--steps", "0"], "from 1 to 1000"),
        (["render", "p.lsproj", "-o", "x.mp4", "--range", "50-10"], "runs backwards"),
        (["render", "p.lsproj", "-o", "x.mp4", "--range", "five"], "should look like 0-47"),
        (["render", "p.lsproj", "-o", "x.mp4", "--scale", "inf"], "above 0 and at most 64"),
        (["render", "p.lsproj", "-o", "x.mp4", "--scale", "0"], "above 0 and at most 64"),
        (["render", "p.lsproj", "-o", "x.mp4", "--batch", "0"], "from 1 to 256"),
        (["render", "p.lsproj", "-o", "x.mp4", "--steps", "1001"], "from 1 to 1000"),
        (["render", "p.lsproj", "-o", "x.mp4", "--fps", "1e400"], "not a supported frame rate"),
        (["sample", "--seed", "1.5", "-o", "x.png"], "'1.5' is not a whole number"),
        (["embed", "in.png", "-o", "x.safetensors", "--refine", "10000000"], "from 0 to 100000"),
    ],
)
def test_bad_numbers_are_one_line_with_the_allowed_range(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("latent-studio: error:") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_new_refuses_an_existing_project_without_force(tmp_path, capsys):
    existing = tmp_path / "p.lsproj"
    existing.write_bytes(b"my work")
    assert main(["new", str(existing), "--seed", "2", *NO_MODEL]) == 2
    assert "already exists; add --force" in capsys.readouterr().err
    assert existing.read_bytes() == b"my work"


def test_new_with_force_replaces_but_never_writes_over_an_input(tmp_path, capsys):
    image = tmp_path / "face.lsproj"  # an odd name, but an input all the same
    image.write_bytes(b"picture")
    assert main(["new", str(image), "--image", str(image), "--force", *NO_MODEL]) == 2
    assert "is also this command's input" in capsys.readouterr().err and image.read_bytes() == b"picture"


def test_embed_refuses_to_write_over_its_own_image_even_with_force(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(photo)
    before = photo.read_bytes()
    link = tmp_path / "also-photo.png"
    os.link(photo, link)  # a hard link: another name, the same inode
    for reconstruction in (photo, link):
        argv = ["embed", str(photo), "-o", str(tmp_path / "l.safetensors"), "--reconstruction", str(reconstruction), "--force"]
        assert main([*argv, *NO_MODEL]) == 2
        assert "is also this command's input" in capsys.readouterr().err
    assert photo.read_bytes() == before


def test_embed_refuses_an_existing_latent_without_force(tmp_path, capsys):
    (tmp_path / "l.safetensors").write_bytes(b"old latent")
    assert main(["embed", str(tmp_path / "in.png"), "-o", str(tmp_path / "l.safetensors"), *NO_MODEL]) == 2
    assert "already exists; add --force" in capsys.readouterr().err
    assert (tmp_path / "l.safetensors").read_bytes() == b"old latent"


@pytest.fixture()
def small_project(untrained_model_dir, tmp_path):
    path = tmp_path / "p.lsproj"
    assert main(["new", str(path), "--model", str(untrained_model_dir), "--device", "cpu", "--seed", "4",
                 "--duration", "0.25", "--size", "16x16", "--steps", "2"]) == 0
    return path


def test_new_with_force_replaces_a_project(small_project, untrained_model_dir):
    before = small_project.read_bytes()
    assert main(["new", str(small_project), "--model", str(untrained_model_dir), "--device", "cpu", "--seed", "5",
                 "--duration", "0.25", "--size", "16x16", "--steps", "2", "--force"]) == 0
    assert small_project.read_bytes() != before


def test_render_replaces_its_own_output_but_no_other_file_without_force(small_project, untrained_model_dir, tmp_path, capsys):
    model = ["--model", str(untrained_model_dir), "--device", "cpu", "--steps", "2"]
    out = tmp_path / "clip.gif"
    assert main(["render", str(small_project), "-o", str(out), *model]) == 0
    assert main(["render", str(small_project), "-o", str(out), "--range", "0-1", *model]) == 0  # an earlier render: replaced
    assert len(json.loads((tmp_path / "clip.gif.json").read_text())["frames"]) == 2
    other = tmp_path / "holiday.gif"
    other.write_bytes(b"GIF89a someone else's")
    capsys.readouterr()
    assert main(["render", str(small_project), "-o", str(other), *model]) == 2
    assert "is not an earlier render" in capsys.readouterr().err and other.read_bytes() == b"GIF89a someone else's"
    assert main(["render", str(small_project), "-o", str(other), "--force", *model]) == 0
    assert other.read_bytes().startswith(b"GIF89a") and (tmp_path / "holiday.gif.json").is_file()


def test_a_file_put_in_place_of_an_earlier_render_is_never_replaced_without_force(small_project, untrained_model_dir,
                                                                                    tmp_path, capsys):
    """A sidecar proves only what the render wrote: an editor's cut saved over the video, sidecar left beside it, stays."""
    model = ["--model", str(untrained_model_dir), "--device", "cpu", "--steps", "2"]
    out = tmp_path / "clip.gif"
    assert main(["render", str(small_project), "-o", str(out), "--range", "0-1", *model]) == 0
    out.write_bytes(b"GIF89a the artist's final cut")
    capsys.readouterr()
    assert main(["render", str(small_project), "-o", str(out), *model]) == 2
    assert "its bytes changed since Latent Studio wrote it" in capsys.readouterr().err
    assert out.read_bytes() == b"GIF89a the artist's final cut"


def test_a_retouched_frame_in_an_earlier_png_sequence_is_never_replaced_without_force(small_project, untrained_model_dir,
                                                                                       tmp_path, capsys):
    model = ["--model", str(untrained_model_dir), "--device", "cpu", "--steps", "2"]
    folder = tmp_path / "frames"
    assert main(["render", str(small_project), "-o", str(folder), "--range", "0-1", *model]) == 0
    frame = sorted(folder.glob("*.png"))[0]
    retouched = frame.read_bytes() + b"painted over"
    frame.write_bytes(retouched)
    capsys.readouterr()
    assert main(["render", str(small_project), "-o", str(folder), *model]) == 2
    assert f"{frame.name} is not a frame it wrote, or changed since" in capsys.readouterr().err
    assert frame.read_bytes() == retouched


def test_render_replaces_its_own_png_sequence_but_not_a_folder_with_other_files(small_project, untrained_model_dir, tmp_path, capsys):
    model = ["--model", str(untrained_model_dir), "--device", "cpu", "--steps", "2"]
    folder = tmp_path / "frames"
    assert main(["render", str(small_project), "-o", str(folder), *model]) == 0
    assert main(["render", str(small_project), "-o", str(folder), "--range", "1-2", "--first-number", "7", *model]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["frame_00007.png", "frame_00008.png", "frames.json"]
    (folder / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["render", str(small_project), "-o", str(folder), "--force", *model]) == 2
    assert "notes.txt is not a frame it wrote" in capsys.readouterr().err and (folder / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_png_sequence_named_like_a_file_is_refused_before_anything_is_written(small_project, untrained_model_dir,
                                                                                 tmp_path, capsys):
    """`-o still.png --format png` would make a folder called still.png with its frame list outside it."""
    model = ["--model", str(untrained_model_dir), "--device", "cpu", "--steps", "2"]
    assert main(["render", str(small_project), "-o", str(tmp_path / "still.png"), "--format", "png", *model]) == 2
    assert "give a folder name without an extension, e.g. still_frames" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [small_project.name]


def test_render_never_writes_over_its_project(small_project, tmp_path, capsys):
    before = small_project.read_bytes()
    assert main(["render", str(small_project), "-o", str(small_project), "--format", "gif", "--force", *NO_MODEL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and small_project.read_bytes() == before
