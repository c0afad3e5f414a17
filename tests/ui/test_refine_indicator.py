"""While the final frame decodes, the canvas says how far the refinement has come; then it says final."""

from __future__ import annotations

import re

from .conftest import wait_for_final


def test_the_canvas_counts_the_refinement_steps_then_says_final(window, qtbot):
    wait_for_final(qtbot, window)
    captions = []
    real = window.canvas.set_caption
    window.canvas.set_caption = lambda text: (captions.append(text), real(text))
    direction = next(iter(window.session.project.directions))
    window.directions.set_value(direction, 15.0, own_gesture=True)
    wait_for_final(qtbot, window)
    final = window.session.project.settings.final_steps
    counted = [int(m.group(1)) for c in captions if (m := re.search(rf"refining: (\d+) of {final} steps", c))]
    assert counted and counted == sorted(counted) and counted[-1] <= final  # steps done rise towards the total
    assert all("draft" in c or "previous picture is shown" in c for c in captions if "refining:" in c)
    assert all(f"of {final} steps" in c for c in captions if "refining:" in c)  # the frame's steps, beside its source too
    assert "final quality" in window.canvas.caption and "refining" not in window.canvas.caption
