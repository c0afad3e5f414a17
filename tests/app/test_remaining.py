"""The remaining-time estimate shown beside slow jobs (embedding)."""

from latent_studio.app.remaining import RemainingTime, describe_remaining


def test_remaining_time_follows_the_pace_since_the_first_piece():
    now = [100.0]
    remaining = RemainingTime(clock=lambda: now[0])
    assert remaining.update(0, 50) is None  # no pace yet
    now[0] = 110.0
    assert remaining.update(10, 50) is None  # the first pieces carry the start-up: no pace from them
    now[0] = 120.0
    assert remaining.update(20, 50) == 30.0  # 10 steps in 10 s since, 30 to go
    now[0] = 150.0
    assert remaining.update(50, 50) == 0.0
    remaining.restart()
    assert remaining.update(5, 50) is None  # a new job starts a new estimate


def test_a_slow_start_and_a_first_batch_arriving_at_once_do_not_skew_the_estimate():
    """The audit's render: 8 frames in batches of 4, the first batch 11 s in (loading), then 1 s a batch."""
    now = [0.0]
    remaining = RemainingTime(clock=lambda: now[0])
    for done in range(1, 5):  # the first batch: four frames within milliseconds, after the start-up
        now[0] = 11.0 + done * 0.001
        assert remaining.update(done, 8) is None
    for done in range(5, 8):
        now[0] = 12.0 + done * 0.001
        assert remaining.update(done, 8) is not None
    assert remaining.update(7, 8) < 1.0 and remaining.rate > 2.9  # a batch's pace, not the start-up's


def test_remaining_time_reads_as_a_short_phrase():
    assert describe_remaining(None) == ""
    assert describe_remaining(0.2) == "about 1 s left"
    assert describe_remaining(42.4) == "about 42 s left"
    assert describe_remaining(600) == "about 10 min left"
