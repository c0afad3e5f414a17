"""The .lsproj file: round trips, migration, atomic saves and every kind of bad input."""

import errno
import io
import json
import os
import zipfile

import numpy as np
import pytest

from latent_studio.core import project_file
from latent_studio.core.directions import Direction
from latent_studio.core.errors import OutputError
from latent_studio.core.keyframes import Handle, Interpolation, Keyframe
from latent_studio.core.project import Asset, ModelRef, Project, Settings, StrengthTrack
from latent_studio.core.project_file import ProjectFileError, load_project, project_bytes, project_from_bytes, save_project
from latent_studio.core.seeds import noise_latent

SHAPE = (3, 8, 8)
PNG = b"\x89PNG\r\n\x1a\nfake-thumbnail"


def make_project() -> Project:
    project = Project(ModelRef("toy-heads", "ab" * 32), Settings(fps="23.976", duration=3.0, width=128, height=128))
    project.assets["face1"] = Asset("face1", "image", "Anna", noise_latent(1, SHAPE), "anna.jpg", psnr=41.5, thumbnail=PNG,
                                    metadata={"fit": "crop"})
    project.assets["seed7"] = Asset("seed7", "seed", "Seed 7", noise_latent(7, SHAPE), "seed 7", seed=7)
    project.directions["yaw"] = Direction("Head turn", noise_latent(3, SHAPE), "binned", (-60.0, 60.0), "ab" * 32, "degrees", id="yaw")
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


def test_a_prompt_is_saved_only_when_set_and_read_back():
    from dataclasses import replace

    plain = make_project()
    assert "prompt" not in project_file.manifest(plain)["settings"]  # files without a prompt keep their bytes
    prompted = make_project()
    prompted.settings = replace(prompted.settings, prompt="a portrait", negative_prompt="blur", guidance=4.0)
    loaded = project_from_bytes(project_bytes(prompted))
    assert (loaded.settings.prompt, loaded.settings.negative_prompt, loaded.settings.guidance) == ("a portrait", "blur", 4.0)
    assert loaded.settings.conditioned and not plain.settings.conditioned
    bad = rewrite(project_bytes(prompted), lambda m: m["settings"].update(guidance=0.5))
    with pytest.raises(Exception, match="guidance scale must be between 1 and 30"):
        project_from_bytes(bad)


def test_in_and_out_points_are_saved_only_when_set_cut_by_a_shorter_timeline_and_checked():
    from dataclasses import replace

    plain = make_project()
    assert "in_frame" not in project_file.manifest(plain)["settings"] and not plain.settings.has_work_range
    ranged = make_project()
    ranged.settings = replace(ranged.settings, in_frame=2, out_frame=5)
    assert project_from_bytes(project_bytes(ranged)).settings.work_range == (2, 5)
    shorter = replace(ranged.settings, duration=ranged.settings.frame_time(4))
    assert shorter.work_range == (2, 3)  # the out point beyond the new end is cut to the last frame
    assert replace(shorter, duration=shorter.frame_time(2)).work_range == (0, 1)  # both past the end: the whole timeline
    bad = rewrite(project_bytes(ranged), lambda m: m["settings"].update(out_frame=1))
    with pytest.raises(Exception, match="out point .* must not come before the in point"):
        project_from_bytes(bad)


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
        (lambda m: m["tracks"]["anchor"][0].update(time=2.5), r"keyframes out of order"),
        (lambda m: m["tracks"]["anchor"][1].update(time=-1.0), r"anchor\[1\].time is -1.0; it must be a finite number from 0 to 3600"),
        (lambda m: m["tracks"]["anchor"][1].update(time=1e9), r"anchor\[1\].time is 1000000000.0; it must be a finite"),
        (lambda m: m["tracks"]["strengths"]["yaw"]["keyframes"][0].update(value=1e300), r"value is 1e\+300"),
        (lambda m: m["tracks"]["strengths"]["yaw"]["keyframes"][0].update(out_handle=[1e300, 0]), r"out_handle\[0\] is 1e\+300"),
        (lambda m: m["tracks"]["strengths"]["yaw"].update(base=-1e20), r"base is -1e\+20"),
        (lambda m: m["assets"][0].update(psnr=-5.0), r"psnr is -5.0; it must be a finite number from 0 to 1000"),
        (lambda m: m["assets"][1].update(seed=2**70), r"seed is 1180591620717411303424; it must be"),
        (lambda m: m["directions"][0].update(strength_range=[-1e30, 1]), r"strength_range is -1e\+30"),
        (lambda m: m["settings"].update(duration=1e9), r"at most 3600 seconds"),
        (lambda m: m["assets"][0].update(shape=[3, 8, -8]), r"shape should be 1 to 4 positive whole numbers"),
        (lambda m: m["assets"][0].update(shape=[4096, 4096, 4096]), r"more than a latent can"),
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


