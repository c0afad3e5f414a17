"""Audio for timing: import of each format, waveform, onsets, the cut an export hears, and muxing into videos."""

import wave
from fractions import Fraction

import av
import numpy as np
import pytest

from latent_studio.media.audio import SAMPLE_RATE, Audio, AudioError, clip, onsets, read_audio, waveform
from latent_studio.media.export import export_format, open_writer

RATE = 44_100


def clicks(seconds: float = 2.0, every: float = 0.5, rate: int = RATE) -> np.ndarray:
    """A quiet 220 Hz hum with a short loud click every ``every`` seconds: stereo float32 at ``rate``."""
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.05 * np.sin(2 * np.pi * 220 * t)
    for start in np.arange(0.25, seconds, every):
        i = int(start * rate)
        signal[i : i + 400] += 0.8 * np.sin(2 * np.pi * 2000 * t[:400]) * np.exp(-np.arange(400) / 80)
    return np.stack([signal, signal]).astype(np.float32)


def write_audio(path, codec: str, samples: np.ndarray, rate: int = RATE, layout: str = "stereo") -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("name, codec", [("a.wav", "pcm_s16le"), ("a.mp3", "libmp3lame"), ("a.flac", "flac"),
                                         ("a.m4a", "aac"), ("a.ogg", "libopus")])
def test_each_format_imports_as_48k_stereo_of_the_right_length(tmp_path, name, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder to make the test file")
    rate = 48_000 if codec == "libopus" else RATE  # Opus takes 48 kHz only
    write_audio(tmp_path / name, codec, clicks(rate=rate), rate=rate)
    audio = read_audio(tmp_path / name)
    assert audio.samples.dtype == np.float32 and audio.samples.shape[0] == 2
    assert abs(audio.duration - 2.0) < 0.06  # encoders pad a few milliseconds
    assert 0.5 < np.abs(audio.samples).max() <= 1.0


def test_a_mono_file_plays_in_both_channels(tmp_path):
    write_audio(tmp_path / "mono.wav", "pcm_s16le", clicks()[:1], layout="mono")
    audio = read_audio(tmp_path / "mono.wav")
    np.testing.assert_allclose(audio.samples[0], audio.samples[1])


def test_missing_broken_and_silent_files_are_one_sentence(tmp_path):
    with pytest.raises(AudioError, match="is not there"):
        read_audio(tmp_path / "gone.mp3")
    (tmp_path / "broken.mp3").write_bytes(b"ID3 not really")
    with pytest.raises(AudioError, match="cannot be read as audio"):
        read_audio(tmp_path / "broken.mp3")


def test_the_cut_follows_the_offset_and_pads_with_silence():
    samples = np.tile(np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE, (2, 1))  # one second: a ramp
    audio = Audio(samples)
    later = clip(audio, offset=0.5, start=0.0, end=1.0)  # the song starts half a second in
    assert later.shape == (2, SAMPLE_RATE)
    assert np.all(later[:, : SAMPLE_RATE // 2] == 0) and later[0, SAMPLE_RATE // 2] == 0.0
    np.testing.assert_array_equal(later[0, SAMPLE_RATE // 2 :], samples[0, : SAMPLE_RATE // 2])
    skipped = clip(audio, offset=-0.25, start=0.0, end=2.0)  # its first quarter second skipped, silence after its end
    np.testing.assert_array_equal(skipped[0, : 3 * SAMPLE_RATE // 4], samples[0, SAMPLE_RATE // 4 :])
    assert np.all(skipped[:, 3 * SAMPLE_RATE // 4 :] == 0)


def test_waveform_and_onsets_find_the_clicks(tmp_path):
    write_audio(tmp_path / "c.wav", "pcm_s16le", clicks(seconds=3.0))
    audio = read_audio(tmp_path / "c.wav")
    shape = waveform(audio, 300)
    assert shape.shape == (300, 2) and shape[:, 1].max() > 0.5 and np.median(shape[:, 1]) < 0.1
    found = onsets(audio)
    expected = np.arange(0.25, 3.0, 0.5)
    assert len(found) == len(expected)
    assert np.abs(found - expected).max() < 0.03  # within a frame at 24 fps


@pytest.mark.parametrize("key, codec", [("mp4", "aac"), ("prores", "pcm_s16le"), ("webm", "opus")])
def test_a_video_gets_the_audio_muxed_with_the_right_codec_and_length(tmp_path, key, codec):
    fmt = export_format(key)
    path = tmp_path / f"v{fmt.suffix}"
    sound = clicks(seconds=1.0, rate=SAMPLE_RATE)
    with open_writer(path, fmt, Fraction(24), (32, 32), audio=sound) as writer:
        for k in range(24):
            writer.write(np.full((32, 32, 3), k * 10, np.uint8))
        writer.finish()
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == codec
        decoded = sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate
    assert abs(decoded - 1.0) < 1 / 24 + 0.03  # within a frame (and the encoder's padding)


def test_a_png_sequence_gets_a_wav_beside_it(tmp_path):
    sound = clicks(seconds=0.5, rate=SAMPLE_RATE)
    with open_writer(tmp_path / "frames", export_format("png"), Fraction(24), (16, 16), audio=sound) as writer:
        for _ in range(12):
            writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.finish()
    with wave.open(str(tmp_path / "frames" / "audio.wav")) as handle:
        assert handle.getframerate() == SAMPLE_RATE and handle.getnchannels() == 2
        assert handle.getnframes() == sound.shape[1]
