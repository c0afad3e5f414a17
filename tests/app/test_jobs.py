"""The job log: states as a person should see them, without a screen."""

import threading

from latent_studio.app.executor import InferenceExecutor
from latent_studio.app.jobs import CANCELLED, DONE, FAILED, RUNNING, WAITING, JobLog
from latent_studio.core.errors import ModelError


def test_states_progress_cancel_and_failure_with_retry():
    executor = InferenceExecutor(on_preview=lambda result: None)
    log = JobLog()
    gate, started = threading.Event(), threading.Event()

    def slow(context):
        started.set()
        for step in range(100):
            gate.wait(0.05)
            context.progress(step + 1, 100, "working")
        return "ok"

    def broken(context):
        raise ModelError("The model folder is missing its weights; copy it again.")

    try:
        first = executor.submit("Slow", slow)
        second = executor.submit("Waiting then cancelled", lambda context: "never")
        third = executor.submit("Broken", broken)
        for job in (first, second, third):
            log.added(job)
        assert [r.state for r in log.newest_first()] == [WAITING, WAITING, WAITING]
        started.wait(10)
        log.refresh(executor.busy_jobs)
        log.progressed(type("P", (), {"job_id": first.id, "done": 10, "total": 100, "message": "working"})())
        assert log.records[first.id].state == RUNNING and log.records[first.id].progress_text == "10/100"
        second.cancel()
        first.cancel()
        for job in (first, third):
            try:
                job.future.result(timeout=20)
            except BaseException:
                pass
        log.set_retry(third.id, lambda: None)
        log.refresh(executor.busy_jobs)
        states = {r.name: (r.state, r.message) for r in log.newest_first()}
        assert states["Slow"][0] == CANCELLED and states["Waiting then cancelled"][0] == CANCELLED
        assert states["Broken"] == (FAILED, "The model folder is missing its weights; copy it again.")
        assert log.records[third.id].retry is not None and not log.records[third.id].cancellable
        done = executor.submit("Quick", lambda context: 1)
        log.added(done)
        done.future.result(timeout=20)
        log.refresh(executor.busy_jobs)
        assert log.records[done.id].state == DONE
        log.clear_finished()
        assert log.records == {}
    finally:
        gate.set()
        executor.shutdown()
