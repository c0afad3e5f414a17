"""The .lsproj file: round trips, migration, atomic saves and every kind of bad input."""

import errno
import io
import json
import os
import zipfile

import numpy as np
import pytest

from latent_studio.core import project_file
from latent_studio.core.errors import OutputError
from latent_studio.core.keyframes import Handle, Interpolation, Keyframe
from latent_studio.core.project import Asset, DirectionEntry, ModelRef, Project, Settings, StrengthTrack
from latent_studio.core.project_file import ProjectFileError, load_project, project_bytes, project_from_bytes, save_project
from latent_studio.core.seeds import noise_latent

SHAPE = (3, 8, 8)
PNG = b"\x89PNG\r\n\x1a\nfake-thumbnail"


def make_project() -> Project:
    project = Project(ModelRef("toy-heads", "ab" * 32), Settings(fps="23.976", duration=3.0, width=128, height=128))
    project.assets["face1"] = Asset("face1", "image", "Anna", noise_latent(1, SHAPE), "anna.jpg", psnr=41.5, thumbnail=PNG,
                                    metadata={"fit": "crop"})
    project.assets["seed7"] = Asset("seed7", "seed", "Seed 7", noise_latent(7, SHAPE), "seed 7", seed=7)
    project.directions["yaw"] = DirectionEntry("yaw", "Head turn", noise_latent(3, SHAPE), "binned", (-60.0, 60.0), "ab" * 32, "degrees")
    project.anchors = (Keyframe(0.0, "face1", Interpolation.EASE_IN_OUT), Keyframe(2.0, "seed7"))
    project.strengths["yaw"] = StrengthTrack(
        (Keyframe(0.0, -30.0, Interpolation.BEZIER, out_handle=Handle(0.5, 10.0)), Keyframe(3.0, 30.0, in_handle=Handle(-0.5, 0.0))),
        base=0.0,
    )
    return project


