"""Keyframe evaluation, checked against numbers worked out by hand."""

import pytest

from latent_studio.core.keyframes import (
    Handle,
    Interpolation,
    Keyframe,
    KeyframeError,
    check_order,
    evaluate_anchor,
    evaluate_number,
    valid_handles,
)

I = Interpolation


def track(mode, *points, **handles):
    return tuple(Keyframe(t, v, mode, **handles) for t, v in points)


@pytest.mark.parametrize(
    "mode, t, expected",
    [
        # segment 0 s -> 2 s, value 10 -> 20; u = t / 2
        (I.LINEAR, 0.5, 12.5),
        (I.LINEAR, 1.0, 15.0),
        (I.HOLD, 1.999, 10.0),
        (I.HOLD, 2.0, 20.0),
        (I.EASE_IN, 1.0, 12.5),  # 10 + 10 * 0.5^2
        (I.EASE_OUT, 1.0, 17.5),  # 10 + 10 * (1 - 0.5^2)
        (I.EASE_IN_OUT, 0.5, 11.5625),  # u = 0.25: 3u^2 - 2u^3 = 0.15625
        (I.EASE_IN_OUT, 1.0, 15.0),
        (I.BEZIER, 1.0, 15.0),  # default flat third handles: symmetric S curve through the middle
    ],
)
def test_segment_values(mode, t, expected):
    assert evaluate_number(track(mode, (0.0, 10.0), (2.0, 20.0)), t) == pytest.approx(expected, abs=1e-9)


def test_constant_extrapolation_on_both_sides():
    keys = track(I.LINEAR, (1.0, 3.0), (2.0, 5.0))
    assert evaluate_number(keys, -10.0) == 3.0
    assert evaluate_number(keys, 99.0) == 5.0
    assert evaluate_number(keys, 1.0) == 3.0 and evaluate_number(keys, 2.0) == 5.0


def test_interpolation_belongs_to_the_segment_start():
    keys = (Keyframe(0.0, 0.0, I.HOLD), Keyframe(1.0, 1.0, I.LINEAR), Keyframe(2.0, 3.0, I.HOLD))
    assert evaluate_number(keys, 0.5) == 0.0
    assert evaluate_number(keys, 1.5) == 2.0


def test_default_bezier_matches_the_smooth_curve_at_known_points():
    # Flat handles of a third: x(s) = s (linear in time), y(s) = 3s^2 - 2s^3 = smoothstep.
    keys = track(I.BEZIER, (0.0, 0.0), (1.0, 1.0))
    for t in (0.1, 0.25, 0.8):
        assert evaluate_number(keys, t) == pytest.approx(3 * t * t - 2 * t**3, abs=1e-9)


def test_bezier_handles_shape_the_curve_and_are_clamped_into_the_segment():
    start = Keyframe(0.0, 0.0, I.BEZIER, out_handle=Handle(0.5, 2.0))  # a steep start
    end = Keyframe(1.0, 1.0, I.LINEAR, in_handle=Handle(-0.5, 0.0))
    assert evaluate_number((start, end), 0.3) > 0.3 * 1.5
    wild = Keyframe(0.0, 0.0, I.BEZIER, out_handle=Handle(5.0, 1.0))  # handle past the next keyframe
    back = Keyframe(1.0, 1.0, I.LINEAR, in_handle=Handle(+3.0, 0.0))  # handle pointing the wrong way
    out_h, in_h = valid_handles(wild, back)
    assert out_h == Handle(1.0, 1.0) and in_h == Handle(0.0, 0.0)
    values = [evaluate_number((wild, back), t / 20) for t in range(21)]
    assert all(0.0 - 1e-9 <= v <= 1.0 + 1e-9 for v in values)  # a function of time, no loops


def test_order_is_checked():
    with pytest.raises(KeyframeError, match="same time"):
        check_order(track(I.LINEAR, (1.0, 0.0), (1.0, 1.0)))
    with pytest.raises(KeyframeError, match="out of order"):
        check_order(track(I.LINEAR, (2.0, 0.0), (1.0, 1.0)))
    with pytest.raises(KeyframeError):
        evaluate_number((), 0.0)


def test_anchor_blend_eases_the_slerp_weight():
    keys = (Keyframe(0.0, "a", I.EASE_IN_OUT), Keyframe(2.0, "b", I.HOLD), Keyframe(3.0, "c"))
    assert evaluate_anchor(keys, -1.0).a == "a" and evaluate_anchor(keys, -1.0).b is None
    mid = evaluate_anchor(keys, 0.5)
    assert (mid.a, mid.b) == ("a", "b") and mid.weight == pytest.approx(0.15625)
    held = evaluate_anchor(keys, 2.5)
    assert (held.a, held.b, held.weight) == ("b", None, 0.0)
    assert evaluate_anchor(keys, 3.0).a == "c"
    same = (Keyframe(0.0, "a"), Keyframe(1.0, "a"))
    assert evaluate_anchor(same, 0.5).b is None


def test_even_pace_inverts_the_measured_change_and_keeps_the_segment_ends():
    from latent_studio.core.keyframes import retime

    pace = (0.0, 0.6, 0.65, 0.7, 1.0)  # the weights at a quarter, half, ...: most of the change is near 0.6-0.7
    assert [retime(p, pace) for p in (0.0, 0.25, 0.5, 0.75, 1.0)] == pytest.approx(list(pace))
    assert retime(0.6, pace) == pytest.approx(0.65 + 0.4 * 0.05)
    samples = [retime(i / 100, pace) for i in range(101)]
    assert samples == sorted(samples) and samples[0] == 0.0 and samples[-1] == 1.0
    assert retime(0.3, ()) == 0.3  # no table: the easing's own weight

    keys = (Keyframe(0.0, "a", Interpolation.LINEAR, pace=pace), Keyframe(1.0, "b"))
    assert evaluate_anchor(keys, 0.55).weight == pytest.approx(retime(0.55, pace))
    assert evaluate_anchor(keys, 0.0).weight == 0.0 and evaluate_anchor(keys, 1.0).a == "b"


@pytest.mark.parametrize("pace", [(0.0,), (0.1, 1.0), (0.0, 0.5), (0.0, 0.6, 0.4, 1.0)])
def test_a_pace_table_that_does_not_rise_from_0_to_1_is_refused(pace):
    from latent_studio.core.keyframes import check_pace

    with pytest.raises(KeyframeError):
        check_pace(pace)
