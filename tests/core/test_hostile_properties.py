"""Property-based: random manifests, latent files and command-line numbers give a valid result or one UserError.

Never another exception (no RecursionError, ValueError, MemoryError, ...). Kept fast: a few seconds per test.
"""

import io
import json
import math
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as st_save

from latent_studio.core.errors import UserError
from latent_studio.core.latent_file import load_latent
from latent_studio.core.project import Project
from latent_studio.core.project_file import project_bytes, project_from_bytes
from tests.core.test_project_file import make_project

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOD = project_bytes(make_project())
GOOD_MANIFEST = json.loads(zipfile.ZipFile(io.BytesIO(GOOD)).read("manifest.json"))

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["linear", "hold", "bezier", "seed", "image", "24", "face1", "yaw", "thumbnails/face1.png", "../x"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)


def _paths(value, prefix=()):
    """Every path to a value inside the manifest."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


PATHS = [p for p in _paths(GOOD_MANIFEST) if p]


def _with_manifest(text: str) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(GOOD))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, text.encode() if info.filename == "manifest.json" else source.read(info))
    return out.getvalue()


def _opens_or_one_user_error(data: bytes) -> None:
    try:
        project = project_from_bytes(data)
    except UserError as exc:  # the CLI prints it on one line, whatever the file held
        assert str(exc).strip()
        return
    assert isinstance(project, Project)
    for key in project.anchors:
        assert math.isfinite(key.time)
    assert math.isfinite(project.settings.duration) and project.settings.frame_count < 10**6


@FAST
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=4))
def test_a_manifest_with_random_fields_replaced_opens_or_is_one_user_error(edits):
    manifest = json.loads(json.dumps(GOOD_MANIFEST))
    for path, value in edits:
        node = manifest
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this place
    _opens_or_one_user_error(_with_manifest(json.dumps(manifest, allow_nan=True)))


@FAST
@given(text=st.one_of(st.text(max_size=200), json_values.map(lambda v: json.dumps(v, allow_nan=True)),
                      st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)))
def test_any_manifest_text_opens_or_is_one_user_error(text):
    _opens_or_one_user_error(_with_manifest(text))


@FAST
@given(data=st.binary(max_size=300), cut=st.integers(0, len(GOOD)))
def test_random_and_truncated_archives_are_one_user_error(data, cut):
    _opens_or_one_user_error(data)
    _opens_or_one_user_error(GOOD[:cut] + data)


def _array(shape, dtype, fill, seed):
    with np.errstate(all="ignore"):  # casting 1e30 to float16 or NaN to int overflows: that is the point
        return (np.random.default_rng(seed).standard_normal(shape) * fill).astype(dtype)


latent_arrays = st.builds(
    _array,
    st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple),
    st.sampled_from([np.float32, np.float16, np.float64, np.int32, np.uint8]),
    st.sampled_from([1.0, 0.0, 1e-6, 1e4, 1e30, float("nan"), float("inf")]),
    st.integers(0, 1000),
)


@FAST
@given(array=latent_arrays, key=st.sampled_from(["latent", "other"]),
       metadata=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), cut=st.integers(0, 10_000))
def test_a_random_latent_file_loads_or_is_one_user_error(tmp_path_factory, array, key, metadata, cut):
    path = tmp_path_factory.mktemp("latents") / "x.safetensors"
    with np.errstate(all="ignore"):
        data = st_save({key: np.ascontiguousarray(array)}, metadata=metadata or None)
    path.write_bytes(data[:cut] if cut < len(data) else data)
    try:
        loaded = load_latent(path)
    except UserError as exc:
        assert str(exc).strip()
        return
    assert loaded.latent.dtype == np.float32 and loaded.latent.ndim == 4 and np.all(np.abs(loaded.latent) <= 1e3)
