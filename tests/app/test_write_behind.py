"""The writer's own thread: in order, bounded, its errors raised in the caller, nothing left running."""

import threading

import pytest

from latent_studio.app.write_behind import WriteBehind
from latent_studio.core.errors import Cancelled, OutputError


def writer_threads():
    return [t for t in threading.enumerate() if t.name == "latent-studio-writer"]


def test_items_are_written_in_order_on_another_thread():
    seen, threads = [], set()

    def consume(item):
        seen.append(item)
        threads.add(threading.current_thread().name)

    with WriteBehind(consume, depth=2) as behind:
        for i in range(20):
            behind.put(i)
        behind.finish()  # waits for the last one
        assert seen == list(range(20))
    assert threads == {"latent-studio-writer"} and not writer_threads()


def test_depth_zero_writes_on_the_callers_thread():
    threads = []
    with WriteBehind(lambda item: threads.append(threading.current_thread()), depth=0) as behind:
        behind.put(1)
        behind.finish()
    assert threads == [threading.current_thread()]


def test_the_queue_holds_at_most_depth_items():
    release, taken = threading.Event(), threading.Event()
    seen = []

    def consume(item):
        seen.append(item)
        taken.set()
        release.wait(5)

    with WriteBehind(consume, depth=2) as behind:
        behind.put(0)
        taken.wait(5)  # item 0 is being written; two more may wait
        behind.put(1)
        behind.put(2)
        blocked = threading.Thread(target=behind.put, args=(3,))
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive()  # the fourth waits for room
        release.set()
        blocked.join(5)
        behind.finish()
    assert seen == [0, 1, 2, 3]


def test_a_writer_error_is_raised_in_the_caller_as_itself_and_later_items_are_dropped():
    seen = []
    error = OutputError("Could not write clip.mp4: No space left on device.")

    def consume(item):
        if item == 3:
            raise error
        seen.append(item)

    with pytest.raises(OutputError) as info:
        with WriteBehind(consume, depth=1) as behind:
            for i in range(50):
                behind.put(i)
            behind.finish()
    assert info.value is error
    assert seen == [0, 1, 2] and not writer_threads()


def test_an_error_at_the_last_item_comes_out_of_finish():
    def consume(item):
        if item == "last":
            raise OutputError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        with WriteBehind(consume, depth=4) as behind:
            behind.put("first")
            behind.put("last")
            behind.finish()
    assert not writer_threads()


def test_leaving_with_an_exception_stops_the_thread_after_the_item_being_written():
    started, release = threading.Event(), threading.Event()
    seen = []

    def consume(item):
        started.set()
        release.wait(5)
        seen.append(item)

    timer = threading.Timer(0.3, release.set)  # item 0 finishes only after the cancel has been raised
    with pytest.raises(Cancelled):
        with WriteBehind(consume, depth=3) as behind:
            for i in range(4):
                behind.put(i)
            started.wait(5)
            timer.start()
            raise Cancelled("cancelled")
    timer.join()
    assert seen == [0]  # the one being written was finished; the waiting ones were dropped
    assert not writer_threads()  # joined before the caller's abort removes the partial output
