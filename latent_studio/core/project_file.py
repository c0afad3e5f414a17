"""The ``.lsproj`` file: one zip holding manifest.json, latents.safetensors and thumbnails/*.png.

Loading never executes code (JSON and safetensors only), reads only the
members it knows, refuses member names that escape the archive, and checks
every field's type, so a broken file gets one sentence that says what is
wrong. Saving is atomic: the archive is written beside the target, synced and
renamed over it, so a crash mid-save leaves the previous file intact. The
manifest is written with sorted keys and the zip with fixed timestamps, so
saving the same project twice gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from latent_studio import __version__
from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.directions import (BEND_TENSORS, HOLD_TENSORS, KEEP_TENSORS, SPLIT_TENSORS, Direction, bend_offsets,
                                          bend_tensors, hold_metadata, hold_tensors, read_hold, read_restore, read_split,
                                          restore_metadata, split_metadata, split_tensors, with_bends)
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import Handle, Interpolation, Keyframe, KeyframeError, check_order, check_pace
from latent_studio.core.latent_math import latent_refusal
from latent_studio.core.project import (
    ASSET_KINDS,
    MAX_DURATION,
    Asset,
    ModelRef,
    Project,
    ProjectError,
    SavedMap,
    Settings,
    StrengthTrack,
)
from latent_studio.core.seeds import MAX_SEED

FORMAT = "latent-studio.project"
SCHEMA_VERSION = 1
SUFFIX = ".lsproj"
MANIFEST = "manifest.json"
LATENTS = "latents.safetensors"
MAP_ATLAS = "map/atlas.png"  # the saved latent map's thumbnails
# Reading is bounded: each member is decompressed only up to the size the manifest implies, then reading stops.
MAX_MANIFEST_BYTES = 4 << 20  # a manifest of thousands of keyframes is well under 1 MiB
MAX_IMAGE_BYTES = 16 << 20  # a thumbnail or an original: one PNG at the model's resolution
MAX_PHOTO_BYTES = 64 << 20  # the photo file an aligned face came from, kept whole for paste-back
MAX_LATENT_VALUES = 1 << 24  # float32 values in one latent or direction (64 MiB)
MAX_TOTAL_BYTES = 512 << 20  # everything read from one project, all members together
MAX_MEMBERS = 10_000
MAX_JSON_DEPTH = 32  # a manifest nests 6 deep
MAX_STRENGTH = 1e4  # direction strengths, their ranges and bezier handle values
MAX_PACE_SAMPLES = 1025  # entries of an even-pace table
MAX_PSNR = 1000.0
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

# schema_version -> function upgrading a manifest of that version to the next one.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


class ProjectFileError(UserError):
    """A project file that cannot be read as a Latent Studio project."""


# ---------------------------------------------------------------- save


def project_bytes(project: Project) -> bytes:
    """The whole .lsproj archive for ``project``, deterministic for equal projects."""
    tensors: dict[str, np.ndarray] = {}
    for asset in project.assets.values():
        tensors[f"asset/{asset.id}"] = np.ascontiguousarray(asset.latent, np.float32)
    for direction in project.directions.values():
        tensors.update(direction_tensors(direction, f"direction/{direction.id}"))
    for key, value in tensors.items():
        if not np.all(np.isfinite(value)):
            raise ProjectError(f"{key.replace('/', ' ')} contains NaN or infinity; the project was not saved.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write_member(archive, MANIFEST, (json.dumps(manifest(project), indent=2, sort_keys=True) + "\n").encode())
        _write_member(archive, LATENTS, st_save(tensors) if tensors else st_save({}), zipfile.ZIP_STORED)
        for asset in sorted(project.assets.values(), key=lambda a: a.id):
            if asset.thumbnail:
                _write_member(archive, f"thumbnails/{asset.id}.png", asset.thumbnail, zipfile.ZIP_STORED)
            if asset.original:
                _write_member(archive, f"originals/{asset.id}.png", asset.original, zipfile.ZIP_STORED)
            if asset.photo:
                _write_member(archive, f"photos/{asset.id}", asset.photo, zipfile.ZIP_STORED)
        if project.latent_map is not None:
            _write_member(archive, MAP_ATLAS, project.latent_map.atlas, zipfile.ZIP_STORED)
    return buffer.getvalue()


def save_project(project: Project, path: Path) -> None:
    """Write atomically (temp file, fsync, rename): the previous file survives any failure. An audio file inside
    the project's folder is referred to relative to it, so the folder can move as a whole."""
    path = Path(path)
    atomic_write_bytes(path, project_bytes(_audio_relative(project, path.parent)))


