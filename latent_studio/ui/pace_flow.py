"""Even pace for a morph segment, from the timeline's anchor keys: measured on the job lane, applied as one undo step."""

from __future__ import annotations

from latent_studio.core.edits import ChangeKeyframe
from latent_studio.core.errors import Cancelled
from latent_studio.core.project import ANCHOR_TRACK, snapshot
from latent_studio.ui.inference import QtInference


class PaceFlow:
    def __init__(self, window) -> None:
        self.window = window
        self.session = window.session
        self.inference = window.inference

    async def even_pace(self, key_time: float) -> bool:
        """Measure the segment that starts at the anchor key at ``key_time`` and retime it to an even pace."""
        from latent_studio.engine.pace import measure_pace, segment_anchors

        project = snapshot(self.session.project)  # the worker reads a copy; the user keeps editing the original
        index = [k.time for k in project.anchors].index(key_time)
        segment_anchors(project, index)  # a key with no morph after it: its sentence now, before any job
        steps = project.settings.final_steps  # where the morph changes most moves with the steps: pace what exports

        def work(context):
            return measure_pace(context.model, project, index, steps, progress=context.progress, cancel=context.cancel)

        job = self.inference.submit("Even pace", work)
        try:
            pace = await QtInference.wait(job)
        except Cancelled:
            return False
        if self.session.project.anchors != project.anchors:
            self.window.show_error("The anchors changed while the pace was measured; nothing was applied. Try again.")
            return False
        return self.window.apply(ChangeKeyframe(ANCHOR_TRACK, key_time, {"pace": pace}, "Even pace"))

    def original_pace(self, key_time: float) -> bool:
        """Back to the easing's own timing."""
        return self.window.apply(ChangeKeyframe(ANCHOR_TRACK, key_time, {"pace": ()}, "Original pace"))
