"""Playback from the frame cache: idle time fills it, the timeline shows it, Space plays final frames from it."""

from __future__ import annotations

from latent_studio.app.cache_fill import FINAL
from latent_studio.core.edits import AddKeyframe, Batch, ChangeSettings
from latent_studio.core.keyframes import Interpolation, Keyframe

from .conftest import wait_for_final


def short_turning_clip(window) -> None:
    """One second in which the first slider moves, so every frame differs (and the fill stays quick)."""
    direction = next(iter(window.session.project.directions.values()))
    low, high = direction.strength_range
    window.session.apply(Batch([ChangeSettings({"duration": 0.5}),
                                AddKeyframe(direction.id, Keyframe(0.0, low, Interpolation.LINEAR)),
                                AddKeyframe(direction.id, Keyframe(0.5, high))], "clip"))


def test_idle_time_fills_the_cache_and_playback_then_shows_final_frames(window, qtbot):
    wait_for_final(qtbot, window)
    short_turning_clip(window)
    assert window.timeline.cache_status is None or FINAL not in window.timeline.cache_status.frames[1:]
    window.fill_cache_action.trigger()  # View > Fill the cache when idle
    assert window.preferences.fill_cache
    frames = window.session.frame_count
    qtbot.waitUntil(lambda: window.timeline.cache_status is not None
                    and window.timeline.cache_status.frames == (FINAL,) * frames, timeout=180_000)
    shown = []
    window.preview.shown.connect(shown.append)
    window.playback.play()
    qtbot.waitUntil(lambda: len({r.request.frame for r in shown}) >= 6, timeout=20_000)
    window.playback.stop()
    final = window.session.project.settings.final_steps
    playing = shown[: len(shown) - 1]  # the last may be the refinement after stopping
    assert playing and all(r.steps == final and r.cached for r in playing), "playback showed drafts of cached frames"
    assert all(r.request.steps < final for r in playing)  # it asked for drafts; the cache had better


def test_an_edit_leaves_untouched_frames_cached_on_the_timeline(window, qtbot):
    wait_for_final(qtbot, window)
    short_turning_clip(window)
    window.fill_cache_action.trigger()
    frames = window.session.frame_count
    qtbot.waitUntil(lambda: window.timeline.cache_status is not None
                    and window.timeline.cache_status.frames == (FINAL,) * frames, timeout=180_000)
    window.fill_cache_action.trigger()  # off: the next status only reports
    direction = next(iter(window.session.project.directions.values()))
    window.session.apply(AddKeyframe(direction.id, Keyframe(0.25, direction.strength_range[1])))
    qtbot.waitUntil(lambda: window.timeline.cache_status is not None
                    and window.timeline.cache_status.frames != (FINAL,) * frames, timeout=30_000)
    status = window.timeline.cache_status.frames
    assert status[0] == FINAL  # the first frame looks the same
    assert None in status[1:-1]  # the frames whose value moved are no longer cached