def _audio_relative(project: Project, folder: Path) -> Project:
    audio = project.settings.audio_path
    if not audio or not Path(audio).is_absolute():
        return project
    try:
        inside = Path(os.path.abspath(audio)).relative_to(Path(os.path.abspath(folder)))
    except ValueError:
        return project  # elsewhere: kept absolute
    return dataclasses.replace(project, settings=dataclasses.replace(project.settings, audio_path=inside.as_posix()))


def _audio_absolute(project: Project, folder: Path) -> Project:
    audio = project.settings.audio_path
    if audio and not Path(audio).is_absolute():
        absolute = os.path.normpath(os.path.join(os.path.abspath(folder), audio))
        project.settings = dataclasses.replace(project.settings, audio_path=absolute)
    return project


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes, compression: int = zipfile.ZIP_DEFLATED) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def manifest(project: Project) -> dict[str, Any]:
    s = project.settings
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "app_version": __version__,
        "model": {"spec": project.model.spec, "content_hash": project.model.content_hash},
        "settings": _settings_fields(s),
        "assets": [
            {
                "id": a.id, "kind": a.kind, "name": a.name, "source": a.source, "seed": a.seed,
                "psnr": a.psnr if a.psnr is not None and math.isfinite(a.psnr) else None,  # inf: identical images
                "shape": list(np.shape(a.latent)), "thumbnail": f"thumbnails/{a.id}.png" if a.thumbnail else None,
                "original": f"originals/{a.id}.png" if a.original else None,
                **({"photo": f"photos/{a.id}"} if a.photo else {}),  # absent when none: older files keep their bytes
                "metadata": dict(a.metadata),
            }
            for a in project.assets.values()  # insertion order is the order of the assets panel
        ],
        "directions": [direction_json(d) for d in project.directions.values()],  # in the order of the sliders
        "tracks": {
            "anchor": [_keyframe_json(k) for k in project.anchors],
            "strengths": {
                d: {"base": t.base, "keyframes": [_keyframe_json(k) for k in t.keyframes]}
                for d, t in sorted(project.strengths.items())
                if not t.is_empty  # an untouched direction has no track: the same document, the same bytes
            },
        },
        **({"latent_map": _map_json(project.latent_map)} if project.latent_map is not None else {}),
    }


def direction_json(d: Direction) -> dict[str, Any]:
    """A direction's manifest entry (its arrays are in ``direction_tensors``)."""
    return {
        "id": d.id, "name": d.name, "method": d.method, "strength_range": list(d.strength_range),
        "model_hash": d.model_hash, "unit": d.unit, "origin": d.origin, "shape": list(np.shape(d.vector)),
        **({"info": dict(d.info)} if d.info else {}),  # absent when empty: older files keep their bytes
        **({"source_attention_from": d.source_attention_from} if d.source_attention_from is not None else {}),
        **({"split": split_metadata(d.split)} if d.split is not None else {}),
        **({"bends": bend_offsets(d)} if d.bends() else {}),
        **({"hold": hold_metadata(d.hold)} if d.hold is not None else {}),
        **({"restore": restore_metadata(d.restore)} if d.restore is not None else {}),
    }


def direction_tensors(d: Direction, key: str) -> dict[str, np.ndarray]:
    """A direction's arrays as a project saves them, under ``key`` (its line) and ``key/...`` (the rest)."""
    tensors = {key: np.ascontiguousarray(d.vector, np.float32)}
    if d.split is not None:
        tensors.update(split_tensors(d.split, f"{key}/"))
    tensors.update(bend_tensors(d, f"{key}/"))
    if d.hold is not None:
        tensors.update(hold_tensors(d.hold, f"{key}/hold/"))
    if d.restore is not None:
        tensors[f"{key}/restore"] = np.ascontiguousarray(d.restore.vector, np.float32)
    return tensors


def direction_digest(d: Direction) -> str:
    """What a direction does, as a short hash: equal for two directions that edit every latent alike and
    read the same on a slider, whatever their id or origin."""
    entry = {k: v for k, v in direction_json(d).items() if k not in ("id", "origin")}
    digest = hashlib.blake2b(json.dumps(entry, sort_keys=True).encode(), digest_size=16)
    for key, value in sorted(direction_tensors(d, "").items()):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value, np.float32).tobytes())
    return digest.hexdigest()


