"""The audio track in the window: import as one undo step, the waveform row, beat snapping, sound during playback,
and a missing file that is a sentence, not a failed open."""

from fractions import Fraction

import av
import numpy as np

from latent_studio.core.project_file import save_project


def write_clicks(path, seconds=4.0, every=0.5):
    rate = 48_000
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.05 * np.sin(2 * np.pi * 220 * t)
    for start in np.arange(0.25, seconds, every):
        i = int(start * rate)
        signal[i : i + 400] += 0.8 * np.sin(2 * np.pi * 2000 * t[:400]) * np.exp(-np.arange(400) / 80)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([signal, signal]).astype(np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def test_imported_audio_draws_a_waveform_row_snaps_keys_to_beats_and_undoes(window, qtbot, tmp_path):
    timeline, track = window.timeline, window.audio.track
    height = timeline.height()
    assert window.audio.use(write_clicks(tmp_path / "clicks.wav"))
    qtbot.waitUntil(lambda: track.peaks is not None, timeout=20_000)
    assert timeline.height() > height and timeline.has_audio_row()
    np.testing.assert_allclose(track.beat_times()[:3], [0.25, 0.75, 1.25], atol=0.03)
    grab = timeline.grab()  # painting the row must not fail
    assert not grab.isNull()

    beat_x = timeline.x_of(0.75)
    near = timeline.time_at(beat_x + 5)
    assert timeline.snapped(near, beat_x + 5) == near  # snapping is off by default
    window.snap_beats_action.trigger()
    settings = window.session.project.settings
    assert timeline.snapped(near, beat_x + 5) == settings.frame_time(round(0.75 * float(settings.rate)))
    window.snap_beats_action.trigger()

    dialog = window.export()
    assert dialog.audio.isEnabled() and dialog.audio.isChecked() and "clicks.wav" in dialog.audio.text()
    assert dialog.options().audio
    dialog.format.setCurrentIndex(dialog.format.findData("gif"))
    assert not dialog.audio.isEnabled() and not dialog.options().audio  # a GIF has no sound
    dialog.close()

    window.undo()
    assert window.session.project.settings.audio_path == "" and not timeline.has_audio_row()


def test_playback_plays_the_audio_or_stays_silent_without_a_device(window, qtbot, tmp_path):
    window.audio.use(write_clicks(tmp_path / "clicks.wav"))
    qtbot.waitUntil(lambda: window.audio.track.audio is not None, timeout=20_000)
    window.playback.play()
    qtbot.wait(200)
    window.playback.stop()
    assert window.audio.track._device is None  # stopped with playback (whether or not a device played it)


def test_a_project_whose_audio_file_is_missing_opens_with_one_sentence(window, qtbot, tmp_path):
    from dataclasses import replace

    project = window.session.project
    project.settings = replace(project.settings, audio_path=str(tmp_path / "gone.mp3"))
    path = tmp_path / "p.lsproj"
    save_project(project, path)
    assert window.workspace.open(path, ask_first=False)
    qtbot.waitUntil(lambda: "gone.mp3 is not there" in window.banner.text(), timeout=20_000)
    assert window.audio.track.unreadable and window.timeline.has_audio_row()  # the row says "(not found)"
    assert window.session.path == path and window.session.project.settings.audio_path.endswith("gone.mp3")


def test_the_sound_feed_plays_from_the_playhead_and_loops_to_the_start():
    import threading

    from latent_studio.ui.audio_track import feed

    interleaved = np.arange(20, dtype=np.float32)  # 10 stereo frames
    stop = threading.Event()
    looping = feed(interleaved, start=7, loop=True, stop=stop)
    next(looping)
    first = np.frombuffer(looping.send(2), np.float32)
    wrapped = np.frombuffer(looping.send(3), np.float32)
    np.testing.assert_array_equal(first, interleaved[14:18])
    np.testing.assert_array_equal(wrapped, np.concatenate([interleaved[18:20], interleaved[0:4]]))  # on from frame 0
    np.testing.assert_array_equal(np.frombuffer(looping.send(1), np.float32), interleaved[4:6])
    once = feed(interleaved, start=9, loop=False, stop=stop)
    next(once)
    np.testing.assert_array_equal(np.frombuffer(once.send(3), np.float32), [18, 19, 0, 0, 0, 0])  # then silence
    stop.set()
    try:
        once.send(1)
        ended = False
    except StopIteration:
        ended = True
    assert ended  # stopping ends the feed
