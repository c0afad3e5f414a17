"""Even pace from the timeline: a morph segment's pace is measured on the job lane and applied as one undo step."""

from __future__ import annotations


def test_even_pace_is_measured_applied_and_undone(window, qtbot):
    session = window.session
    session.set_frame(session.frame_count - 1)
    window.spawn(window.flows.random_face(seed=5, place=True), "test")  # a second face: a morph to pace
    qtbot.waitUntil(lambda: len(session.project.anchors) == 2, timeout=60_000)
    first = session.project.anchors[0]
    window.timeline.pace_requested.emit(first.time, True)  # the anchor key's menu: "Even pace to the next face"
    qtbot.waitUntil(lambda: bool(session.project.anchors[0].pace) or bool(window.reporter.messages), timeout=180_000)
    assert not window.reporter.messages
    pace = session.project.anchors[0].pace
    assert pace[0] == 0.0 and pace[-1] == 1.0 and list(pace) == sorted(pace)
    assert session.undo_stack.undo_label == "Even pace"
    window.timeline.pace_requested.emit(first.time, False)  # "Original pace"
    assert session.project.anchors[0].pace == ()
    session.undo()
    assert session.project.anchors[0].pace == pace
    session.undo()
    assert session.project.anchors[0].pace == () and session.project.anchors[0] == first


def test_even_pace_on_the_last_key_says_there_is_no_morph(window, qtbot):
    window.timeline.pace_requested.emit(window.session.project.anchors[-1].time, True)
    qtbot.waitUntil(lambda: bool(window.reporter.messages), timeout=10_000)
    assert "another face follows" in window.reporter.messages[-1]
