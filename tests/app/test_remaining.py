"""The remaining-time estimate shown beside slow jobs (embedding)."""

from latent_studio.app.remaining import RemainingTime, describe_remaining


def test_remaining_time_follows_the_pace_so_far():
    now = [100.0]
    remaining = RemainingTime(clock=lambda: now[0])
    assert remaining.update(0, 50) is None  # no pace yet
    now[0] = 110.0
    assert remaining.update(10, 50) == 40.0  # 10 steps in 10 s, 40 to go
    now[0] = 130.0
    assert remaining.update(50, 50) == 0.0
    remaining.restart()
    assert remaining.update(5, 50) is None  # a new job starts a new estimate


def test_remaining_time_reads_as_a_short_phrase():
    assert describe_remaining(None) == ""
    assert describe_remaining(0.2) == "about 1 s left"
    assert describe_remaining(42.4) == "about 42 s left"
    assert describe_remaining(600) == "about 10 min left"