def _map_json(saved: SavedMap) -> dict[str, Any]:
    return {"model_hash": saved.model_hash, "method": saved.method, "atlas": MAP_ATLAS,
            "positions": [[round(float(x), 6), round(float(y), 6)] for x, y in saved.positions],
            "seeds": list(saved.seeds), "asset_ids": list(saved.asset_ids)}


def _keyframe_json(key: Keyframe) -> dict[str, Any]:
    out: dict[str, Any] = {"time": key.time, "value": key.value, "interpolation": key.interpolation.value}
    if key.in_handle is not None:
        out["in_handle"] = [key.in_handle.dt, key.in_handle.dv]
    if key.out_handle is not None:
        out["out_handle"] = [key.out_handle.dt, key.out_handle.dv]
    if key.pace:
        out["pace"] = list(key.pace)
    return out


# ---------------------------------------------------------------- load


def load_project(path: Path) -> Project:
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise ProjectFileError(f"Project {path} does not exist.") from None
    except OSError as exc:
        raise ProjectFileError(f"Project {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        with handle:
            return _audio_absolute(_project_from_file(handle), path.parent)
    except ProjectFileError as exc:
        raise ProjectFileError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise ProjectFileError(f"Project {path} cannot be read: {exc.strerror or exc}.") from None


def project_from_bytes(data: bytes) -> Project:
    return _project_from_file(io.BytesIO(data))


def _project_from_file(handle) -> Project:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise ProjectFileError("not a Latent Studio project (not a zip archive, or truncated).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ProjectFileError(f"the archive holds {len(infos)} members, more than a project can ({MAX_MEMBERS}).")
        members = {info.filename: info for info in infos}
        for name in members:
            _check_member_name(name)
        if MANIFEST not in members:
            raise ProjectFileError("the archive has no manifest.json; it is not a Latent Studio project.")
        budget = _Budget()
        data_manifest = migrate(parse_manifest(_read(archive, members, MANIFEST, MAX_MANIFEST_BYTES, budget)))
        latents_limit = _latents_size(data_manifest)
        latents = _read(archive, members, LATENTS, latents_limit, budget)
        try:
            tensors = st_load(latents)
        except SafetensorError as exc:
            raise ProjectFileError(f"the latents are unreadable ({exc}).") from None
        thumbnails = {  # reconstructions and the originals embedded images were made from: only those the manifest names
            name: _read(archive, members, name, MAX_IMAGE_BYTES, budget)
            for name in _named_images(data_manifest)
            if name in members
        }
        thumbnails.update({name: _read(archive, members, name, MAX_PHOTO_BYTES, budget)
                           for name in _named_photos(data_manifest) if name in members})
        if MAP_ATLAS in members and isinstance(data_manifest, dict) and "latent_map" in data_manifest:
            thumbnails[MAP_ATLAS] = _read(archive, members, MAP_ATLAS, MAX_IMAGE_BYTES, budget)
    try:
        return _build(data_manifest, tensors, thumbnails)
    except (ProjectError, KeyframeError) as exc:
        raise ProjectFileError(str(exc)) from None


def parse_manifest(data: bytes) -> Any:
    """JSON with a nesting limit, and only finite numbers (no NaN, Infinity or 1e999)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectFileError(f"manifest.json is not valid JSON ({exc}).") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ProjectFileError(f"manifest.json nests {depth} levels deep, more than a project manifest can "
                               f"({MAX_JSON_DEPTH}); it is damaged or hostile.")

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise ProjectFileError(f"manifest.json holds the number {token[:40]}, which is out of range.")
        return value

    def constant(token: str) -> float:
        raise ProjectFileError(f"manifest.json holds {token}, which is not a number a project can hold.")

    try:
        return json.loads(text, parse_float=finite, parse_constant=constant)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ProjectFileError(f"manifest.json is not valid JSON ({str(exc)[:200]}).") from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in a JSON text (strings ignored), counted without recursion."""
    brackets = re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    steps = np.frombuffer(brackets.encode("ascii"), np.uint8)
    change = np.where((steps == ord("[")) | (steps == ord("{")), 1, -1)
    return int(np.cumsum(change).max())


class _Budget:
    """Bytes read from one archive so far, against MAX_TOTAL_BYTES."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, name: str, count: int) -> None:
        self.used += count
        if self.used > MAX_TOTAL_BYTES:
            raise ProjectFileError(f"{name} takes the project past {MAX_TOTAL_BYTES >> 20} MiB; it is damaged or hostile.")


def _latent_values(shape: Any, where: str) -> int:
    if not (isinstance(shape, list) and 1 <= len(shape) <= 4
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_LATENT_VALUES for v in shape)):
        raise ProjectFileError(f"{where}.shape should be 1 to 4 positive whole numbers, not {str(shape)[:80]}.")
    values = math.prod(shape)
    if values > MAX_LATENT_VALUES:
        raise ProjectFileError(f"{where}.shape {shape} holds {values} values, more than a latent can ({MAX_LATENT_VALUES}).")
    return values


def _latents_size(raw: dict) -> int:
    """The most bytes latents.safetensors can hold for the shapes the manifest declares (data plus its header)."""
    total, count = 0, 0
    for key in ("assets", "directions"):
        entries = raw.get(key, [])
        if not isinstance(entries, list):
            raise ProjectFileError(f"manifest.{key} should be list, not {type(entries).__name__}.")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ProjectFileError(f"{key}[{i}] should be an object, not {type(entry).__name__}.")
            tensors = 1
            if key == "directions":  # a split's lines, probe and keep, each bend's reading and curve, a hold, a restore
                bends, split = entry.get("bends", {}), entry.get("split")
                tensors += len(HOLD_TENSORS) if entry.get("hold") else 0
                tensors += 1 if entry.get("restore") else 0
                tensors += len(BEND_TENSORS) * (len(bends) if isinstance(bends, dict) else 0)
                if split is not None:
                    kept = isinstance(split, dict) and "split_keep_reach" in split
                    tensors += len(SPLIT_TENSORS) + (len(KEEP_TENSORS) if kept else 0)
            total += 4 * tensors * _latent_values(entry.get("shape"), f"{key}[{i}]")
            count += tensors
    limit = total + 8 + 1024 + 256 * count  # the header: 8 bytes of length, then JSON of about 100 bytes a tensor
    if limit > MAX_TOTAL_BYTES:
        raise ProjectFileError(f"its manifest declares {limit >> 20} MiB of latents, more than a project can hold "
                               f"({MAX_TOTAL_BYTES >> 20} MiB).")
    return limit


def _named_images(raw: dict) -> list[str]:
    names = []
    for entry in raw.get("assets", []):
        for key in ("thumbnail", "original"):
            name = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(name, str) and name.endswith(".png"):
                names.append(name)
    return names


def _named_photos(raw: dict) -> list[str]:
    entries = [entry for entry in raw.get("assets", []) if isinstance(entry, dict)]
    return [entry["photo"] for entry in entries if isinstance(entry.get("photo"), str)
            and entry["photo"].startswith("photos/")]


def _check_member_name(name: str) -> None:
    normal = posixpath.normpath(name)
    if name.startswith(("/", "\\")) or "\\" in name or normal.startswith("..") or ":" in name or normal != name.rstrip("/"):
        raise ProjectFileError(f"the archive holds a path that escapes it ({name!r}); it was not opened.")


def _read(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str, limit: int, budget: _Budget) -> bytes:
    """The member's bytes, decompressing at most ``limit + 1`` of them: a member that inflates further is refused."""
    info = members.get(name)
    if info is None:
        raise ProjectFileError(f"{name} is missing from the archive.")
    if info.file_size > limit:
        raise ProjectFileError(f"{name} claims {info.file_size} bytes, more than its manifest allows ({limit}); "
                               "the file is damaged or hostile.")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)  # reading to the end checks the CRC; a bomb stops here
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ProjectFileError(f"{name} is damaged ({exc}).") from None
    if len(data) > limit:
        raise ProjectFileError(f"{name} inflates beyond the {limit} bytes its manifest allows; the file is damaged or hostile.")
    budget.take(name, len(data))
    return data


def migrate(raw: Any) -> dict:
    """Bring a manifest of any older schema up to ``SCHEMA_VERSION``; refuse newer ones."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ProjectFileError("the manifest is not a Latent Studio project manifest.")
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectFileError(f"the manifest has no valid schema_version ({version!r}).")
    if version > SCHEMA_VERSION:
        raise ProjectFileError(
            f"it was saved by a newer Latent Studio (project schema {version}; this version, {__version__}, "
            f"reads up to {SCHEMA_VERSION}). Update Latent Studio to open it."
        )
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise ProjectFileError(f"no upgrade from project schema {version} is known.")
        raw = MIGRATIONS[version](dict(raw))
        version += 1
        raw["schema_version"] = version
    return raw


class _Fields:
    """Typed access to one JSON object, with messages that name the field's path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ProjectFileError(f"{where} should be an object, not {type(data).__name__}.")
        self.data, self.where = data, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., nullable: bool = False) -> Any:
        if key not in self.data:
            if default is ...:
                raise ProjectFileError(f"{self.where}.{key} is missing.")
            return default
        value = self.data[key]
        if value is None and nullable:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > 1e300:
                raise ProjectFileError(f"{self.where}.{key} is {str(value)[:20]}..., which is out of range.")
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ProjectFileError(f"{self.where}.{key} should be {names}, not {value!r}.")
        return value


