"""File ▸ Import audio… and Remove audio, and the audio's sound while the timeline plays."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from latent_studio.core.edits import ChangeSettings
from latent_studio.media.audio import AUDIO_FILTER
from latent_studio.ui.audio_track import AudioTrack
from latent_studio.ui.errors import apply_edit


class AudioFlow:
    def __init__(self, window) -> None:
        self.window = window
        self.track = AudioTrack(window.session, window)
        self.track.failed.connect(window.show_error)
        window.timeline.set_audio(self.track)
        window.playback.playing_changed.connect(self._playing)

    def choose(self) -> None:
        folder = Path(self.window.session.path).parent if self.window.session.path else Path.home()
        path, _ = QFileDialog.getOpenFileName(self.window, "Import audio", str(folder), AUDIO_FILTER)
        if path:
            self.use(Path(path))

    def use(self, path: Path) -> bool:
        """The project's audio from now on (one undo step); it plays from the timeline's start."""
        return apply_edit(self.window.session, ChangeSettings({"audio_path": str(Path(path).resolve()),
                                                               "audio_offset": 0.0}, "Import audio"),
                          self.window.show_error)

    def remove(self) -> bool:
        if not self.window.session.project.settings.audio_path:
            return False
        return apply_edit(self.window.session, ChangeSettings({"audio_path": "", "audio_offset": 0.0}, "Remove audio"),
                          self.window.show_error)

    def _playing(self, playing: bool) -> None:
        if playing:
            self.track.play(self.window.session.time, self.window.playback.loop)
        else:
            self.track.stop()

    def close(self) -> None:
        self.track.close()
