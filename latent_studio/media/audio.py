"""Audio for timing: read a song with PyAV, draw its waveform, find its beats, and cut the part an export covers.

Everything is held as float32 stereo at 48 kHz (the rate Opus requires and
video editors expect), decoded once. The timeline and the audio file are
related by an offset: timeline time t hears audio time t - offset (an
offset of 2 s starts the song two seconds into the timeline; a negative one
skips its first seconds). Playback is not here: this module only reads,
measures and cuts, so a machine without a sound device exports audio too.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latent_studio.core.errors import UserError

SAMPLE_RATE = 48_000
MAX_SECONDS = 30 * 60  # a song, or a long take: 30 minutes hold 690 MB of float samples
AUDIO_FILTER = "Audio (*.wav *.mp3 *.flac *.aac *.m4a *.ogg *.opus)"


class AudioError(UserError):
    """An audio file that cannot be used, in one sentence."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32 (2, n) at SAMPLE_RATE, in [-1, 1]

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / SAMPLE_RATE


def read_audio(path: Path) -> Audio:
    """The file's first audio stream, decoded and resampled to 48 kHz stereo float."""
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"The audio file {path} is not there (moved, renamed or on a disk not connected?).")
    chunks = []
    count = 0
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise AudioError(f"{path.name} holds no audio.")
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    count += chunks[-1].shape[1]
                if count > MAX_SECONDS * SAMPLE_RATE:
                    raise AudioError(f"{path.name} is longer than {MAX_SECONDS // 60} minutes; cut the part the "
                                     "animation needs in an audio editor first.")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(f"{path.name} cannot be read as audio ({exc}); WAV, MP3, FLAC, AAC and Ogg files work.") from exc
    if not chunks:
        raise AudioError(f"{path.name} holds no audio samples.")
    return Audio(np.clip(np.concatenate(chunks, axis=1).astype(np.float32), -1.0, 1.0))


def clip(audio: Audio, offset: float, start: float, end: float) -> np.ndarray:
    """What the timeline hears from ``start`` to ``end`` seconds: float32 (2, samples), silence where the song is not."""
    first, last = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
    out = np.zeros((2, max(0, last - first)), np.float32)
    shift = round(offset * SAMPLE_RATE)  # timeline sample s plays audio sample s - shift
    begin, stop = max(first - shift, 0), min(last - shift, audio.samples.shape[1])
    if stop > begin:
        out[:, begin + shift - first : stop + shift - first] = audio.samples[:, begin:stop]
    return out


def waveform(audio: Audio, buckets: int) -> np.ndarray:
    """(buckets, 2): the lowest and highest sample of the mono mix in each of ``buckets`` equal slices."""
    mono = audio.samples.mean(axis=0)
    edges = np.linspace(0, len(mono), buckets + 1).astype(int)
    out = np.zeros((buckets, 2), np.float32)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if b > a:
            out[i] = mono[a:b].min(), mono[a:b].max()
    return out


def onsets(audio: Audio, hop: int = 512, window: int = 2048) -> np.ndarray:
    """Seconds (into the audio) where a note or beat starts: peaks of the spectral flux (the summed rise of the
    magnitude spectrum from one frame to the next) above a local threshold."""
    mono = audio.samples.mean(axis=0)
    if len(mono) < window:
        return np.zeros(0)
    count = 1 + (len(mono) - window) // hop
    frames = np.lib.stride_tricks.as_strided(mono, (count, window), (mono.strides[0] * hop, mono.strides[0]))
    spectra = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1))
    flux = np.maximum(np.diff(np.log1p(spectra), axis=0), 0.0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    if flux.max() <= 0:
        return np.zeros(0)
    flux /= flux.max()
    span = max(1, int(0.1 * SAMPLE_RATE / hop))  # peaks at least 100 ms apart
    local_mean = np.convolve(flux, np.ones(4 * span + 1) / (4 * span + 1), mode="same")
    peaks = [i for i in range(len(flux))
             if flux[i] >= flux[max(0, i - span): i + span + 1].max() and flux[i] > local_mean[i] + 0.1]
    return (np.array(peaks) * hop + window / 2) / SAMPLE_RATE


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit stereo PCM at 48 kHz (the WAV beside a PNG sequence)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2").T.copy()
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())