_SETTING_TYPES = {"str": str, "float": float, "int": int, "bool": bool}  # Settings' annotations (strings under postponed evaluation)
# written only when set, so older files keep their bytes (and older versions read what they know)
_OPTIONAL_FIELDS = ("prompt", "negative_prompt", "guidance", "in_frame", "out_frame", "paste_back", "audio_path",
                    "audio_offset")


def _settings_fields(settings: Settings) -> dict[str, Any]:
    """The fields as Settings declares them; the optional ones only when they differ from the default."""
    fields = dataclasses.asdict(settings)
    defaults = Settings()
    return {k: v for k, v in fields.items() if k not in _OPTIONAL_FIELDS or v != getattr(defaults, k)}


def _build(raw: dict, tensors: dict[str, np.ndarray], thumbnails: dict[str, bytes]) -> Project:
    top = _Fields(raw, "manifest")
    model = _Fields(top.get("model", dict), "model")
    settings_raw = _Fields(top.get("settings", dict), "settings")
    settings = Settings(**{f.name: settings_raw.get(f.name, _SETTING_TYPES[f.type],
                                                    f.default if f.name in _OPTIONAL_FIELDS else ...)
                           for f in dataclasses.fields(Settings)})
    project = Project(ModelRef(model.get("spec", str), model.get("content_hash", str)), settings)
    for i, entry in enumerate(top.get("assets", list)):
        f = _Fields(entry, f"assets[{i}]")
        asset_id = f.get("id", str)
        kind = f.get("kind", str)
        if kind not in ASSET_KINDS:
            raise ProjectFileError(f"assets[{i}].kind should be one of {', '.join(ASSET_KINDS)}, not {kind!r}.")
        thumbnail_name = _image_member(f, "thumbnail", thumbnails, f"assets[{i}]")
        original_name = _image_member(f, "original", thumbnails, f"assets[{i}]")
        photo_name = _image_member(f, "photo", thumbnails, f"assets[{i}]")
        metadata = f.get("metadata", dict, {})
        project.assets[asset_id] = Asset(
            id=asset_id, kind=kind, name=f.get("name", str),
            latent=_tensor(tensors, f"asset/{asset_id}", f.get("shape", list), f"assets[{i}]"),
            source=f.get("source", str, ""), psnr=_within(f.get("psnr", float, None, nullable=True), 0.0, MAX_PSNR, f"assets[{i}].psnr"),
            seed=_within(f.get("seed", int, None, nullable=True), 0, MAX_SEED, f"assets[{i}].seed"),
            thumbnail=thumbnails.get(thumbnail_name) if thumbnail_name else None,
            metadata={str(k): str(v) for k, v in metadata.items()},
            original=thumbnails.get(original_name) if original_name else None,
            photo=thumbnails.get(photo_name) if photo_name else None,
        )
    for i, entry in enumerate(top.get("directions", list)):
        f = _Fields(entry, f"directions[{i}]")
        direction_id = f.get("id", str)
        low, high = _range(f.get("strength_range", list), f"directions[{i}].strength_range")
        vector = _tensor(tensors, f"direction/{direction_id}", f.get("shape", list), f"directions[{i}]")
        try:
            split = read_split(f.get("split", dict, {}), tensors, f"direction/{direction_id}/", vector.shape)
        except (ValueError, TypeError, KeyError) as exc:
            raise ProjectFileError(f"directions[{i}].split: {exc}.") from exc
        try:
            hold = read_hold(f.get("hold", dict, {}), tensors, f"direction/{direction_id}/hold/", vector.shape)
        except (ValueError, TypeError, KeyError) as exc:
            raise ProjectFileError(f"directions[{i}].hold: {exc}.") from exc
        try:
            restore = read_restore(f.get("restore", dict, {}), tensors, f"direction/{direction_id}/restore", vector.shape)
        except (ValueError, TypeError, KeyError) as exc:
            raise ProjectFileError(f"directions[{i}].restore: {exc}.") from exc
        direction = Direction(
            id=direction_id, name=f.get("name", str), vector=vector, split=split, hold=hold, restore=restore,
            method=f.get("method", str), strength_range=(low, high), model_hash=f.get("model_hash", str),
            unit=f.get("unit", str, ""), origin=f.get("origin", str, "model"),
            info={str(k): str(v) for k, v in f.get("info", dict, {}).items()},
            source_attention_from=_within(f.get("source_attention_from", float, None, nullable=True), 0.0, 1.0,
                                          f"directions[{i}].source_attention_from"),
        )
        try:
            project.directions[direction_id] = with_bends(direction, f.get("bends", dict, {}), tensors, f"direction/{direction_id}/")
        except (ValueError, TypeError) as exc:
            raise ProjectFileError(f"directions[{i}].bends: {exc}.") from exc
    tracks = _Fields(top.get("tracks", dict), "tracks")
    project.anchors = _keyframes(tracks.get("anchor", list), "tracks.anchor", str)
    for key in project.anchors:
        if key.value not in project.assets:
            raise ProjectFileError(f"an anchor at {key.time:g} s names asset {key.value}, which the project does not contain.")
    for direction_id, entry in tracks.get("strengths", dict).items():
        where = f"tracks.strengths.{direction_id}"
        if direction_id not in project.directions:
            raise ProjectFileError(f"{where} belongs to a direction the project does not contain.")
        f = _Fields(entry, where)
        base = _within(f.get("base", float, 0.0), -MAX_STRENGTH, MAX_STRENGTH, f"{where}.base")
        project.strengths[direction_id] = StrengthTrack(_keyframes(f.get("keyframes", list), where, float), base)
    if "latent_map" in raw:
        project.latent_map = _saved_map(_Fields(top.get("latent_map", dict), "latent_map"), thumbnails)
    _check_shapes(project)
    return project


