"""Direction discovery recovers planted directions; direction files refuse the wrong model."""

import dataclasses
import json

import numpy as np
import pytest

from latent_studio.core.directions import (
    Direction,
    DirectionFileError,
    DirectionRestore,
    DirectionSplit,
    apply_directions,
    discriminant_probe,
    fit_attribute_keep,
    fit_binned_bend,
    fit_binned_direction,
    fit_direction_split,
    fit_split_directions,
    held_out_spread,
    lend_hold,
    load_direction,
    mean_difference_direction,
    orthogonalise,
    save_direction,
)

SHAPE = (3, 8, 8)
rng = np.random.default_rng(0)


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def unit(seed):
    v = np.random.default_rng(seed).standard_normal(SHAPE)
    return v / np.linalg.norm(v)


def test_binned_centroids_recover_a_planted_line_through_heavy_noise():
    v = unit(1) * 0.05  # per degree
    yaw = rng.uniform(-60, 60, 2000)
    latents = 0.5 * rng.standard_normal((2000,) + SHAPE) + yaw[:, None, None, None] * v
    fit = fit_binned_direction(latents, yaw, bins=12)
    # ~167 per bin: centroid noise ~0.5*sqrt(192/167) = 0.54 against a signal spread of ~1.75, so r2 ~ 0.91
    assert cosine(fit.direction, v) > 0.97
    assert np.linalg.norm(fit.direction) == pytest.approx(np.linalg.norm(v), rel=0.1)
    assert fit.r2 > 0.85 and fit.counts.sum() == 2000


def test_a_bent_path_fits_one_line_badly_and_two_half_lines_well():
    left, right = unit(2) * 0.05, unit(3) * 0.05
    yaw = rng.uniform(-60, 60, 3000)
    bend = np.where(yaw[:, None, None, None] < 0, yaw[:, None, None, None] * left, yaw[:, None, None, None] * right)
    latents = 0.3 * rng.standard_normal((3000,) + SHAPE) + bend
    single = fit_binned_direction(latents, yaw)
    below, above = fit_split_directions(latents, yaw)
    assert single.r2 < 0.8
    assert cosine(below.direction, left) > 0.97 and cosine(above.direction, right) > 0.97
    assert below.r2 > 0.9 and above.r2 > 0.9  # expected ~0.92 from the noise per centroid


def test_mean_difference_recovers_a_planted_offset():
    u = unit(4) * 3.0
    glasses = rng.random(3000) < 0.5
    latents = rng.standard_normal((3000,) + SHAPE) + glasses[:, None, None, None] * u
    d = mean_difference_direction(latents, glasses)
    assert cosine(d, u) > 0.97  # noise norm ~sqrt(192 * 2/1500) = 0.51 against 3: cos ~0.986
    with pytest.raises(ValueError):
        mean_difference_direction(latents, np.ones(3000, bool))


def test_orthogonalise_removes_exactly_the_span_of_the_others():
    a, b, c = unit(5), unit(6), unit(7)
    entangled = c + 0.5 * a - 0.3 * b
    out = orthogonalise(entangled, [a, b])
    assert abs(np.ravel(out) @ np.ravel(a)) < 1e-5 and abs(np.ravel(out) @ np.ravel(b)) < 1e-5
    assert cosine(out, orthogonalise(c, [a, b])) > 0.9999
    np.testing.assert_allclose(orthogonalise(c, []), c, atol=1e-6)


def _direction(model_hash="a" * 64):
    return Direction("yaw", unit(8).astype(np.float32), "binned-centroids", (-60.0, 60.0), model_hash, unit="degrees", info={"r2": "0.98"})


def test_direction_file_round_trip(tmp_path):
    save_direction(tmp_path / "yaw.safetensors", _direction())
    loaded = load_direction(tmp_path / "yaw.safetensors", model_hash="a" * 64)
    np.testing.assert_array_equal(loaded.vector, _direction().vector)
    assert loaded.strength_range == (-60.0, 60.0) and loaded.unit == "degrees" and loaded.info == {"r2": "0.98"}