def _raw_manifest(change) -> bytes:
    """The archive with manifest.json replaced by raw text made from the good manifest's text."""
    good = project_bytes(make_project())
    text = zipfile.ZipFile(io.BytesIO(good)).read("manifest.json").decode()
    return _replace_member(good, "manifest.json", change(text).encode())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.replace('"time": 2.0', '"time": NaN'), r"manifest.json holds NaN"),
        (lambda t: t.replace('"time": 2.0', '"time": Infinity'), r"manifest.json holds Infinity"),
        (lambda t: t.replace('"time": 2.0', '"time": 1e999'), r"holds the number 1e999, which is out of range"),
        (lambda t: t.replace('"metadata": {', '"deep": ' + "[" * 100_000 + "]" * 100_000 + ', "metadata": {', 1),
         r"nests 100003 levels deep, more than a project manifest can \(32\)"),
        (lambda t: t.replace('"name": "Anna"', '"name": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["'),
         None),  # brackets inside a string do not count
    ],
)
def test_hostile_json_is_refused_in_one_sentence(change, message):
    data = _raw_manifest(change)
    if message is None:
        assert project_from_bytes(data).assets["face1"].name.startswith("[[[")
        return
    with pytest.raises(ProjectFileError, match=message):
        project_from_bytes(data)


