"""The command line, end to end: outputs appear, errors are one line with exit status 2 and leave nothing."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from latent_studio.cli import main
from latent_studio.core.latent_file import load_latent
from tests.media.test_images import png_header_only

STEPS = "8"


def run_cli(*args, env_extra=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "latent_studio", *map(str, args)], capture_output=True, text=True, env=env)


def test_sample_embed_decode_end_to_end(trained_model_dir, tmp_path):
    model = ["--model", trained_model_dir, "--steps", STEPS, "--device", "cpu"]
    sampled = run_cli("sample", "--seed", 3, "-o", tmp_path / "face.png", "--save-latent", tmp_path / "seed.safetensors", *model)
    assert sampled.returncode == 0, sampled.stderr
    embedded = run_cli("embed", tmp_path / "face.png", "-o", tmp_path / "face.safetensors", "--reconstruction", tmp_path / "rec.png", *model)
    assert embedded.returncode == 0, embedded.stderr
    psnr = float(embedded.stdout.split("reconstruction PSNR ")[1].split(" dB")[0])
    assert psnr >= 35.0
    latent = load_latent(tmp_path / "face.safetensors")
    assert latent.metadata["steps"] == STEPS and latent.metadata["prep_fit"] == "crop"
    assert latent.metadata["clamp_iterations"] == "0"  # what ran: this model does not clip, so no clamp matching
    assert latent.metadata["embedding_mode"] == "inversion" and latent.metadata["fixed_point_iterations"] == "3"
    assert float(latent.metadata["psnr"]) == pytest.approx(psnr, abs=0.01)
    decoded = run_cli("decode", tmp_path / "face.safetensors", "-o", tmp_path / "back.png", "--model", trained_model_dir)
    assert decoded.returncode == 0, decoded.stderr
    back = np.asarray(Image.open(tmp_path / "back.png"))
    np.testing.assert_array_equal(back, np.asarray(Image.open(tmp_path / "rec.png")))  # steps come from the file
    assert "was embedded at" not in decoded.stderr
    other = run_cli("decode", tmp_path / "face.safetensors", "-o", tmp_path / "other.png", "--model", trained_model_dir,
                    "--steps", int(STEPS) + 1)
    assert other.returncode == 0 and f"face.safetensors was embedded at {STEPS} steps; at {int(STEPS) + 1} it will not" in other.stderr


def test_user_error_is_one_line_with_status_2_and_no_traceback(tmp_path):
    result = run_cli("sample", "--seed", 1, "-o", tmp_path / "x.png", "--model", tmp_path / "no-such-model" / "")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("latent-studio: error: Model folder")
    assert not (tmp_path / "x.png").exists()


def test_verbose_shows_the_traceback(tmp_path):
    result = run_cli("sample", "--verbose", "--seed", 1, "-o", tmp_path / "x.png", "--model", tmp_path / "nope" / "")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_info_lists_model_details(trained_model_dir):
    result = run_cli("info", "--model", trained_model_dir, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "16x16 RGB" in result.stdout and "content hash" in result.stdout and "cpu (float32)" in result.stdout


def _broken_model(tmp_path, trained_model_dir):
    folder = shutil.copytree(trained_model_dir, tmp_path / "half")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    return folder


BAD_EMBED_INPUTS = {
    "truncated-png": lambda p: (p / "in.png").write_bytes(_valid_png()[:200]),
    "text-as-png": lambda p: (p / "in.png").write_text("not an image"),
    "empty-file": lambda p: (p / "in.png").write_bytes(b""),
    "bomb": lambda p: (p / "in.png").write_bytes(png_header_only(60000, 60000)),
}


def _valid_png():
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_EMBED_INPUTS))
def test_bad_images_fail_cleanly_via_cli(case, trained_model_dir, tmp_path, capsys):
    BAD_EMBED_INPUTS[case](tmp_path)
    code = main(["embed", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.safetensors"), "--model", str(trained_model_dir), "--steps", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("latent-studio: error:") and err.count("\n") == 1
    assert not (tmp_path / "out.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_half_copied_model_fails_cleanly(trained_model_dir, tmp_path, capsys):
    folder = _broken_model(tmp_path, trained_model_dir)
    code = main(["sample", "--seed", "1", "-o", str(tmp_path / "x.png"), "--model", str(folder)])
    assert code == 2 and "no weights file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_latent_of_wrong_shape_fails_cleanly(trained_model_dir, tmp_path, capsys):
    from latent_studio.core.latent_file import save_latent

    save_latent(tmp_path / "big.safetensors", np.zeros((3, 64, 64), np.float32))
    code = main(["decode", str(tmp_path / "big.safetensors"), "-o", str(tmp_path / "x.png"), "--model", str(trained_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "expects (3, 16, 16)" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("output", ["missing-dir/x.png", "x.jpg"])
def test_bad_output_path_is_refused_before_any_work(trained_model_dir, tmp_path, capsys, output):
    code = main(["sample", "--seed", "1", "-o", str(tmp_path / output), "--model", str(tmp_path / "never-loaded" / "")])
    err = capsys.readouterr().err
    assert code == 2 and ("does not exist; create it" in err or "should end in .png" in err)


def test_existing_output_survives_a_failed_run(trained_model_dir, tmp_path, capsys):
    target = tmp_path / "keep.safetensors"
    target.write_bytes(b"previous work")
    (tmp_path / "in.png").write_text("not an image")
    assert main(["embed", str(tmp_path / "in.png"), "-o", str(target), "--model", str(trained_model_dir)]) == 2
    assert target.read_bytes() == b"previous work"


def test_out_of_range_steps_is_a_user_error(trained_model_dir, tmp_path, capsys):
    code = main(["sample", "--seed", "1", "--steps", "5000", "-o", str(tmp_path / "x.png"), "--model", str(trained_model_dir)])
    assert code == 2 and "5000 is out of range; give a whole number from 1 to 1000" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_no_arguments_opens_the_desktop_app(monkeypatch):
    from latent_studio.cli import gui_command

    opened = []
    monkeypatch.setattr(gui_command, "launch", lambda project, model, quit_early: opened.append((project, model)) or 0)
    assert main([]) == 0
    assert main(["gui", "--model", "toy-heads"]) == 0
    assert opened == [(None, None), (None, "toy-heads")]


def test_gui_refuses_a_missing_project(tmp_path, capsys):
    assert main(["gui", str(tmp_path / "nope.lsproj")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "sample" in out and "gui" in out


def test_without_a_display_the_app_says_so_in_one_sentence(monkeypatch, capsys):
    from latent_studio.cli.gui_command import no_display_sentence

    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["gui"]) == 2
    err = capsys.readouterr().err
    assert "There is no display" in err and "latent-studio render" in err and "Traceback" not in err
    assert no_display_sentence("linux", {"DISPLAY": ":0"}) is None
    assert no_display_sentence("linux", {"QT_QPA_PLATFORM": "offscreen"}) is None
    assert no_display_sentence("win32", {}) is None


def test_embed_aligns_a_face_from_manual_points_and_keeps_the_alignment(trained_model_dir, tmp_path, capsys):
    from tests.media.test_face_align import face_photo

    photo, marks = face_photo((300, 260), (150, 120), 25, 12)
    photo.save(tmp_path / "portrait.png")
    points = ",".join(f"{v:.1f}" for p in (marks.eye_left, marks.eye_right, marks.mouth) for v in p)
    out = tmp_path / "face.safetensors"
    code = main(["embed", str(tmp_path / "portrait.png"), "-o", str(out), "--model", str(trained_model_dir),
                 "--steps", "2", "--align", f"manual:{points}"])
    assert code == 0, capsys.readouterr().err
    metadata = load_latent(out).metadata
    assert metadata["align_source_size"] == "[300, 260]" and "align_quad" in metadata and "prep_fit" not in metadata
    for bad in ("auto", "manual:1,2,3"):
        code = main(["embed", str(tmp_path / "portrait.png"), "-o", str(tmp_path / "x.safetensors"), "--model",
                     str(trained_model_dir), "--align", bad])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and not (tmp_path / "x.safetensors").exists()


def test_fit_demo_directions_only_refits_the_named_ones_and_splits_the_head_turn(trained_model_dir, tmp_path):
    from latent_studio.core.directions import load_direction

    folder = shutil.copytree(trained_model_dir, tmp_path / "model")
    fit = ["fit-demo-directions", "--model", folder, "--scale", "0.05", "--steps", "4", "--no-calibration", "--device", "cpu"]
    first = run_cli(*fit)
    assert first.returncode == 0, first.stderr
    files = sorted((folder / "directions").iterdir())
    before = {f.name: f.read_bytes() for f in files}
    assert [f.name for f in files] == ["01_head_turn.safetensors", "02_smile.safetensors", "03_glasses.safetensors",
                                       "04_hair_hue.safetensors"]
    again = run_cli(*fit, "--only", "Head turn")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("wrote ") == 1 and "01_head_turn.safetensors (Head turn:" in again.stdout
    assert "split by Glasses and keeps it along the edit, bent" in again.stdout
    assert "restores Eye opening" in again.stdout
    assert 'Hair hue still holds Glasses with the previous Head turn\'s keep; fit them together (--only "Head turn,Hair hue")' in again.stdout
    after = {f.name: f.read_bytes() for f in sorted((folder / "directions").iterdir())}
    assert all(after[n] == before[n] for n in before if n != "01_head_turn.safetensors")  # kept byte for byte
    turn = load_direction(folder / "directions" / "01_head_turn.safetensors")
    assert turn.split is not None and turn.split.condition == "Glasses" and turn.split.absent.shape == turn.vector.shape
    assert turn.split.absent_bend is not None and turn.split.present_bend.curve.shape == turn.vector.shape
    assert turn.split.keep is not None and turn.split.keep.base.shape == turn.vector.shape and turn.split.keep.reach > 0
    assert turn.restore.factor == "Eye opening" and turn.restore.vector.shape == turn.vector.shape
    smile = run_cli(*fit, "--only", "Smile")  # made orthogonal to the kept glasses as well as the head turn
    assert smile.returncode == 0, smile.stderr
    refit_smile = load_direction(folder / "directions" / "02_smile.safetensors")
    assert refit_smile.hold.lender == "Head turn" and refit_smile.hold.keep.bare == 1.0  # all of the keep off bare heads
    refit = refit_smile.vector.ravel()
    for kept in ("01_head_turn.safetensors", "03_glasses.safetensors"):
        line = load_direction(folder / "directions" / kept).vector.ravel()
        assert abs(refit @ line) < 1e-4 * np.linalg.norm(refit) * np.linalg.norm(line)
    assert abs(float(np.vdot(turn.restore.vector, turn.vector))) < 1e-3 * np.linalg.norm(turn.restore.vector) * np.linalg.norm(turn.vector)
    assert "holds Glasses with Head turn's keep" in first.stdout.split("04_hair_hue.safetensors")[1]
    hue = run_cli(*fit, "--only", "Hair hue")  # the kept head turn lends its keep
    assert hue.returncode == 0, hue.stderr
    hold = load_direction(folder / "directions" / "04_hair_hue.safetensors").hold
    assert hold.lender == "Head turn" and hold.keep.reach == 0.3 and hold.keep.bare == turn.split.keep.bare
    np.testing.assert_array_equal(hold.probe, turn.split.probe)
    wrong = run_cli(*fit, "--only", "Frown")
    assert wrong.returncode == 2 and "--only takes names among Head turn, Smile, Glasses, Hair hue; not Frown" in wrong.stderr