def test_direction_for_another_model_is_refused(tmp_path):
    save_direction(tmp_path / "yaw.safetensors", _direction())
    with pytest.raises(DirectionFileError, match="fitted for model aaaaaaaaaaaa.*fit it again"):
        load_direction(tmp_path / "yaw.safetensors", model_hash="b" * 64)


def test_broken_direction_files(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(DirectionFileError, match="not a readable direction file"):
        load_direction(tmp_path / "bad.safetensors")
    with pytest.raises(DirectionFileError, match="does not exist"):
        load_direction(tmp_path / "none.safetensors")
    nan = Direction("x", np.full(SHAPE, np.nan, np.float32), "m", (0, 1), "h")
    with pytest.raises(DirectionFileError):
        save_direction(tmp_path / "nan.safetensors", nan)
    assert not (tmp_path / "nan.safetensors").exists()


def planted_split(count=1200):
    """A turn that moves a planted 'attribute' pattern only where the attribute is present (as glasses turn)."""
    turn, attribute, moved = unit(11) * 0.1, unit(12) * 6.0, unit(13) * 0.15
    present = np.arange(count) % 2 == 1
    yaw = rng.uniform(-60, 60, count)
    latents = (rng.standard_normal((count,) + SHAPE) + yaw[:, None, None, None] * turn
               + present[:, None, None, None] * (attribute + yaw[:, None, None, None] * moved))
    return latents, yaw, present, turn, moved, attribute


def test_a_split_recovers_each_sides_line_and_reads_the_attribute():
    latents, yaw, present, turn, moved, attribute = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12)
    assert cosine(split.absent, turn) > 0.95 and cosine(split.present, turn + moved) > 0.95
    one_line = fit_binned_direction(latents, yaw, 12).direction  # through both sides: half of the moved pattern
    assert cosine(one_line, turn + 0.5 * moved) > 0.95
    bare, worn = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE) + attribute
    assert split.presence(bare) < 0.1 and split.presence(worn) > 0.9
    np.testing.assert_allclose(split.vector_for(worn), split.present, atol=0.1 * np.abs(split.present).max())
    with pytest.raises(ValueError, match="with and without"):
        fit_direction_split(latents, yaw, np.zeros(len(yaw), bool), "Glasses")


def confounded_attribute(count, seed):
    """Latents whose attribute pattern leans on a way faces vary anyway (a loud within-group direction)."""
    local = np.random.default_rng(seed)
    present = np.arange(count) % 2 == 1
    attribute = (unit(41) + unit(42)) * 3.0
    loud = 10.0 * local.standard_normal(count)[:, None, None, None] * unit(41)
    return local.standard_normal((count,) + SHAPE) + loud + present[:, None, None, None] * attribute, present


def test_the_discriminant_probe_discounts_what_varies_within_groups_and_its_spread_is_measured_on_others():
    latents, present = confounded_attribute(600, 1)
    fresh, fresh_present = confounded_attribute(400, 2)
    probe, threshold = discriminant_probe(latents, present, ridge=1.0)
    mean_difference = mean_difference_direction(latents, present).reshape(-1).astype(np.float64)
    readings = latents.reshape(600, -1) @ mean_difference
    accuracy = {
        "discriminant": np.mean((fresh.reshape(400, -1) @ probe.reshape(-1) > threshold) == fresh_present),
        "mean difference": np.mean((fresh.reshape(400, -1) @ mean_difference > 0.5 * (readings[present].mean() + readings[~present].mean()))
                                   == fresh_present),
    }
    assert accuracy["discriminant"] > 0.85 > 0.7 > accuracy["mean difference"], accuracy
    # read on the examples it was fitted on, its spread is too narrow: five folds of held-out groups say how wide
    groups = np.arange(600) // 2
    fitted = latents.reshape(600, -1) @ probe.reshape(-1).astype(np.float64)
    fitted_spread = np.sqrt(0.5 * (fitted[present].var() + fitted[~present].var()))
    fresh_readings = fresh.reshape(400, -1) @ probe.reshape(-1).astype(np.float64)
    fresh_spread = np.sqrt(0.5 * (fresh_readings[fresh_present].var() + fresh_readings[~fresh_present].var()))
    spread = held_out_spread(latents, present, groups)
    assert fitted_spread < 0.9 * fresh_spread and abs(spread - fresh_spread) < 0.5 * abs(fitted_spread - fresh_spread), (spread, fitted_spread, fresh_spread)
    split = fit_direction_split(latents, rng.uniform(-60, 60, 600), present, "Glasses", bins=6, groups=groups)
    np.testing.assert_array_equal(split.probe, probe)
    assert split.softness == pytest.approx(spread / 4.0)