def _saved_map(f: "_Fields", images: dict[str, bytes]) -> SavedMap | None:
    """The saved latent map, or None when its atlas is missing (it is a cache: the map is computed again)."""
    positions = f.get("positions", list)
    seeds, asset_ids = f.get("seeds", list), f.get("asset_ids", list)
    if not (len(positions) == len(seeds) == len(asset_ids)):
        raise ProjectFileError("latent_map: its positions, seeds and asset ids differ in number.")
    try:
        points = np.array(positions, np.float64).reshape(len(positions), 2)
    except (TypeError, ValueError):
        raise ProjectFileError("latent_map.positions should be pairs of numbers.") from None
    if not (np.all(np.isfinite(points)) and np.all((points >= 0) & (points <= 1))):
        raise ProjectFileError("latent_map.positions should lie between 0 and 1.")
    if not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED) for s in seeds):
        raise ProjectFileError("latent_map.seeds should be whole numbers or null.")
    if not all(a is None or isinstance(a, str) for a in asset_ids):
        raise ProjectFileError("latent_map.asset_ids should be asset ids or null.")
    atlas = images.get(MAP_ATLAS)
    if atlas is None:
        return None
    return SavedMap(f.get("model_hash", str), f.get("method", str), points.astype(np.float32), tuple(seeds),
                    tuple(asset_ids), atlas)


