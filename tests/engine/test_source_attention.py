"""Edits decoded with source attention: exact when nothing is edited, closer to the source than a plain edit,
independent of batching, and carried through the one frame pipeline (cache key, Frame, sidecar)."""

from dataclasses import replace

import numpy as np
import pytest

from latent_studio.app.projects import empty_project, place_anchors, seed_asset
from latent_studio.core.directions import Direction
from latent_studio.core.keyframes import Keyframe
from latent_studio.core.latent_math import add_directions
from latent_studio.core.project import Settings, frame_source
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.render import FrameCache, cache_key, render_frames
from latent_studio.engine.source_attention import attending_to_sources, decode_attending

STEPS = 8


def _mse(a, b):
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


@pytest.fixture(scope="module")
def edit(trained_model):
    source = noise_latent(11, trained_model.latent_shape)
    edited = add_directions(source, [(noise_latent(12, trained_model.latent_shape), 0.8)]).astype(np.float32)
    return source, edited


def test_a_latent_read_against_itself_decodes_as_a_plain_decode(trained_model):
    latents = np.stack([noise_latent(seed, trained_model.latent_shape) for seed in (1, 2)])
    attended = decode_attending(trained_model, latents, latents, [0, 1], 0.0, STEPS)
    assert np.abs(attended.astype(int) - decode(trained_model, latents, STEPS).astype(int)).max() <= 1


def test_an_edit_reading_its_source_changes_and_start_one_never_reads(trained_model, edit):
    source, edited = edit
    plain = decode(trained_model, edited, STEPS)[0]
    attended = decode_attending(trained_model, edited[None], source[None], [0], 0.0, STEPS)[0]
    never = decode_attending(trained_model, edited[None], source[None], [0], 1.0, STEPS)[0]
    assert _mse(attended, plain) > 1.0  # on the bundled model it also keeps closer to the source (tests/demo)
    assert np.abs(never.astype(int) - plain.astype(int)).max() <= 1


def test_batching_changes_no_attended_frame_and_the_processors_come_back(trained_model, edit):
    source, edited = edit
    other = noise_latent(13, trained_model.latent_shape)
    edits = np.stack([edited, add_directions(other, [(source, 0.3)]).astype(np.float32), edited * 0.99])
    sources = np.stack([source, other])
    layers = [m for m in trained_model.family.unet.modules() if hasattr(m, "processor")]
    before = [layer.processor for layer in layers]
    one_at_a_time = decode_attending(trained_model, edits, sources, [0, 1, 0], 0.25, STEPS, batch_size=1)
    together = decode_attending(trained_model, edits, sources, [0, 1, 0], 0.25, STEPS, batch_size=3)
    assert np.abs(one_at_a_time.astype(int) - together.astype(int)).max() <= 1
    assert [layer.processor for layer in layers] == before
    with attending_to_sources(trained_model):
        assert all(layer.processor is not old for layer, old in zip(layers, before))
    assert [layer.processor for layer in layers] == before


def test_the_frame_pipeline_decodes_an_edit_beside_its_source_and_keys_it_by_both(trained_model):
    project = empty_project(trained_model, Settings(fps="24", duration=0.25, width=16, height=16, final_steps=STEPS))
    asset = seed_asset(trained_model, 3, steps=STEPS)
    project.assets[asset.id] = asset
    place_anchors(project, [asset.id])
    turn = Direction("Turn", noise_latent(5, trained_model.latent_shape), "test", (-1, 1), trained_model.content_hash,
                     id="turn", source_attention_from=0.0)
    project.directions["turn"] = turn
    project.editable_track("turn").keyframes = (Keyframe(0.0, 0.0), Keyframe(0.25, 1.0))
    frames = list(render_frames(trained_model, project, range(project.settings.frame_count), STEPS, cache=FrameCache()))
    first, last = frames[0], frames[-1]
    assert first.source_attention_from is None and frame_source(project, first.spec) is None  # strength 0: plain
    assert last.source_attention_from == 0.0
    latent = add_directions(asset.latent, [(turn.vector, last.spec.strengths[0][1])])
    expected = decode_attending(trained_model, latent[None], asset.latent[None], [0], 0.0, STEPS)[0]
    assert np.abs(last.image.astype(int) - expected.astype(int)).max() <= 1
    source = frame_source(project, last.spec)
    assert cache_key(latent, trained_model, STEPS, source=source) != cache_key(latent, trained_model, STEPS)
    project.directions["turn"] = replace(turn, source_attention_from=None)
    plain = list(render_frames(trained_model, project, [len(frames) - 1], STEPS))[0]
    assert plain.source_attention_from is None and not np.array_equal(plain.image, last.image)


def test_a_kept_source_trajectory_is_replayed_without_decoding_the_source_again(trained_model, edit):
    """And a frame is the same bytes whether its source was decoded now or kept from earlier (a render worker
    that never saw the earlier chunk gives the same frame as one process)."""
    from latent_studio.engine.source_attention import TRAJECTORIES, TrajectoryCache

    source, edited = edit
    second = add_directions(source, [(noise_latent(14, trained_model.latent_shape), 0.5)]).astype(np.float32)
    TRAJECTORIES.clear()
    rows = []
    hook = trained_model.family.unet.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape[0]))
    try:
        fresh = decode_attending(trained_model, second[None], source[None], [0], 0.0, STEPS)  # source, then edit
        assert rows == [1] * (2 * STEPS)  # the source alone, then the edit alone
        TRAJECTORIES.clear()
        decode_attending(trained_model, edited[None], source[None], [0], 0.0, STEPS)  # records the source
        rows.clear()
        replayed = decode_attending(trained_model, second[None], source[None], [0], 0.0, STEPS)
    finally:
        hook.remove()
    assert rows == [1] * STEPS  # only the edit was decoded
    assert np.array_equal(replayed, fresh)
    assert TRAJECTORIES.bytes > 0

    import torch

    kv = [[(torch.zeros(16), torch.zeros(16))]]  # 128 bytes
    small = TrajectoryCache(max_bytes=300)
    for name in ("a", "b", "c"):
        small.put(name, kv)
    assert small.get("a") is None and small.get("b") is not None and small.get("c") is not None and small.bytes == 256
