"""Idle time fills the frame cache: final frames nearest the playhead first, a status per frame, never in the way."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from latent_studio.app.cache_fill import DRAFT, FINAL, CacheFiller, CacheStatus
from latent_studio.app.executor import InferenceExecutor, PreviewRequest
from latent_studio.app.projects import empty_project, place_anchors, seed_asset
from latent_studio.core.keyframes import Keyframe
from latent_studio.core.project import Settings
from latent_studio.engine.render import render_frames

FINAL_STEPS = 4


@pytest.fixture()
def project(trained_model):
    project = empty_project(trained_model, Settings(fps="25", duration=0.4, width=32, height=32,
                                                    preview_steps=2, final_steps=FINAL_STEPS))
    for seed in (1, 2):
        asset = seed_asset(trained_model, seed, steps=FINAL_STEPS)
        project.assets[asset.id] = asset
    place_anchors(project, list(project.assets))
    return project


@pytest.fixture
def executor(trained_model):
    results, statuses = [], []
    ex = InferenceExecutor(results.append)
    ex.results, ex.statuses = results, statuses
    ex.load_model(lambda: trained_model).future.result(timeout=30)
    yield ex
    assert ex.shutdown(timeout=30)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def filler_on(executor) -> CacheFiller:
    filler = CacheFiller(executor, executor.statuses.append)
    executor.set_idle_work(filler)
    return filler


def test_idle_time_renders_every_frame_at_final_steps_and_reports_them_final(executor, trained_model, project):
    filler = filler_on(executor)
    generation = filler.set_target(project, playhead=3)
    frames = project.settings.frame_count
    wait_for(lambda: executor.statuses and executor.statuses[-1].frames == (FINAL,) * frames)
    assert executor.statuses[-1].generation == generation
    assert executor.statuses[0].frames == (None,) * frames  # reported before anything was rendered
    # what was filled is exactly what an export at the final steps makes
    for frame in render_frames(trained_model, project, range(frames), FINAL_STEPS):
        request = PreviewRequest(frame.index, None, 2, project, frame.index, final_steps=FINAL_STEPS)
        executor.request_preview(request)
        wait_for(lambda r=request: executor.results and executor.results[-1].request is r)
        result = executor.results[-1]
        assert result.cached and result.steps == FINAL_STEPS  # playback shows the final frame, not a draft
        np.testing.assert_array_equal(result.image, frame.image)


def test_it_fills_from_the_playhead_forward(executor, project):
    filler = filler_on(executor)
    frames = project.settings.frame_count
    filler.set_target(project, playhead=frames - 2)
    wait_for(lambda: executor.statuses and executor.statuses[-1].frames == (FINAL,) * frames)
    first = executor.statuses[1].frames  # after the first batch
    assert first[frames - 2] == first[frames - 1] == first[0] == FINAL  # the playhead's frame, then onwards, wrapping


def test_a_draft_is_reported_as_a_draft_and_a_changed_keyframe_uncaches_only_its_frames(executor, project):
    filler = CacheFiller(executor, executor.statuses.append)
    executor.set_idle_work(filler)
    executor.request_preview(PreviewRequest(1, None, 2, project, 0))  # a draft of frame 0
    wait_for(lambda: executor.results)
    filler.set_target(project, playhead=0, fill=False)  # report only
    wait_for(lambda: executor.statuses)
    assert executor.statuses[-1].frames[0] == DRAFT and set(executor.statuses[-1].frames[1:]) == {None}

    filler.set_target(project, playhead=0)
    frames = project.settings.frame_count
    wait_for(lambda: executor.statuses[-1].frames == (FINAL,) * frames)
    changed = dataclasses.replace(project, anchors=(project.anchors[0], Keyframe(project.anchors[1].time + 0.2,
                                                                                  project.anchors[1].value)))
    count = len(executor.statuses)
    filler.set_target(changed, playhead=0, fill=False)
    wait_for(lambda: len(executor.statuses) > count)
    status = executor.statuses[-1].frames
    assert status[0] == FINAL  # the first anchor's frame looks the same: still cached
    assert None in status  # frames of the moved blend are not


def test_a_job_or_a_preview_cancels_the_idle_work_and_it_resumes_after_them(trained_model, project):
    turns, stopped = [], []

    def endless(cancel):  # would never give the worker back if nothing cancelled it
        turns.append(1)
        try:
            while True:
                cancel.raise_if_cancelled()
                time.sleep(0.002)
        except Exception:
            stopped.append(1)
            raise

    results = []
    executor = InferenceExecutor(results.append)
    try:
        executor.load_model(lambda: trained_model).future.result(timeout=30)
        executor.set_idle_work(endless)
        wait_for(lambda: turns)
        assert executor.submit("quick", lambda context: "done").future.result(timeout=10) == "done"
        wait_for(lambda: len(turns) == 2)  # back to the idle work once the job is done
        executor.request_preview(PreviewRequest(7, None, 2, project, 0))
        wait_for(lambda: results, timeout=10)
        wait_for(lambda: len(turns) == 3)
        assert len(stopped) == 2
    finally:
        assert executor.shutdown(timeout=30)


def test_idle_work_that_fails_stops_until_woken_and_the_worker_lives_on(trained_model):
    errors, calls = [], []

    def broken(cancel):
        calls.append(1)
        raise RuntimeError("boom")

    executor = InferenceExecutor(lambda result: None, on_idle_error=errors.append)
    try:
        executor.set_idle_work(broken)
        wait_for(lambda: errors)
        time.sleep(0.1)
        assert len(calls) == 1  # not retried in a loop
        executor.wake_idle_work()
        wait_for(lambda: len(calls) == 2)
        assert executor.submit("after", lambda context: 42).future.result(timeout=30) == 42
    finally:
        assert executor.shutdown(timeout=30)


def test_status_ranges_join_consecutive_frames():
    status = CacheStatus(1, (FINAL, FINAL, None, DRAFT, FINAL, DRAFT, DRAFT))
    assert status.ranges(FINAL) == [(0, 1), (4, 4)]
    assert status.ranges(DRAFT) == [(3, 3), (5, 6)]


def test_a_wake_while_the_idle_work_runs_gets_it_another_turn(trained_model):
    gate, calls = threading.Event(), []

    def work(cancel):
        calls.append(1)
        if len(calls) == 1:
            gate.wait(10)
        return False

    executor = InferenceExecutor(lambda result: None)
    try:
        executor.set_idle_work(work)
        wait_for(lambda: calls)
        executor.wake_idle_work()
        gate.set()
        wait_for(lambda: len(calls) == 2)
    finally:
        assert executor.shutdown(timeout=30)