def rewrite(data: bytes, change) -> bytes:
    """The same archive with its manifest passed through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            payload = source.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(payload)
                change(manifest)
                payload = json.dumps(manifest).encode()
            target.writestr(info.filename, payload)
    return out.getvalue()


def with_member(data: bytes, name: str, payload: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(name, payload)
    return out.getvalue()


def test_round_trip_keeps_everything_and_bytes_are_stable(tmp_path):
    project = make_project()
    path = tmp_path / "p.lsproj"
    save_project(project, path)
    loaded = load_project(path)
    assert project_file.manifest(loaded) == project_file.manifest(project)
    np.testing.assert_array_equal(loaded.assets["face1"].latent, project.assets["face1"].latent)
    np.testing.assert_array_equal(loaded.directions["yaw"].vector, project.directions["yaw"].vector)
    assert loaded.assets["face1"].thumbnail == PNG and loaded.assets["seed7"].thumbnail is None
    assert loaded.strengths["yaw"].keyframes[0].out_handle == Handle(0.5, 10.0)
    assert project_bytes(loaded) == path.read_bytes()  # save, load, save: identical bytes


def test_older_schema_is_migrated(monkeypatch):
    data = project_bytes(make_project())
    monkeypatch.setattr(project_file, "SCHEMA_VERSION", 2)

    def one_to_two(manifest):
        manifest["settings"]["fps"] = "25"  # stands in for a real upgrade step
        return manifest

    monkeypatch.setattr(project_file, "MIGRATIONS", {1: one_to_two})
    assert project_from_bytes(data).settings.fps == "25"
    monkeypatch.setattr(project_file, "MIGRATIONS", {})
    with pytest.raises(ProjectFileError, match="no upgrade from project schema 1"):
        project_from_bytes(data)


def test_newer_schema_is_refused_with_a_clear_message():
    data = rewrite(project_bytes(make_project()), lambda m: m.update(schema_version=99))
    with pytest.raises(ProjectFileError, match="newer Latent Studio.*schema 99.*Update"):
        project_from_bytes(data)


def test_a_crash_mid_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "p.lsproj"
    save_project(make_project(), path)
    before = path.read_bytes()
    changed = make_project()
    changed.assets["face1"].name = "Changed"

    def crash(*args):
        raise OSError(errno.EIO, "simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OutputError, match="Nothing was written"):
        save_project(changed, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.lsproj"]  # no temp file left behind


def test_a_full_disk_is_reported_and_loses_nothing(tmp_path, monkeypatch):
    path = tmp_path / "p.lsproj"
    save_project(make_project(), path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="No space left on device"):
        save_project(make_project(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_project(path).assets["face1"].name == "Anna"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("settings"), r"manifest.settings is missing"),
        (lambda m: m["settings"].update(width="wide"), r"settings.width should be int, not 'wide'"),
        (lambda m: m["settings"].update(fps="29"), r"Frame rate 29 is not supported"),
        (lambda m: m["assets"][0].update(psnr="high"), r"assets\[0\].psnr should be float"),
        (lambda m: m["assets"][0].pop("name"), r"assets\[0\].name is missing"),
        (lambda m: m["assets"][0].update(kind="video"), r"assets\[0\].kind should be one of"),
        (lambda m: m["assets"][0].update(shape=[3, 4, 4]), r"latent has shape \[3, 8, 8\], but the manifest says \[3, 4, 4\]"),
        (lambda m: m["assets"][0].update(id="ghost"), r"its latent \(asset/ghost\) is missing"),
        (lambda m: m["tracks"]["anchor"][1].update(value="nobody"), r"names asset nobody"),
        (lambda m: m["tracks"]["anchor"][1].update(time=0.0), r"two keyframes at the same time"),
        (lambda m: m["tracks"]["anchor"][1].update(time=-1.0), r"keyframes out of order"),
        (lambda m: m["tracks"]["anchor"][0].update(interpolation="wobble"), r"interpolation 'wobble' is unknown"),
        (lambda m: m["tracks"]["strengths"].update(other={"keyframes": []}), r"direction the project does not contain"),
        (lambda m: m["directions"][0].update(strength_range=[5, 1]), r"from low to high"),
        (lambda m: m["assets"][0].update(thumbnail="../../etc/passwd"), r"escapes it"),
        (lambda m: m["assets"][0].update(thumbnail="thumbnails/none.png"), r"not in the archive"),
        (lambda m: m.update(format="something else"), r"not a Latent Studio project manifest"),
    ],
)
def test_bad_manifests_get_one_clear_sentence(change, message):
    data = rewrite(project_bytes(make_project()), change)
    with pytest.raises(ProjectFileError, match=message):
        project_from_bytes(data)


def test_damaged_archives(tmp_path):
    good = project_bytes(make_project())
    cases = {
        "truncated": good[: len(good) // 2],
        "not a zip": b"hello",
        "no manifest": _zip({"latents.safetensors": b""}),
        "bad json": with_member(_zip({}), "manifest.json", b"{not json"),
        "escape": with_member(good, "../outside.txt", b"x"),
    }
    messages = {}
    for name, data in cases.items():
        path = tmp_path / f"{name}.lsproj"
        path.write_bytes(data)
        with pytest.raises(ProjectFileError) as info:
            load_project(path)
        messages[name] = str(info.value)
        assert messages[name].startswith(f"{name}.lsproj: ")
    assert "truncated" in messages["truncated"] and "escapes" in messages["escape"]
    assert "no manifest.json" in messages["no manifest"] and "not valid JSON" in messages["bad json"]
    with pytest.raises(ProjectFileError, match="does not exist"):
        load_project(tmp_path / "missing.lsproj")


def test_nan_latents_are_refused_on_load_and_on_save():
    project = make_project()
    project.assets["seed7"].latent = np.full(SHAPE, np.nan, np.float32)
    with pytest.raises(Exception, match="NaN"):
        project_bytes(project)
    from safetensors.numpy import save

    good = make_project()
    tensors = {f"asset/{a}": v.latent for a, v in good.assets.items()} | {"direction/yaw": good.directions["yaw"].vector}
    tensors["asset/seed7"] = np.full(SHAPE, np.nan, np.float32)
    data = _replace_member(project_bytes(good), "latents.safetensors", save(tensors))
    with pytest.raises(ProjectFileError, match="NaN"):
        project_from_bytes(data)


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return out.getvalue()


def _replace_member(data: bytes, name: str, payload: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    return _zip({i.filename: (payload if i.filename == name else source.read(i)) for i in source.infolist()})


def test_autosave_keeps_unsaved_work_beside_the_project_and_never_touches_it(tmp_path):
    import time

    from latent_studio.core.project_file import discard_recovery, pending_recovery, save_recovery

    path = tmp_path / "p.lsproj"
    save_project(make_project(), path)
    saved = path.read_bytes()
    assert pending_recovery(path) is None
    time.sleep(0.01)
    edited = make_project()
    edited.assets["face1"].name = "Unsaved"
    recovery = save_recovery(edited, path)
    assert path.read_bytes() == saved and recovery.name == ".p.lsproj.recovery"
    assert pending_recovery(path) == recovery and load_project(recovery).assets["face1"].name == "Unsaved"
    discard_recovery(path)
    assert pending_recovery(path) is None
