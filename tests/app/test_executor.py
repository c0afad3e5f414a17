"""The inference executor: newest preview wins, jobs report progress and cancel, shutdown leaves no thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from latent_studio.app.executor import InferenceExecutor, PreviewRequest
from latent_studio.core.errors import Cancelled, ModelError
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import Asset, ModelRef, Project
from latent_studio.core.seeds import noise_latent


@pytest.fixture
def executor(trained_model):
    results, progress, errors = [], [], []
    ex = InferenceExecutor(results.append, progress.append, lambda request, error: errors.append(error))
    ex.results, ex.progress_events, ex.errors = results, progress, errors
    ex.load_model(lambda: trained_model).future.result(timeout=30)
    yield ex
    assert ex.shutdown(timeout=30)
    assert not ex.alive


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def request(model, seed, steps=5, interruptible=False, request_id=None):
    """A preview of a one-face project: the face is the seed's noise, so the frame is that latent's decode."""
    asset = Asset("face", "seed", f"Seed {seed}", noise_latent(seed, model.latent_shape), seed=seed)
    project = Project(ModelRef("test", model.content_hash), assets={"face": asset},
                      anchors=(Keyframe(0.0, "face", Interpolation.HOLD),))
    return PreviewRequest(request_id or seed, ("seed", seed), steps, project, 0, interruptible)


def test_preview_matches_a_direct_decode_and_is_cached(executor, trained_model):
    from latent_studio.engine.decode import decode

    executor.request_preview(request(trained_model, 3))
    wait_for(lambda: executor.results)
    first = executor.results[0]
    assert not first.cached
    np.testing.assert_array_equal(first.image, decode(trained_model, noise_latent(3, trained_model.latent_shape), 5)[0])
    executor.request_preview(request(trained_model, 3, request_id=99))
    wait_for(lambda: len(executor.results) == 2)
    assert executor.results[1].cached and executor.results[1].request.id == 99


def test_waiting_previews_coalesce_so_only_the_newest_is_rendered(executor, trained_model):
    gate, holding = threading.Event(), threading.Event()

    def hold(context):  # no progress points: previews wait
        holding.set()
        return gate.wait(10)

    executor.submit("hold the worker", hold)
    assert holding.wait(10)  # the worker is busy before any preview arrives, however slow the machine
    for seed in range(1, 21):
        executor.request_preview(request(trained_model, seed))
    gate.set()
    wait_for(lambda: executor.results)
    time.sleep(0.2)
    assert [r.request.id for r in executor.results] == [20]


def test_a_newer_request_interrupts_an_interruptible_preview(executor, trained_model):
    executor.request_preview(request(trained_model, 1, steps=400, interruptible=True))
    time.sleep(0.05)  # let it start
    executor.request_preview(request(trained_model, 2, steps=3))
    wait_for(lambda: executor.results)
    time.sleep(0.2)
    assert [r.request.id for r in executor.results] == [2]


def test_jobs_report_progress_serve_previews_and_cancel(executor, trained_model):
    started = threading.Event()

    def work(context):
        for i in range(10_000):
            context.progress(i, 10_000, "counting")
            started.set()
            time.sleep(0.001)
        return "finished"

    job = executor.submit("count", work)
    started.wait(10)
    executor.request_preview(request(trained_model, 5))
    wait_for(lambda: executor.results)  # served between two progress points of the running job
    assert job.future.running()
    job.cancel()
    with pytest.raises(Cancelled):
        job.future.result(timeout=10)
    assert executor.progress_events[0].name == "count" and executor.progress_events[0].message == "counting"
    assert executor.busy_jobs == []


def test_a_failing_job_carries_its_error_and_the_worker_goes_on(executor):
    def broken(context):
        raise ValueError("broken on purpose")

    with pytest.raises(ValueError, match="on purpose"):
        executor.submit("broken", broken).future.result(timeout=10)
    assert executor.submit("fine", lambda context: 42).future.result(timeout=10) == 42


def test_without_a_model_jobs_fail_with_a_clear_error():
    ex = InferenceExecutor(lambda result: None)
    try:
        with pytest.raises(ModelError, match="No model is loaded"):
            ex.submit("needs model", lambda context: context.model).future.result(timeout=10)
    finally:
        assert ex.shutdown(timeout=10)


def test_shutdown_cancels_running_and_waiting_jobs(trained_model):
    ex = InferenceExecutor(lambda result: None)
    ex.load_model(lambda: trained_model).future.result(timeout=30)
    started = threading.Event()

    def forever(context):
        while True:
            started.set()
            context.progress(0, 1)
            time.sleep(0.001)

    running = ex.submit("forever", forever)
    waiting = ex.submit("never starts", lambda context: 1)
    started.wait(10)
    assert ex.shutdown(timeout=10)
    assert not ex.alive
    assert waiting.future.cancelled()
    with pytest.raises(Cancelled):
        running.future.result(timeout=1)
    with pytest.raises(RuntimeError, match="shut down"):
        ex.submit("late", lambda context: 1)


def test_the_cancel_button_stops_the_users_jobs_but_not_a_model_load(executor, trained_model):
    gate, holding = threading.Event(), threading.Event()

    def hold(context):
        holding.set()
        gate.wait(10)
        context.progress(1, 1)  # a progress point: a cancel takes effect here

    embed = executor.submit("Embed face.png", hold)
    assert holding.wait(10)
    load = executor.load_model(lambda: trained_model, "Load toy-heads")  # queued behind the embed
    executor.cancel_jobs()
    gate.set()
    with pytest.raises(Cancelled):
        embed.future.result(timeout=30)
    assert load.future.result(timeout=30) is trained_model and executor.model is trained_model