def _image_member(f: "_Fields", key: str, images: dict[str, bytes], where: str) -> str | None:
    name = f.get(key, str, None, nullable=True)
    if name is not None:
        _check_member_name(name)
        if name not in images:
            raise ProjectFileError(f"{where} names {key} {name}, which is not in the archive.")
    return name


def _tensor(tensors: dict[str, np.ndarray], key: str, shape: list, where: str) -> np.ndarray:
    if key not in tensors:
        raise ProjectFileError(f"{where}: its latent ({key}) is missing from latents.safetensors.")
    array = tensors[key]
    if list(array.shape) != shape:
        raise ProjectFileError(f"{where}: its latent has shape {list(array.shape)}, but the manifest says {shape}.")
    if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
        raise ProjectFileError(f"{where}: its latent contains NaN or infinite values.")
    problem = latent_refusal(array, "its latent") if key.startswith("asset/") else None
    if problem:
        raise ProjectFileError(f"{where}: {problem}")
    return array.astype(np.float32)


def _within(value, low, high, where: str):
    """``value`` (None passes) if it is a finite number in [low, high]; else one sentence naming the field."""
    if value is not None and not ((isinstance(value, int) or math.isfinite(value)) and low <= value <= high):
        raise ProjectFileError(f"{where} is {value!r}; it must be a finite number from {low:g} to {high:g}.")
    return value