def _deflated_zeros(data: bytes, name: str, megabytes: int, declared: bool = True) -> bytes:
    """``data`` with member ``name`` replaced by (or added as) ``megabytes`` MB of deflated zeros."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info))
        with target.open(name, "w", force_zip64=True) as handle:
            for _ in range(megabytes):
                handle.write(bytes(1 << 20))
    return out.getvalue()


def test_a_zip_bomb_is_refused_after_reading_no_more_than_the_manifest_implies(monkeypatch):
    good = project_bytes(make_project())
    bomb = _deflated_zeros(good, "latents.safetensors", 64)  # 64 MB of zeros, 64 KB on disk
    assert len(bomb) < 200_000
    reads = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        handle = real_open(self, name, *args, **kwargs)
        real_read = handle.read
        handle.read = lambda n=-1: reads.append(n) or real_read(n)
        return handle

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(ProjectFileError, match="latents.safetensors claims 67108864 bytes, more than its manifest allows"):
        project_from_bytes(bomb)
    assert reads == [project_file.MAX_MANIFEST_BYTES + 1]  # the manifest, bounded; the latents were never opened


def test_members_the_manifest_does_not_name_are_never_read():
    good = project_bytes(make_project())
    extra = _deflated_zeros(good, "thumbnails/unnamed.png", 40)
    assert project_from_bytes(extra).assets["face1"].thumbnail == PNG


def test_a_thumbnail_is_read_only_up_to_its_cap(monkeypatch):
    monkeypatch.setattr(project_file, "MAX_IMAGE_BYTES", 1 << 20)
    big = _deflated_zeros(project_bytes(make_project()), "thumbnails/face1.png", 2)
    with pytest.raises(ProjectFileError, match=r"thumbnails/face1.png claims 2097152 bytes, more than its manifest allows \(1048576\)"):
        project_from_bytes(big)


def test_all_members_together_stay_under_the_total_cap(monkeypatch):
    monkeypatch.setattr(project_file, "MAX_TOTAL_BYTES", 4096)
    with pytest.raises(ProjectFileError, match="past 0 MiB|more than a project can hold"):
        project_from_bytes(project_bytes(make_project()))


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


def test_an_asset_latent_of_1e30_is_refused_on_load():
    from safetensors.numpy import save

    good = make_project()
    tensors = {f"asset/{a}": v.latent for a, v in good.assets.items()} | {"direction/yaw": good.directions["yaw"].vector}
    tensors["asset/seed7"] = np.full(SHAPE, 1e30, np.float32)
    data = _replace_member(project_bytes(good), "latents.safetensors", save(tensors))
    with pytest.raises(ProjectFileError, match=r"assets\[1\]: its latent has values up to 1e\+30"):
        project_from_bytes(data)


def test_a_directions_fitting_notes_travel_with_the_project_and_an_empty_one_adds_no_bytes():
    from dataclasses import replace

    project = make_project()
    plain = project_bytes(project)
    project.directions["yaw"] = replace(project.directions["yaw"], info={"r2": "0.98", "edit": "window 10"})
    loaded = project_from_bytes(project_bytes(project))
    assert loaded.directions["yaw"].info == {"r2": "0.98", "edit": "window 10"}
    project.directions["yaw"] = replace(project.directions["yaw"], info={})
    assert project_bytes(project) == plain


def test_an_even_pace_table_is_saved_only_when_set_and_checked_on_load():
    from dataclasses import replace

    plain = make_project()
    assert all("pace" not in k for k in project_file.manifest(plain)["tracks"]["anchor"])
    paced = make_project()
    paced.anchors = (replace(paced.anchors[0], pace=(0.0, 0.25, 1.0)),) + paced.anchors[1:]
    assert project_from_bytes(project_bytes(paced)).anchors[0].pace == (0.0, 0.25, 1.0)
    bad = rewrite(project_bytes(paced), lambda m: m["tracks"]["anchor"][0].update(pace=[0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(Exception, match="must rise from 0 to 1"):
        project_from_bytes(bad)


def test_an_aligned_faces_photo_and_the_paste_back_setting_round_trip_and_are_absent_when_unused():
    from dataclasses import replace

    plain = make_project()
    manifest = project_file.manifest(plain)
    assert "paste_back" not in manifest["settings"] and all("photo" not in a for a in manifest["assets"])
    photo = b"\xff\xd8\xff\xe0 a jpeg's bytes, kept as they were read" * 1000
    plain.assets["face1"].photo = photo
    plain.settings = replace(plain.settings, paste_back=True)
    loaded = project_from_bytes(project_bytes(plain))
    assert loaded.assets["face1"].photo == photo and loaded.assets["seed7"].photo is None
    assert loaded.settings.paste_back is True
    missing = rewrite(project_bytes(plain), lambda m: m["assets"][0].update(photo="photos/nothere"))
    with pytest.raises(ProjectFileError, match="names photo photos/nothere, which is not in the archive"):
        project_from_bytes(missing)
    wrong = rewrite(project_bytes(plain), lambda m: m["settings"].update(paste_back="yes"))
    with pytest.raises(ProjectFileError, match="paste_back should be bool"):
        project_from_bytes(wrong)


def test_a_saved_latent_map_round_trips_is_checked_and_is_dropped_without_its_atlas():
    from latent_studio.core.project import SavedMap

    project = make_project()
    project.latent_map = SavedMap("ab" * 32, "pca", np.array([[0.0, 1.0], [0.5, 0.25]], np.float32), (None, 12),
                                  ("face1", None), PNG)
    loaded = project_from_bytes(project_bytes(project))
    assert loaded.latent_map.seeds == (None, 12) and loaded.latent_map.asset_ids == ("face1", None)
    np.testing.assert_array_equal(loaded.latent_map.positions, project.latent_map.positions)
    assert loaded.latent_map.atlas == PNG
    bad = rewrite(project_bytes(project), lambda m: m["latent_map"].update(positions=[[0.0, 2.0], [0.5, 0.25]]))
    with pytest.raises(ProjectFileError, match="between 0 and 1"):
        project_from_bytes(bad)
    assert "latent_map" not in project_file.manifest(make_project())  # none: older files keep their bytes


def test_a_split_direction_travels_with_the_project_and_a_broken_one_is_one_sentence():
    from dataclasses import replace

    from latent_studio.core.directions import DirectionSplit

    project = make_project()
    split = DirectionSplit("Glasses", noise_latent(4, SHAPE), 0.5, 2.0, noise_latent(5, SHAPE), noise_latent(6, SHAPE))
    project.directions["yaw"] = replace(project.directions["yaw"], split=split)
    data = project_bytes(project)
    loaded = project_from_bytes(data).directions["yaw"].split
    assert (loaded.condition, loaded.threshold, loaded.softness) == ("Glasses", 0.5, 2.0)
    for name in ("probe", "absent", "present"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(split, name))
    assert project_bytes(project_from_bytes(data)) == data

    def soften(manifest):
        manifest["directions"][0]["split"]["split_softness"] = "0.0"

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.split: .*softness 0.0 is not usable"):
        project_from_bytes(rewrite(data, soften))


def test_bends_travel_with_the_project_and_a_broken_one_is_one_sentence():
    from dataclasses import replace

    from latent_studio.core.directions import DirectionBend, DirectionSplit

    project = make_project()
    bend = DirectionBend(noise_latent(7, SHAPE), 0.25, noise_latent(8, SHAPE))
    split = DirectionSplit("Glasses", noise_latent(4, SHAPE), 0.5, 2.0, noise_latent(5, SHAPE), noise_latent(6, SHAPE),
                           present_bend=bend)
    project.directions["yaw"] = replace(project.directions["yaw"], split=split)
    data = project_bytes(project)
    loaded = project_from_bytes(data).directions["yaw"]
    assert loaded.split.absent_bend is None and loaded.split.present_bend.offset == 0.25
    np.testing.assert_array_equal(loaded.split.present_bend.curve, bend.curve)
    np.testing.assert_array_equal(loaded.split.present_bend.reading, bend.reading)
    assert project_bytes(project_from_bytes(data)) == data

    def misplace(manifest):
        manifest["directions"][0]["bends"] = {"split/sideways_bend": 0.25}

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.bends: .*'split/sideways_bend', which is not one of its lines"):
        project_from_bytes(rewrite(data, misplace))
    unsplit = make_project()
    unsplit.directions["yaw"] = replace(unsplit.directions["yaw"], bend=bend)
    assert project_from_bytes(project_bytes(unsplit)).directions["yaw"].bend.offset == 0.25


def test_a_split_keep_travels_with_the_project_and_a_broken_one_is_one_sentence():
    from dataclasses import replace

    from latent_studio.core.directions import DirectionKeep, DirectionSplit

    project = make_project()
    keep = DirectionKeep(noise_latent(7, SHAPE), noise_latent(8, SHAPE), noise_latent(9, SHAPE), 60.0, bare=0.4)
    split = DirectionSplit("Glasses", noise_latent(4, SHAPE), 0.5, 2.0, noise_latent(5, SHAPE), noise_latent(6, SHAPE), keep=keep)
    project.directions["yaw"] = replace(project.directions["yaw"], split=split)
    data = project_bytes(project)
    loaded = project_from_bytes(data).directions["yaw"].split.keep
    assert loaded.reach == 60.0 and loaded.bare == 0.4
    for name in ("base", "slope", "curve"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(keep, name))
    assert project_bytes(project_from_bytes(data)) == data

    def unreach(manifest):
        manifest["directions"][0]["split"]["split_keep_reach"] = "-1.0"

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.split: its split's keep has a reach of -1.0; it should be above 0"):
        project_from_bytes(rewrite(data, unreach))


def test_a_restore_travels_with_the_project_and_a_broken_one_is_one_sentence():
    from dataclasses import replace

    from latent_studio.core.directions import DirectionRestore

    project = make_project()
    restore = DirectionRestore("Eye opening", noise_latent(4, SHAPE))
    project.directions["yaw"] = replace(project.directions["yaw"], restore=restore)
    data = project_bytes(project)
    loaded = project_from_bytes(data).directions["yaw"].restore
    assert loaded.factor == "Eye opening"
    np.testing.assert_array_equal(loaded.vector, restore.vector)
    assert project_bytes(project_from_bytes(data)) == data

    def unname(manifest):
        manifest["directions"][0]["restore"]["factor"] = ""

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.restore: its restore's factor should be a name, not ''\.$"):
        project_from_bytes(rewrite(data, unname))
    with_restore = project_file._latents_size(project_file.manifest(project))
    without = project_file._latents_size(project_file.manifest(make_project()))
    assert with_restore - without == 4 * int(np.prod(SHAPE)) + 256  # the size cap counts its tensor
    assert "restore" not in project_file.manifest(make_project())["directions"][0]  # none: older files keep their bytes


def test_a_hold_travels_with_the_project_and_a_broken_one_is_one_sentence():
    from dataclasses import replace

    from latent_studio.core.directions import DirectionHold, DirectionKeep

    project = make_project()
    keep = DirectionKeep(noise_latent(7, SHAPE), noise_latent(8, SHAPE), noise_latent(9, SHAPE), 0.3, bare=0.25)
    hold = DirectionHold("Glasses", "Head turn", noise_latent(4, SHAPE), 0.5, 2.0, noise_latent(5, SHAPE), -3.0, keep)
    project.directions["yaw"] = replace(project.directions["yaw"], hold=hold)
    data = project_bytes(project)
    loaded = project_from_bytes(data).directions["yaw"].hold
    assert (loaded.condition, loaded.lender, loaded.offset, loaded.keep.reach, loaded.keep.bare) == ("Glasses", "Head turn", -3.0, 0.3, 0.25)
    for name in ("probe", "reading"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(hold, name))
    np.testing.assert_array_equal(loaded.keep.slope, keep.slope)
    assert project_bytes(project_from_bytes(data)) == data

    def soften(manifest):
        manifest["directions"][0]["hold"]["softness"] = 0.0

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.hold: its hold has a softness of 0.0; it should be above 0\.$"):
        project_from_bytes(rewrite(data, soften))

    def unbare(manifest):
        manifest["directions"][0]["hold"]["bare"] = 2.0

    with pytest.raises(ProjectFileError, match=r"directions\[0\]\.hold: its hold's keep takes 2.0 off bare sources"):
        project_from_bytes(rewrite(data, unbare))
    # the size cap counts the hold's five latent-shaped tensors
    with_hold = project_file._latents_size(project_file.manifest(project))
    without = project_file._latents_size(project_file.manifest(make_project()))
    assert with_hold - without == 5 * 4 * int(np.prod(SHAPE)) + 256 * 5
    assert "hold" not in project_file.manifest(make_project())["directions"][0]  # none: older files keep their bytes