def split_direction() -> Direction:
    latents, yaw, present, *_ = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12)
    return Direction("Head turn", fit_binned_direction(latents, yaw, 12).direction, "binned", (-60.0, 60.0), "a" * 64,
                     "degrees", split=split)


def test_apply_directions_reads_the_latent_as_the_other_edits_leave_it():
    turn = split_direction()
    attribute = unit(12) * 6.0
    glasses = Direction("Glasses", attribute.astype(np.float32), "mean difference", (-1.0, 1.0), "a" * 64)
    bare = rng.standard_normal(SHAPE).astype(np.float32)
    alone = apply_directions(bare, [(turn, 30.0)])
    expected = bare + 30.0 * turn.split.vector_for(bare)
    np.testing.assert_allclose(alone, expected * np.linalg.norm(bare) / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)
    given_glasses = apply_directions(bare, [(glasses, 1.0), (turn, 30.0)])
    vector = turn.split.vector_for(bare + attribute)  # the turn of a head with the glasses the slider gave it
    assert turn.split.presence(bare + attribute) > 0.9
    expected = bare + attribute + 30.0 * vector
    np.testing.assert_allclose(given_glasses, expected * np.linalg.norm(bare) / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)
    plain = Direction("Head turn", turn.vector, "binned", (-60.0, 60.0), "a" * 64)
    assert plain.vector_for(bare) is plain.vector


def test_a_split_direction_file_round_trips_and_a_broken_split_is_one_sentence(tmp_path):
    direction = split_direction()
    save_direction(tmp_path / "yaw.safetensors", direction)
    loaded = load_direction(tmp_path / "yaw.safetensors")
    for name in ("probe", "absent", "present"):
        np.testing.assert_array_equal(getattr(loaded.split, name), getattr(direction.split, name))
    assert (loaded.split.condition, loaded.split.threshold, loaded.split.softness) == (
        "Glasses", direction.split.threshold, direction.split.softness)
    assert load_direction_bytes_without(tmp_path, "split/present") is not None


def load_direction_bytes_without(tmp_path, key):
    """The file with one split tensor dropped is refused in one sentence."""
    from safetensors.numpy import load, save

    from latent_studio.core.safetensors_header import read_metadata

    data = (tmp_path / "yaw.safetensors").read_bytes()
    tensors = {k: v for k, v in load(data).items() if k != key}
    (tmp_path / "broken.safetensors").write_bytes(save(tensors, metadata=read_metadata(data)))
    with pytest.raises(DirectionFileError, match="not a readable direction file.*split's present tensor is missing"):
        load_direction(tmp_path / "broken.safetensors")
    return True


def test_a_nan_split_is_not_saved(tmp_path):
    direction = split_direction()
    broken = Direction(direction.name, direction.vector, "binned", (-60.0, 60.0), "a" * 64,
                       split=DirectionSplit("Glasses", direction.split.probe, 0.0, 1.0,
                                            np.full(SHAPE, np.nan, np.float32), direction.split.present))
    with pytest.raises(DirectionFileError, match="split/absent"):
        save_direction(tmp_path / "nan.safetensors", broken)
    assert not (tmp_path / "nan.safetensors").exists()