def _handle(value: list | None, where: str) -> Handle | None:
    if value is None:
        return None
    dt, dv = _pair(value, where)
    return Handle(_within(dt, -MAX_DURATION, MAX_DURATION, f"{where}[0]"), _within(dv, -MAX_STRENGTH, MAX_STRENGTH, f"{where}[1]"))


def _range(value: list, where: str) -> tuple[float, float]:
    low, high = _pair(value, where)
    _within(low, -MAX_STRENGTH, MAX_STRENGTH, where)
    _within(high, -MAX_STRENGTH, MAX_STRENGTH, where)
    if not low < high:
        raise ProjectFileError(f"{where} should go from low to high, not {value!r}.")
    return low, high


def _keyframes(entries: list, where: str, value_type: type) -> tuple[Keyframe, ...]:
    keys = []
    for i, entry in enumerate(entries):
        f = _Fields(entry, f"{where}[{i}]")
        interpolation = f.get("interpolation", str)
        try:
            mode = Interpolation(interpolation)
        except ValueError:
            raise ProjectFileError(f"{where}[{i}].interpolation {interpolation!r} is unknown.") from None
        handles = [_handle(f.get(name, list, None, nullable=True), f"{where}[{i}].{name}") for name in ("in_handle", "out_handle")]
        value = f.get("value", value_type)
        if value_type is float:
            _within(value, -MAX_STRENGTH, MAX_STRENGTH, f"{where}[{i}].value")
        keys.append(Keyframe(
            time=_within(f.get("time", float), 0.0, MAX_DURATION, f"{where}[{i}].time"), value=value, interpolation=mode,
            in_handle=handles[0], out_handle=handles[1], pace=_pace(f.get("pace", list, []), f"{where}[{i}].pace"),
        ))
    keyframes = tuple(keys)
    try:
        check_order(keyframes)
    except KeyframeError as exc:
        raise ProjectFileError(f"{where}: {exc}.") from None
    return keyframes


def _pace(value: list, where: str) -> tuple[float, ...]:
    if len(value) > MAX_PACE_SAMPLES or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ProjectFileError(f"{where} should be at most {MAX_PACE_SAMPLES} numbers.")
    pace = tuple(float(v) for v in value)
    try:
        check_pace(pace)
    except KeyframeError as exc:
        raise ProjectFileError(f"{where}: {exc}.") from None
    return pace


def _pair(value: list, where: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 1e300 for v in value)):
        raise ProjectFileError(f"{where} should be two numbers, not {str(value)[:80]}.")
    return float(value[0]), float(value[1])


def _check_shapes(project: Project) -> None:
    shapes = {tuple(a.latent.shape) for a in project.assets.values()} | {tuple(d.vector.shape) for d in project.directions.values()}
    if len(shapes) > 1:
        raise ProjectFileError(f"its latents have different shapes {sorted(shapes)}; they cannot belong to one model.")


# ---------------------------------------------------------------- autosave


def recovery_path(path: Path) -> Path:
    """Where autosave keeps unsaved work for ``path``: a hidden file beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.recovery")


def save_recovery(project: Project, path: Path) -> Path:
    """Autosave: write the project's current state to its recovery file (atomically), never over the project."""
    target = recovery_path(path)
    save_project(project, target)
    return target


def pending_recovery(path: Path) -> Path | None:
    """A recovery file newer than the project (work lost in a crash), or None."""
    target = recovery_path(path)
    if not target.is_file():
        return None
    if Path(path).is_file() and Path(path).stat().st_mtime_ns >= target.stat().st_mtime_ns:
        return None
    return target


def discard_recovery(path: Path) -> None:
    recovery_path(path).unlink(missing_ok=True)
