"""A direction slider's tooltip says how it edits: split, kept, bent and held, and how to set right a misread face."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from latent_studio.core.directions import Direction, DirectionBend, DirectionHold, DirectionKeep, DirectionSplit
from latent_studio.ui.sliders import DirectionRow


def test_the_tooltip_names_the_split_the_keep_and_the_bend_and_how_to_correct_a_misread(qapp):
    z = np.zeros((3, 4, 4), np.float32)
    plain = Direction("Head turn", z, "binned-centroid regression", (-60.0, 60.0), "h" * 64, "degrees")
    panel = SimpleNamespace(end_gesture=lambda: None)  # the row connects its release to it; nothing is pressed here
    assert "faces with" not in DirectionRow(panel, plain).label.toolTip()
    split = DirectionSplit("Glasses", z, 0.0, 1.0, z, z, present_bend=DirectionBend(z, 0.0, z), keep=DirectionKeep(z, z, z, 60.0))
    tip = DirectionRow(panel, Direction("Head turn", z, "binned-centroid regression", (-60.0, 60.0), "h" * 64, "degrees",
                                        split=split)).label.toolTip()
    assert "one line for faces with glasses and one for faces without" in tip
    assert "puts back the glasses a long move would fade" in tip
    assert "if it is read wrongly, nudge the Glasses slider a little the other way" in tip
    assert "its path curves as the examples' did" in tip
    assert "wash out" not in tip
    hold = DirectionHold("Glasses", "Head turn", z, 0.0, 1.0, z, 0.0, DirectionKeep(z, z, z, 0.3))
    tip = DirectionRow(panel, Direction("Hair hue", z, "binned-centroid regression", (-0.3, 0.3), "h" * 64,
                                        hold=hold)).label.toolTip()
    assert "it puts back the glasses it would wash out, as the Head turn slider does" in tip