def planted_bend(count=1300):
    """Latents whose mean moves along a curve in the factor: a + b v + q v^2 (as a head turn's profile change)."""
    line, curve = unit(21) * 0.05, unit(22) * 0.002
    yaw = np.repeat(np.linspace(-60, 60, 13), count // 13)
    latents = rng.standard_normal((len(yaw),) + SHAPE) + yaw[:, None, None, None] * line + (yaw**2)[:, None, None, None] * curve
    return latents, yaw, line, curve


def test_a_bend_recovers_the_curve_and_reads_where_a_latent_is():
    latents, yaw, line, curve = planted_bend()
    bend = fit_binned_bend(latents, yaw, bins=13)
    assert cosine(bend.curve, curve) > 0.95
    assert np.linalg.norm(bend.curve) == pytest.approx(np.linalg.norm(curve), rel=0.1)
    readings = np.array([bend.position(x) for x in latents[::50]])
    assert np.corrcoef(readings, yaw[::50])[0, 1] > 0.8  # a noisy reading, but of the right thing
    with pytest.raises(ValueError, match="three"):
        fit_binned_bend(latents[:200], np.where(yaw[:200] > 0, 1.0, -1.0), bins=13)


def bent_direction() -> Direction:
    latents, yaw, *_ = planted_bend()
    return Direction("Head turn", fit_binned_direction(latents, yaw, 13).direction, "binned", (-60.0, 60.0), "a" * 64,
                     "degrees", bend=fit_binned_bend(latents, yaw, bins=13))


def test_a_bent_edit_adds_the_curve_from_where_the_source_reads():
    turn = bent_direction()
    source = rng.standard_normal(SHAPE).astype(np.float32)
    v = turn.bend.position(source)
    edited = apply_directions(source, [(turn, 30.0)])
    expected = source + 30.0 * turn.vector.astype(np.float64) + turn.bend.curve * ((v + 30.0) ** 2 - v * v)
    np.testing.assert_allclose(edited, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(apply_directions(source, [(turn, 0.0)]), source)
    # another slider's edit moves where the source reads; the turn's own edit does not
    other = Direction("Other", (unit(23) * 3.0).astype(np.float32), "mean difference", (-1.0, 1.0), "a" * 64)
    both = apply_directions(source, [(other, 1.0), (turn, 30.0)])
    w = turn.bend.position(source + other.vector)
    expected = source + other.vector + 30.0 * turn.vector.astype(np.float64) + turn.bend.curve * ((w + 30.0) ** 2 - w * w)
    np.testing.assert_allclose(both, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)


def test_a_split_blends_its_lines_bends():
    latents, yaw, present, *_ = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12, bend=True)
    assert split.absent_bend is not None and split.present_bend is not None
    source = rng.standard_normal(SHAPE)
    w = split.presence(source)
    expected = (1 - w) * split.absent_bend.change(source, 20.0) + w * split.present_bend.change(source, 20.0)
    np.testing.assert_allclose(split.bend_change(source, 20.0), expected)
    assert fit_direction_split(latents, yaw, present, "Glasses", bins=12).bend_change(source, 20.0) is None


def test_a_keep_adds_what_the_attribute_adds_at_the_target_in_proportion_to_the_move():
    latents, yaw, present, turn, moved, attribute = planted_split()
    keep = fit_attribute_keep(latents, yaw, present, bins=12)
    assert keep.reach == pytest.approx(60.0, abs=0.5)  # half the examples' span
    for target in (-60.0, 0.0, 60.0):  # with-minus-without there is attribute + target * moved
        assert cosine(keep.change(target - 60.0, 60.0), attribute + target * moved) > 0.95
    assert not np.any(keep.change(25.0, 0.0))  # no move, nothing added
    np.testing.assert_allclose(keep.change(0.0, 30.0), keep.change(-30.0, 60.0) / 2)  # half the move, half of it
    with pytest.raises(ValueError, match="three bins"):
        fit_attribute_keep(latents, np.where(yaw > 0, 1.0, -1.0), present, bins=12)


def test_a_split_keep_is_weighted_by_presence_and_read_from_where_the_source_is():
    latents, yaw, present, *_ = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12, bend=True, keep=True)
    turn = dataclasses.replace(split_direction(), split=split)
    source = rng.standard_normal(SHAPE).astype(np.float32)
    w, v = split.presence(source), split.position(source)
    assert v == pytest.approx(((1 - w) * split.absent_bend.position(source) + w * split.present_bend.position(source)))
    expected = (source + 30.0 * split.vector_for(source).astype(np.float64) + split.bend_change(source, 30.0)
                + w * split.keep.change(v, 30.0))
    edited = apply_directions(source, [(turn, 30.0)])
    np.testing.assert_allclose(edited, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(apply_directions(source, [(turn, 0.0)]), source)
    bare = dataclasses.replace(split, keep=dataclasses.replace(split.keep, bare=0.5))  # taken off bare sources
    np.testing.assert_allclose(bare.keep_change(source, 30.0), (w - 0.5 * (1 - w)) * split.keep.change(v, 30.0))
    unkept = fit_direction_split(latents, yaw, present, "Glasses", bins=12)
    assert unkept.keep_change(source, 30.0) is None and unkept.position(source) == 0.0  # no bends: reads 0


def kept_turn() -> Direction:
    latents, yaw, present, *_ = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12, bend=True, keep=True)
    return dataclasses.replace(split_direction(), split=dataclasses.replace(split, keep=dataclasses.replace(split.keep, bare=0.25)))


