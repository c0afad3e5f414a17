"""The export dialog's estimate: sizes from the measured table, time from this machine's speed, cached frames free."""

import pytest

from latent_studio.app.export_estimate import BYTES_PER_PIXEL, MEASURED_PIXELS, bytes_per_pixel, estimate
from latent_studio.media.export import FORMATS, QUALITIES


def test_every_format_and_quality_has_a_measurement():
    for key, fmt in FORMATS.items():
        for quality in QUALITIES:
            assert bytes_per_pixel(key, quality, 256 * 256) is not None, (key, quality)


def test_bytes_per_pixel_meets_the_measurements_and_moves_between_them_monotonically():
    small, large = BYTES_PER_PIXEL[("mp4", "standard")]
    assert bytes_per_pixel("mp4", "standard", MEASURED_PIXELS[0]) == pytest.approx(small)
    assert bytes_per_pixel("mp4", "standard", MEASURED_PIXELS[1]) == pytest.approx(large)
    between = [bytes_per_pixel("mp4", "standard", p) for p in (512 * 512, 1024 * 1024, 1280 * 720)]
    assert small > between[0] > between[1] > large
    assert bytes_per_pixel("mp4", "standard", 64 * 64) == pytest.approx(small)  # held beyond the measured sizes
    assert bytes_per_pixel("prores", "high", MEASURED_PIXELS[0]) == pytest.approx(BYTES_PER_PIXEL[("prores", "-")][0])


def test_time_counts_only_frames_to_decode_and_waits_for_a_measured_speed():
    guess = estimate("mp4", "standard", (1920, 1080), frames=96, frames_to_decode=40, steps=50, seconds_per_step=0.02)
    assert guess.seconds == pytest.approx(40 * 50 * 0.02)
    assert guess.bytes == int(BYTES_PER_PIXEL[("mp4", "standard")][1] * 1920 * 1080 * 96)
    assert guess.describe() == "about 40 s and about 657 kB"
    unknown = estimate("png", "standard", (256, 256), 10, 10, 50, None)
    assert unknown.seconds is None and unknown.describe().startswith("about ") and " s" not in unknown.describe()
    long = estimate("png16", "standard", (3840, 2160), 14400, 14400, 50, 0.05)
    assert long.describe() == "about 10 h 00 min and about 341 GB"
