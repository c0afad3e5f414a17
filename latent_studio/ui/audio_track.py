"""The project's audio as the window uses it: decoded once in the background, its waveform peaks and beats for the
timeline, and its sound while the timeline plays.

Sound goes through miniaudio when it is installed and the machine has an
output device; without either the app is silent but everything else works
(importing, the waveform, beat snapping, exports). A missing or unreadable
file is one sentence (``failed``), never a failed open.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from latent_studio.app.session import DOCUMENT, Session
from latent_studio.media.audio import SAMPLE_RATE, Audio, clip, onsets, read_audio, waveform

PEAKS_PER_SECOND = 100  # the waveform's resolution; the timeline reduces it to pixels


def feed(interleaved: np.ndarray, start: int, loop: bool, stop: threading.Event):
    """miniaudio's sample generator: sent how many stereo frames the device wants, yields them as float32 bytes
    from frame ``start`` of the timeline's audio; at its end silence, or (``loop``) the timeline's start again."""
    position = 2 * start
    wanted = yield b""
    while not stop.is_set():
        chunk = interleaved[position : position + 2 * wanted]
        position += len(chunk)
        if len(chunk) < 2 * wanted:
            rest = 2 * wanted - len(chunk)
            tail = interleaved[:rest] if loop else np.zeros(0, np.float32)
            position = len(tail) if loop else position  # looping: on from the timeline's start
            chunk = np.concatenate([chunk, tail, np.zeros(rest - len(tail), np.float32)])
        wanted = yield chunk.astype(np.float32).tobytes()


class AudioTrack(QObject):
    changed = Signal()  # the audio (or its absence) the timeline should draw
    failed = Signal(str)  # a sentence: the file is missing or unreadable
    _loaded = Signal(str, object)  # (path, Audio or the error), from the loader thread

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.path = ""
        self.audio: Audio | None = None
        self.peaks: np.ndarray | None = None  # (seconds * PEAKS_PER_SECOND, 2): min and max
        self.beats: np.ndarray = np.zeros(0)  # onsets, seconds into the audio
        self.unreadable = False  # the file is missing or cannot be decoded (the banner said why)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio")
        self._device = None
        self._loaded.connect(self._on_loaded)
        session.subscribe(self._on_session)
        self.sync()

    def _on_session(self, event: str) -> None:
        if event == DOCUMENT:
            self.sync()

    def sync(self) -> None:
        """Load the project's audio file when it changed (in the background; ``changed`` when done)."""
        path = self.session.project.settings.audio_path
        if path == self.path:
            return
        self.stop()
        self.path, self.audio, self.peaks, self.beats, self.unreadable = path, None, None, np.zeros(0), False
        self.changed.emit()
        if path:
            self._pool.submit(self._load, path)

    def _load(self, path: str) -> None:
        try:
            audio = read_audio(Path(path))
            self._loaded.emit(path, (audio, waveform(audio, max(1, int(audio.duration * PEAKS_PER_SECOND))),
                                     onsets(audio)))
        except Exception as exc:  # a sentence for the banner; the project stays open
            self._loaded.emit(path, exc)

    def _on_loaded(self, path: str, result) -> None:
        if path != self.path:
            return  # the project moved on to another file meanwhile
        if isinstance(result, Exception):
            self.unreadable = True
            self.changed.emit()
            self.failed.emit(f"{result} The project keeps its reference; File ▸ Import audio… chooses another.")
            return
        self.audio, self.peaks, self.beats = result
        self.changed.emit()

    @property
    def offset(self) -> float:
        return self.session.project.settings.audio_offset

    def beat_times(self) -> np.ndarray:
        """The onsets as timeline seconds."""
        return self.beats + self.offset

    # ------------------------------------------------------------ sound

    def play(self, start: float, loop: bool = False) -> bool:
        """Sound from timeline time ``start`` until ``stop`` (from the timeline's start again at its end when
        ``loop``, as playback does); False when there is no audio, miniaudio or output device."""
        self.stop()
        if self.audio is None:
            return False
        try:
            import miniaudio
        except ImportError:
            return False
        duration = self.session.project.settings.duration
        interleaved = np.ascontiguousarray(clip(self.audio, self.offset, 0.0, duration).T).ravel()
        stop = threading.Event()
        try:
            device = miniaudio.PlaybackDevice(output_format=miniaudio.SampleFormat.FLOAT32, nchannels=2,
                                              sample_rate=SAMPLE_RATE)
            generator = feed(interleaved, round(start * SAMPLE_RATE), loop, stop)
            next(generator)
            device.start(generator)
        except Exception:  # no output device (a server, CI): silent playback
            return False
        self._device = (device, stop)
        return True

    def stop(self) -> None:
        if self._device is not None:
            device, stop = self._device
            stop.set()
            device.close()
            self._device = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