def test_a_lent_hold_adds_the_lenders_keep_at_the_sources_own_place_in_proportion_to_the_move():
    turn = kept_turn()
    hue = Direction("Hair hue", (unit(31) * 2.0).astype(np.float32), "binned", (-0.3, 0.3), "a" * 64)
    held = dataclasses.replace(hue, hold=lend_hold(turn, reach=0.3, gain=0.5))
    hold, split = held.hold, turn.split
    assert hold.condition == "Glasses" and hold.lender == "Head turn" and hold.keep.bare == 0.25
    source = (rng.standard_normal(SHAPE) + unit(12) * 6.0).astype(np.float32)  # wearing the planted attribute
    w = split.presence(source)
    assert w > 0.9
    v = 0.5 * (split.absent_bend.position(source) + split.present_bend.position(source))  # one line: the bends' mean
    kept_here = split.keep.change(v - split.keep.reach, split.keep.reach)  # the lender's keep, whole, at the source's own place
    expected = source + 0.3 * hue.vector.astype(np.float64) + (w - 0.25 * (1 - w)) * 0.5 * kept_here
    edited = apply_directions(source, [(held, 0.3)])
    np.testing.assert_allclose(edited, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hold.change(source, -0.15), 0.5 * hold.change(source, 0.3))  # either way, as far as it goes
    np.testing.assert_array_equal(apply_directions(source, [(held, 0.0)]), source)
    # the hold reads the source before the direction's own edit, and after the other sliders'
    glasses = Direction("Glasses", (unit(12) * 6.0).astype(np.float32), "mean difference", (-1.0, 1.0), "a" * 64)
    both = apply_directions(source, [(glasses, 1.0), (held, 0.3)])
    given = source + glasses.vector
    expected = given + 0.3 * hue.vector.astype(np.float64) + hold.change(given, 0.3)
    np.testing.assert_allclose(both, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    # with its lender in the same edit, it puts the attribute where the lender moves the head
    together = apply_directions(source, [(turn, 30.0), (held, 0.3)])
    hued = source + 0.3 * hue.vector.astype(np.float64)  # the turn reads the head with its new hair colour
    expected = (hued + 30.0 * split.vector_for(hued).astype(np.float64) + split.bend_change(hued, 30.0)
                + split.keep_change(hued, 30.0) + (w - 0.25 * (1 - w)) * 0.5 * split.keep.at(v + 30.0))
    np.testing.assert_allclose(together, expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Hair hue keeps nothing along its edit, so it has no hold to lend"):
        lend_hold(hue, reach=0.3, gain=0.5)
    unbent = dataclasses.replace(turn, split=dataclasses.replace(split, absent_bend=None, present_bend=None))
    with pytest.raises(ValueError, match="Head turn has no bend to read where a source is along it"):
        lend_hold(unbent, reach=0.3, gain=0.5)


def test_a_hold_may_take_more_of_the_keep_off_bare_sources_than_its_lender():
    turn = kept_turn()
    bare_source = rng.standard_normal(SHAPE).astype(np.float32)  # without the planted attribute
    w = turn.split.presence(bare_source)
    assert w < 0.1
    as_lent, all_off = lend_hold(turn, reach=0.3, gain=0.5), lend_hold(turn, reach=0.3, gain=0.5, bare=1.0)
    assert as_lent.keep.bare == 0.25 and all_off.keep.bare == 1.0
    # what a bare source gets is -bare of the keep as far as it is bare: four times as much taken off at 1 as at 0.25
    np.testing.assert_allclose(all_off.change(bare_source, 0.3), as_lent.change(bare_source, 0.3) * (w - (1 - w)) / (w - 0.25 * (1 - w)),
                               rtol=1e-4, atol=1e-6)
    assert np.abs(all_off.change(bare_source, 0.3)).sum() > 3 * np.abs(as_lent.change(bare_source, 0.3)).sum()
    with pytest.raises(ValueError, match="a hold takes 1.5 of its keep off bare sources; it should be from 0 to 1"):
        lend_hold(turn, reach=0.3, gain=0.5, bare=1.5)


def test_a_hold_round_trips_and_a_broken_one_is_one_sentence(tmp_path):
    from safetensors.numpy import load, save

    from latent_studio.core.safetensors_header import read_metadata

    hue = Direction("Hair hue", (unit(31) * 2.0).astype(np.float32), "binned", (-0.3, 0.3), "a" * 64,
                    hold=lend_hold(kept_turn(), reach=0.3, gain=0.5))
    save_direction(tmp_path / "held.safetensors", hue)
    loaded = load_direction(tmp_path / "held.safetensors").hold
    for name in ("condition", "lender", "threshold", "softness", "offset"):
        assert getattr(loaded, name) == getattr(hue.hold, name)
    for name in ("probe", "reading"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(hue.hold, name))
    for name in ("base", "slope", "curve", "reach", "bare"):
        np.testing.assert_array_equal(getattr(loaded.keep, name), getattr(hue.hold.keep, name))
    data = (tmp_path / "held.safetensors").read_bytes()

    def broken(**changes):
        hold = {key: value for key, value in {**json.loads(read_metadata(data)["hold"]), **changes}.items() if value is not None}
        (tmp_path / "broken.safetensors").write_bytes(save(load(data), metadata={**read_metadata(data), "hold": json.dumps(hold)}))
        return tmp_path / "broken.safetensors"

    with pytest.raises(DirectionFileError, match="not a readable direction file.*its hold's keep has a reach of 0.0; it should be above 0"):
        load_direction(broken(reach=0.0))
    with pytest.raises(DirectionFileError, match="its hold's keep takes -0.5 off bare sources; it should be from 0 to 1"):
        load_direction(broken(bare=-0.5))
    with pytest.raises(DirectionFileError, match="its hold's condition should be a name, not ''"):
        load_direction(broken(condition=""))
    with pytest.raises(DirectionFileError, match="its hold has no threshold"):
        load_direction(broken(threshold=None))
    tensors = {k: v for k, v in load(data).items() if k != "hold/reading"}
    (tmp_path / "broken.safetensors").write_bytes(save(tensors, metadata=read_metadata(data)))
    with pytest.raises(DirectionFileError, match="its hold's reading tensor is missing"):
        load_direction(tmp_path / "broken.safetensors")
    save_direction(tmp_path / "plain.safetensors", dataclasses.replace(hue, hold=None))
    assert "hold" not in read_metadata((tmp_path / "plain.safetensors").read_bytes())  # no hold: no hold entry, as before holds


def test_a_restore_puts_back_its_factor_in_proportion_to_the_move_either_way_and_round_trips(tmp_path):
    from safetensors.numpy import load, save

    from latent_studio.core.safetensors_header import read_metadata

    plain = Direction("Head turn", (unit(40) * 0.1).astype(np.float32), "binned", (-60.0, 60.0), "a" * 64, unit="degrees")
    restore = DirectionRestore("Eye opening", (unit(41) * 0.01).astype(np.float32))
    turn = dataclasses.replace(plain, restore=restore)
    source = rng.standard_normal(SHAPE).astype(np.float32)
    for strength in (-45.0, 30.0):
        expected = source + strength * plain.vector.astype(np.float64) + abs(strength) * restore.vector.astype(np.float64)
        np.testing.assert_allclose(apply_directions(source, [(turn, strength)]),
                                   expected * np.linalg.norm(source) / np.linalg.norm(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(apply_directions(source, [(turn, 0.0)]), source)
    save_direction(tmp_path / "turn.safetensors", turn)
    loaded = load_direction(tmp_path / "turn.safetensors").restore
    assert loaded.factor == "Eye opening"
    np.testing.assert_array_equal(loaded.vector, restore.vector)
    data = (tmp_path / "turn.safetensors").read_bytes()
    tensors = {k: v for k, v in load(data).items() if k != "restore"}
    (tmp_path / "broken.safetensors").write_bytes(save(tensors, metadata=read_metadata(data)))
    with pytest.raises(DirectionFileError, match="not a readable direction file.*its restore tensor is missing"):
        load_direction(tmp_path / "broken.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(save(load(data), metadata={**read_metadata(data), "restore": '{"factor": 3}'}))
    with pytest.raises(DirectionFileError, match="its restore's factor should be a name, not 3"):
        load_direction(tmp_path / "broken.safetensors")
    save_direction(tmp_path / "plain.safetensors", plain)
    assert "restore" not in read_metadata((tmp_path / "plain.safetensors").read_bytes())  # none: files as before


def test_bends_round_trip_and_a_broken_one_is_one_sentence(tmp_path):
    from safetensors.numpy import load, save

    from latent_studio.core.safetensors_header import read_metadata

    latents, yaw, present, *_ = planted_split()
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12, bend=True)
    for direction in (bent_direction(), dataclasses.replace(split_direction(), split=split)):
        save_direction(tmp_path / "d.safetensors", direction)
        loaded = load_direction(tmp_path / "d.safetensors")
        assert loaded.bends().keys() == direction.bends().keys() and direction.bends()
        for key, bend in direction.bends().items():
            np.testing.assert_array_equal(loaded.bends()[key].curve, bend.curve)
            np.testing.assert_array_equal(loaded.bends()[key].reading, bend.reading)
            assert loaded.bends()[key].offset == bend.offset
    data = (tmp_path / "d.safetensors").read_bytes()
    tensors = {k: v for k, v in load(data).items() if k != "split/absent_bend/curve"}
    (tmp_path / "broken.safetensors").write_bytes(save(tensors, metadata=read_metadata(data)))
    with pytest.raises(DirectionFileError, match="not a readable direction file.*bend 'split/absent_bend''s curve tensor is missing"):
        load_direction(tmp_path / "broken.safetensors")
    split = fit_direction_split(latents, yaw, present, "Glasses", bins=12, keep=True)
    kept = dataclasses.replace(split_direction(), split=dataclasses.replace(split, keep=dataclasses.replace(split.keep, bare=0.25)))
    save_direction(tmp_path / "kept.safetensors", kept)
    loaded = load_direction(tmp_path / "kept.safetensors").split.keep
    assert loaded.reach == kept.split.keep.reach and loaded.bare == 0.25
    for name in ("base", "slope", "curve"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(kept.split.keep, name))
    data = (tmp_path / "kept.safetensors").read_bytes()
    (tmp_path / "broken.safetensors").write_bytes(save(load(data), metadata={**read_metadata(data), "split_keep_reach": "0.0"}))
    with pytest.raises(DirectionFileError, match="not a readable direction file.*keep has a reach of 0.0; it should be above 0"):
        load_direction(tmp_path / "broken.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(save(load(data), metadata={**read_metadata(data), "split_keep_bare": "1.5"}))
    with pytest.raises(DirectionFileError, match="keep takes 1.5 off bare sources; it should be from 0 to 1"):
        load_direction(tmp_path / "broken.safetensors")
    tensors = {k: v for k, v in load(data).items() if k != "split/keep_slope"}
    (tmp_path / "broken.safetensors").write_bytes(save(tensors, metadata=read_metadata(data)))
    with pytest.raises(DirectionFileError, match="its split's keep slope tensor is missing"):
        load_direction(tmp_path / "broken.safetensors")
    plain = dataclasses.replace(split_direction(), split=None)
    save_direction(tmp_path / "plain.safetensors", plain)
    assert "bend" not in str(read_metadata((tmp_path / "plain.safetensors").read_bytes()))  # no bend, the same bytes
