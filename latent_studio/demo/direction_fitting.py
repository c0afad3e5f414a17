"""The demo model's shipped directions, found by the project's own discovery.

Each direction is fitted on renders in which only its factor varies within
an identity: every identity is rendered at every level of the factor (other
factors random but fixed per identity), so each bin holds the same people
and the bin centroids differ by the factor alone. That is method (a) of
``core.directions`` with a stratified sample, which needs far fewer
embeddings for a clean direction than independent random renders.

A fitted line is then calibrated with the factor regressor. The centroid line
moves the *average* latent by one unit of the factor per unit of strength,
but an individual embedded head moved along it turns less (on toy-heads,
about a third as far): the line averages over identities whose own paths
differ. Calibration decodes held-back heads at two strengths, reads the
factor off the images and rescales the vector so that one unit of strength
reads as one unit of the factor. What the slider says is then what the image
does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Collection, Mapping

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import (Direction, DirectionBend, DirectionKeep, DirectionRestore, apply_directions,
                                          fit_binned_bend, fit_direction_split, lend_hold, lends_hold, orthogonalise,
                                          save_direction)
from latent_studio.core.latent_math import add_directions
from latent_studio.demo.factors import FACTOR_NAMES, HeadFactors, sample_factors
from latent_studio.demo.heads import render_batch
from latent_studio.demo.regressor import FactorRegressor, factor_difference, predict
from latent_studio.engine.decode import DEFAULT_BATCH
from latent_studio.engine.discovery import binned_direction, difference_direction, embed_images
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.source_attention import decode_edits

# Identities for direction fitting come from their own seed, apart from training and held-out renders.
DISCOVERY_SEED = 20231


CALIBRATION_HEADS = 16  # identities, at the plan's calibration level, decoded per calibration round
CALIBRATION_ROUNDS = 2  # the response is not linear: a second round corrects the first one's scale
# Which directions are decoded beside their source, reading its self-attention from the first step on
# (issue 14's table, 8 held-out heads): the head turn keeps light and hair (light drift 32% -> 14%), smile and
# glasses drift less; hair hue is left plain, because source attention copies the source's colour (span 0.11 -> 0).
SOURCE_ATTENTION = {"Head turn": 0.0, "Smile": 0.0, "Glasses": 0.0}
# Beyond this the direction barely moves its factor: keep it honest, not louder. A plan may set its own cap (the
# smile's, chosen by measurement). The smile fitted on 24 identities needed about x20 (issue 14, 50 held-out heads:
# x6 moved the smile 0.31 over its range, x18 0.86, x19.8 0.92, x21.6 drifted eye opening 16.0%: smile_span.py).
MAX_CALIBRATION_SCALE = 20.0
# A bend is scaled by this fraction of its line's calibration (which makes single heads turn as far as the
# centroids do). Issue 14, head turn, 50 held-out heads, glasses drift / ground truth at +-45 degrees: no bend
# 22.2% / 21.11 dB; gain 0.4 19.6% / 21.52; 0.6 18.5% / 21.63; 0.8 18.7% / 21.65; on 4 heads the whole of it
# (1.0) overshot, hair length drifting 52%.
BEND_GAIN = 0.6
# A split's keep is scaled by KEEP_GAIN of the calibration its present line got, and KEEP_BARE of it is taken off
# bare heads. Issue 14, head turn, 50 held-out heads (benchmarks/experiments/directions/compensate.py), by what
# the keep adds at the far end as a multiple of the Glasses slider's length at strength 1: the glasses reading's
# mean |change| over the turn among heads with glasses / without, and its signed drift over all heads:
# none 33.3% / 10.1%, 18.5%; 1.0 20.9% / 13.1%, under 9.6%; 1.5 17.7% / 14.1%, under 9.3%; 1.5 with 0.4 taken off
# bare heads 22.3% / 6.6%, 10.1%; 1.5 with 0.25 off 21.8% / 7.6%, 9.9% (ground truth 21.48 dB, light 13.5%);
# 2.0 with 0.25 off 21.4% / 7.1%, 9.7% (21.38 dB). KEEP_GAIN 1.3 adds about 1.5 on toy-heads.
KEEP_GAIN = 1.3
KEEP_BARE = 0.25
# A plan that holds an attribute adds HOLD_GAIN of the lender's keep, at the head's own place along the lender's
# factor, at the direction's full reach. Issue 14, hair hue held with the head turn's glasses keep, 50 held-out heads
# (benchmarks/experiments/directions/hue_keep.py), signed glasses drift: none 20.3% (not monotonic); 0.3 8.3%
# (monotonic, |r| 0.977, eye opening 11.2%); 0.6 12.6%. The smile, the same way (smile_hold.py), glasses |change|
# at +1 for bare heads / heads with glasses, at -0.5 with glasses, signed drift: none 25.8 / 12.1, 20.7, 10.9%;
# 0.3 13.8 / 6.6, 12.1, 6.4% (span 0.858); 0.5 11.8 / 10.4, 13.5, 7.1% (span 0.837); 0.4 with half off bare heads
# 9.2 / 9.7, 14.8, 7.8%; 0.3 with all of it off bare heads 8.8 / 15.5, 16.1, 8.5% (span 0.79). The smile fitted on
# 384 identities, the bench's 50 heads, bare heads' glasses at +1, heads with glasses' loss at -0.5, span: 0.3 with
# KEEP_BARE off bare heads 20.1%, 7.9%, 0.967; 0.5 with half off 6.1%, 11.6%, 0.908; 0.3 with all of it off
# (Plan.hold_bare 1, shipped) 5.3%, 12.2%, 0.911.
HOLD_GAIN = 0.3
# A plan that restores a factor adds RESTORE_GAIN units of it (as the factor's fitted line moves the centroids)
# at the direction's full reach, in proportion to the distance moved. Issue 14, the head turn restoring eye
# opening, 50 held-out heads of evaluate-demo's set / of the bench's (benchmarks/experiments/directions/eye_restore.py),
# largest drift: none eye opening 15.7% / 8.8%, light 13.8 / 13.6%; 1 eye opening 13.9 / 7.5%, light 14.1 / 14.0%,
# hair length 12.6 / 13.5%; 3 hair length 18.5% (evaluate-demo's heads). On both sides of the turn: restoring on the
# left alone, where the eyes close most, moved light and hair length as much and left the right side short.
RESTORE_GAIN = 1.0
RESTORE_PLAN = {"eye_open": ("Eye opening", tuple(np.linspace(0.2, 1.0, 5)), 24)}  # its name, levels, identities


@dataclass(frozen=True)
class Plan:
    """How many identities, at how many levels of each factor, and how to calibrate the fitted direction."""

    factor: str
    levels: tuple[float, ...]
    identities: int
    calibration_level: float  # heads at this level are pushed to calibrate ...
    calibration_strengths: tuple[float, float]  # ... from the first strength to the second
    # A binary factor each identity is also rendered without and with: the direction is split by it
    # (core.directions.DirectionSplit), one line for each side.
    split_by: str | None = None
    bend: bool = False  # each line also gets the quadratic part of its centroids' path (core.directions.DirectionBend)
    keep: bool = False  # the split puts back the attribute the edit fades (core.directions.DirectionKeep)
    hold_from: str | None = None  # the factor of a plan with a keep, lent to hold its attribute (core.directions.DirectionHold)
    hold_bare: float | None = None  # the share of the held keep taken off bare heads (None: as the lender's keep takes)
    restore: str | None = None  # a factor every head loses along the edit, put back (core.directions.DirectionRestore)
    calibration_cap: float = MAX_CALIBRATION_SCALE  # the most calibration may lengthen the line
    orthogonal_to: tuple[str, ...] = ("yaw",)  # the factors whose lines this one is made orthogonal to


def default_plans(scale: float = 1.0) -> list[Plan]:
    def count(n: int) -> int:
        return max(2, round(n * scale))

    return [
        # split by glasses: one line through both fades turned glasses by half (issue 14, 50 held-out heads:
        # glasses drift 44.5% -> 22.2%); bent: 18.5%, the same identity at the target yaw 21.11 -> 21.63 dB;
        # keeping glasses: 9.8%, 21.43 dB (regressor-feature distance to it 2.58 -> 2.49); restoring the eyes it
        # closed: eye opening drift 15.7% -> 13.9% on evaluate-demo's heads
        Plan("yaw", tuple(np.linspace(-60, 60, 13)), count(40), 0.0, (-30.0, 30.0), split_by="glasses", bend=True, keep=True,
             restore="eye_open", orthogonal_to=()),
        # calibrated on the smiling side: the frown side saturates near -0.3 and would read as a weak slope
        # holding glasses with the head turn's keep: a wide smile gave bare heads glasses (26% at +1)
        # 384 identities at 5 smiles, not 24 at 9: a line through 24 was mostly identity noise (cosine 0.23 with a
        # line through 300 other embeddings), and calibration lengthened the noise x19.8 into a mottled mouth.
        # Orthogonal to the glasses too: the cleaner line pointed 0.27 along them, giving bare heads glasses.
        # Its calibration never reaches one unit per unit (x22 read 0.62) and stops at its cap, chosen by measurement
        # (issue 14, the bench's 50 heads; multiples of the fitted line, 96 identities: x16.8 span 0.70, eye opening
        # 7.4%; x21.8 0.95, 9.5%, a faint mottle at +1; x26.8 1.12, 12.2%, mottled. 384: x22 0.81, glasses 11.8%;
        # x26.4 0.96, glasses 17.7%; orthogonal to glasses too, as long (x27.5 of its own fitted line): 0.97, glasses
        # 8.5%, every example head clean at +1)
        # The hold takes all of the keep off bare heads: with KEEP_BARE of it they grew glasses (20% at +1).
        Plan("smile", tuple(np.linspace(-1, 1, 5)), count(384), 0.0, (0.0, 0.5), hold_from="yaw", hold_bare=1.0,
             calibration_cap=27.5, orthogonal_to=("yaw", "glasses")),
        Plan("glasses", (0.0, 1.0), count(60), 0.0, (0.0, 1.0)),
        # holding glasses with the head turn's keep: the hue took them off heads that wear them (46% at -0.3)
        Plan("hair_hue", tuple(np.linspace(0.0, 0.6, 7)), count(24), 0.3, (-0.15, 0.15), hold_from="yaw"),
    ]


def stratified_renders(plan: Plan, size: int, seed: int = DISCOVERY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Every identity at every level (with a split, once without and once with it): images (N, S, S, 3)
    and the factor value of each."""
    rng = np.random.default_rng([seed, sum(map(ord, plan.factor))])
    people: list[HeadFactors] = sample_factors(rng, plan.identities)
    identities = rng.integers(0, 2**31, plan.identities).tolist()
    sides = [{}] if plan.split_by is None else [{plan.split_by: 0.0}, {plan.split_by: 1.0}]
    factors, ids, values = [], [], []
    for person, identity in zip(people, identities, strict=True):
        for side in sides:
            for level in plan.levels:
                factors.append(person.replace(**side, **{plan.factor: float(level)}))
                ids.append(identity)
                values.append(float(level))
    return render_batch(factors, ids, size), np.array(values, np.float32)


def split_present(plan: Plan) -> np.ndarray:
    """Which of ``stratified_renders``' images have the split factor."""
    return np.tile(np.repeat([False, True], len(plan.levels)), plan.identities)


def split_identities(plan: Plan) -> np.ndarray:
    """Which identity each of ``stratified_renders``' images (with a split) shows."""
    return np.repeat(np.arange(plan.identities), 2 * len(plan.levels))


DIRECTION_NAMES = {"yaw": "Head turn", "smile": "Smile", "glasses": "Glasses", "hair_hue": "Hair hue"}


def fit_demo_directions(
    model: LoadedModel,
    steps: int,
    *,
    scale: float = 1.0,
    regressor: FactorRegressor | None = None,
    fixed_point_iterations: int = 1,
    only: Collection[str] | None = None,
    present: Mapping[str, Direction] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[Direction]:
    """Yaw (degrees), smile and hair hue (factor units) by binned regression; glasses by mean difference.

    Each is made orthogonal to the lines its plan names (smile, glasses and hair hue to yaw, so that the
    strongest direction does not leak into the others; the smile to glasses too). With a regressor, every
    direction is then calibrated (see the module's docstring). Embedding for
    the fit skips clamp matching: a centroid averages away what it corrects.
    The directions in ``SOURCE_ATTENTION`` are marked to be decoded with it. A plan with ``bend`` gives each
    of its lines the quadratic part of its centroids' path, scaled by ``BEND_GAIN`` of the line's calibration;
    one with ``keep`` gives its split a keep, scaled by ``KEEP_GAIN`` of the present line's calibration,
    and one with ``hold_from`` holds that attribute with ``HOLD_GAIN`` of the head turn's keep (``hold_bare`` of it
    taken off bare heads, when the plan says).
    With ``only`` (direction names), just those are fitted, in the same order; a line they are made
    orthogonal to, or a keep they borrow, that is not fitted again comes from ``present`` (the model's
    directions by name).
    """
    size = model.image_size[-1]
    plans = [p for p in default_plans(scale) if only is None or DIRECTION_NAMES[p.factor] in only]
    plan_of = {p.factor: p for p in plans}
    present = dict(present or {})
    needed = {DIRECTION_NAMES[f] for p in plans for f in (*p.orthogonal_to, *filter(None, [p.hold_from]))}
    missing = sorted(needed - {DIRECTION_NAMES[f] for f in plan_of} - set(present))
    if missing:
        raise ValueError(f"fitting these directions needs the present {', '.join(missing)} to orthogonalise to or borrow a keep from")
    latents: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for plan in plans:
        images, values = stratified_renders(plan, size)
        embedded = embed_images(model, images, steps, fixed_point_iterations=fixed_point_iterations, clamp_iterations=0,
                                cancel=cancel,
                                progress=(lambda done, total, name=f"embedding {plan.factor}": progress(name, done, total)) if progress else None)
        latents[plan.factor] = (embedded, values)
    h = model.content_hash
    fitted: dict[str, Direction] = {}
    if "yaw" in latents:
        fitted["yaw"] = binned_direction("Head turn", *latents["yaw"], h, strength_range=(-60.0, 60.0), unit="degrees", bins=13)
    # toy-heads cannot frown past about -0.3 from a neutral face: the slider offers what the model does
    if "smile" in latents:
        fitted["smile"] = binned_direction("Smile", *latents["smile"], h, strength_range=(-0.5, 1.0),
                                           bins=len(plan_of["smile"].levels))
    if "glasses" in latents:
        glasses_latents, glasses_values = latents["glasses"]
        fitted["glasses"] = difference_direction("Glasses", glasses_latents, glasses_values > 0.5, h)
    if "hair_hue" in latents:
        fitted["hair_hue"] = binned_direction("Hair hue", *latents["hair_hue"], h, strength_range=(-0.3, 0.3),
                                              unit="hue turns", bins=7)
    for plan in plans:
        if plan.bend and not plan.split_by:
            fitted[plan.factor] = replace(fitted[plan.factor], bend=fit_binned_bend(*latents[plan.factor], bins=len(plan.levels)))
        if plan.split_by:
            direction = fitted[plan.factor]
            split = fit_direction_split(*latents[plan.factor], split_present(plan), DIRECTION_NAMES[plan.split_by],
                                        bins=len(plan.levels), bend=plan.bend, keep=plan.keep, groups=split_identities(plan))
            fitted[plan.factor] = replace(direction, split=split,
                                          info=dict(direction.info, split=f"by {plan.split_by}: one line without, one with"))
    lines = {factor: direction.vector for factor, direction in fitted.items()}
    for plan in plans:
        if plan.orthogonal_to:
            fitted[plan.factor] = _orthogonal_to(fitted[plan.factor], {DIRECTION_NAMES[f]: lines[f] if f in lines else
                                                                       present[DIRECTION_NAMES[f]].vector
                                                                       for f in plan.orthogonal_to})
    directions = [fitted[plan.factor] for plan in plans]
    if regressor is not None:  # calibrated as the app decodes them: beside their source where SOURCE_ATTENTION says so
        directions = [calibrate_plan(model, regressor, plan, direction, latents, steps, progress, cancel)
                      for plan, direction in zip(plans, directions, strict=True)]
    lenders = {plan.factor: direction for plan, direction in zip(plans, directions, strict=True)}
    for factor, name in DIRECTION_NAMES.items():
        if name in present:
            lenders.setdefault(factor, present[name])
    directions = [_held(direction, lenders[plan.hold_from], plan.hold_bare) if plan.hold_from else direction
                  for plan, direction in zip(plans, directions, strict=True)]
    directions = [with_restore(model, direction, plan.restore, steps, scale=scale, progress=progress, cancel=cancel)
                  if plan.restore else direction for plan, direction in zip(plans, directions, strict=True)]
    return [replace(d, source_attention_from=SOURCE_ATTENTION.get(d.name)) for d in directions]


def _held(direction: Direction, lender: Direction, bare: float | None = None) -> Direction:
    """``direction`` holding what ``lender`` keeps, with HOLD_GAIN of its keep at ``direction``'s full reach and
    ``bare`` of it taken off bare heads (None: as the lender takes); unchanged when the lender keeps nothing or does
    not bend, as a head turn fitted before keeps existed."""
    if not lends_hold(lender):
        return direction
    hold = lend_hold(lender, reach=max(abs(x) for x in direction.strength_range), gain=HOLD_GAIN, bare=bare)
    return replace(direction, hold=hold, info=dict(direction.info, hold=f"{hold.condition}, with {HOLD_GAIN:g} of {lender.name}'s keep"))


def with_restore(model: LoadedModel, direction: Direction, factor: str, steps: int, *, scale: float = 1.0,
                 progress: Callable[[str, int, int], None] | None = None, cancel: CancelToken | None = None) -> Direction:
    """``direction`` restoring ``factor``: RESTORE_GAIN units of it at the direction's full reach.

    The factor's line is fitted as the smile is (every identity at every level, binned centroids) and made
    orthogonal to ``direction``'s line, so that it puts back what the edit loses without undoing the edit.
    It is left uncalibrated, and embedded as the experiment that chose the gain embedded it: the gain was
    measured on that fitted length."""
    name, levels, identities = RESTORE_PLAN[factor]
    plan = Plan(factor, levels, max(2, round(identities * scale)), 0.0, (0.0, 0.0))
    images, values = stratified_renders(plan, model.image_size[-1])
    latents = embed_images(model, images, steps, cancel=cancel,
                           progress=(lambda done, total: progress(f"embedding {factor}", done, total)) if progress else None)
    line = binned_direction(name, latents, values, model.content_hash, strength_range=(0.0, 1.0), bins=len(levels))
    reach = max(abs(x) for x in direction.strength_range)
    vector = orthogonalise(line.vector, [direction.vector]) * (RESTORE_GAIN / reach)
    return replace(direction, restore=DirectionRestore(name, vector.astype(np.float32)),
                   info=dict(direction.info, restore=f"{name}, {RESTORE_GAIN:g} unit at full reach (line R2 {line.info['r2']})"))


def calibrate_plan(model, regressor, plan: Plan, direction: Direction, latents, steps: int, progress, cancel) -> Direction:
    """``calibrate`` on heads at the plan's calibration level; a split direction's lines each on their own side's."""
    embedded, values = latents[plan.factor]
    at_level = values == plan.calibration_level
    if progress:
        progress(f"calibrating {direction.name}", 0, 1)

    def scaled(line: Direction, keep: np.ndarray) -> Direction:
        return calibrate(model, regressor, line, plan, embedded[keep][:CALIBRATION_HEADS], steps,
                         source_attention_from=SOURCE_ATTENTION.get(direction.name), cancel=cancel)

    calibrated = scaled(direction, at_level)
    calibrated = replace(calibrated, bend=_scaled_bend(direction.bend, direction.vector, calibrated.vector))
    if direction.split is None:
        return calibrated
    present = split_present(plan)
    split = direction.split
    absent_line, present_line = (scaled(replace(direction, vector=v, split=None, bend=None), at_level & side)
                                 for v, side in ((split.absent, ~present), (split.present, present)))
    split = replace(split, absent=absent_line.vector, present=present_line.vector,
                    absent_bend=_scaled_bend(split.absent_bend, split.absent, absent_line.vector),
                    present_bend=_scaled_bend(split.present_bend, split.present, present_line.vector),
                    keep=_scaled_keep(split.keep, split.present, present_line.vector))
    return replace(calibrated, split=split, info=dict(calibrated.info, calibration_absent=absent_line.info["calibration"],
                                                       calibration_present=present_line.info["calibration"]))


def _calibration_scale(fitted: np.ndarray, calibrated: np.ndarray) -> float:
    """How much calibration lengthened a line."""
    return float(np.linalg.norm(calibrated) / max(np.linalg.norm(fitted), 1e-12))


def _scaled_bend(bend: DirectionBend | None, fitted: np.ndarray, calibrated: np.ndarray) -> DirectionBend | None:
    """A line's bend scaled by BEND_GAIN of the calibration its line got; its reading is left in factor units."""
    if bend is None:
        return None
    return replace(bend, curve=(bend.curve * (BEND_GAIN * _calibration_scale(fitted, calibrated))).astype(np.float32))


def _scaled_keep(keep: DirectionKeep | None, fitted: np.ndarray, calibrated: np.ndarray) -> DirectionKeep | None:
    """A split's keep scaled by KEEP_GAIN of the calibration its present line got, KEEP_BARE of it taken off bare heads."""
    if keep is None:
        return None
    scale = KEEP_GAIN * _calibration_scale(fitted, calibrated)
    return replace(keep, base=(keep.base * scale).astype(np.float32), slope=(keep.slope * scale).astype(np.float32),
                   curve=(keep.curve * scale).astype(np.float32), bare=KEEP_BARE)


def calibrate(
    model: LoadedModel,
    regressor: FactorRegressor,
    direction: Direction,
    plan: Plan,
    heads: np.ndarray,
    steps: int,
    *,
    source_attention_from: float | None = None,
    cancel: CancelToken | None = None,
) -> Direction:
    """Rescale ``direction`` so that, on ``heads``, one unit of strength reads as one unit of ``plan.factor``,
    lengthening it at most ``plan.calibration_cap`` times.

    Measured on the decode the app will use: with ``source_attention_from``, beside the unedited head
    (source attention holds an edit back, e.g. the head turn about 10% on toy-heads v4).
    """
    scale, slope = 1.0, float("nan")
    for _ in range(CALIBRATION_ROUNDS):
        slope = response_slope(model, regressor, direction.vector * scale, plan, heads, steps, cancel,
                               source_attention_from=source_attention_from)
        if not slope > 0.0:  # no effect, or the wrong way: leave the fitted scale and say so
            break
        scale = min(scale / slope, plan.calibration_cap)
    return _replace_vector(direction, (direction.vector * scale).astype(np.float32),
                           calibration=f"x{scale:.3f} (last measured slope {slope:.3f} per unit, regressor on "
                                       f"{len(heads)} heads at {plan.factor} {plan.calibration_level:g})")


def response_slope(model, regressor, vector: np.ndarray, plan: Plan, heads: np.ndarray, steps: int,
                   cancel: CancelToken | None = None, *, source_attention_from: float | None = None) -> float:
    """Mean change of the regressor's reading of the factor per unit of strength, between the two strengths."""
    low, high = plan.calibration_strengths
    readings = read_along(model, regressor, heads, vector, (low, high), steps,
                          source_attention_from=source_attention_from, cancel=cancel)
    column = FACTOR_NAMES.index(plan.factor)
    change = factor_difference(plan.factor, readings[1, :, column] - readings[0, :, column])
    return float(np.mean(change) / (high - low))


def read_along(model: LoadedModel, regressor: FactorRegressor, heads: np.ndarray, vector: np.ndarray | Direction,
               strengths, steps: int, *, batch_size: int = DEFAULT_BATCH, source_attention_from: float | None = None,
               cancel: CancelToken | None = None) -> np.ndarray:
    """Push every head along ``vector`` to each strength, decode, and read all factors: (strengths, heads, factors).

    ``vector`` may be a Direction, edited as the app edits (a split direction takes each head's own blend).
    With ``source_attention_from``, each edit is decoded beside its head as the app renders it
    (engine/source_attention.py).
    """
    if isinstance(vector, Direction):
        edited = np.stack([apply_directions(h, [(vector, s)]) for s in strengths for h in heads])
    else:
        edited = np.stack([add_directions(h, [(vector, s)]) for s in strengths for h in heads])
    source_of = [i for _ in strengths for i in range(len(heads))]
    images = decode_edits(model, edited, np.asarray(heads, np.float32), source_of, source_attention_from, steps,
                          batch_size=batch_size, cancel=cancel)
    return predict(regressor, images).reshape(len(strengths), len(heads), -1)


def _orthogonal_to(direction: Direction, lines: Mapping[str, np.ndarray]) -> Direction:
    """``direction`` (and a split's lines) without its components along ``lines`` (by direction name)."""
    others = list(lines.values())
    if direction.split is not None:
        split = direction.split
        direction = replace(direction, split=replace(split, absent=orthogonalise(split.absent, others),
                                                     present=orthogonalise(split.present, others)))
    return _replace_vector(direction, orthogonalise(direction.vector, others), note=f"orthogonalised to {', '.join(lines)}")


def _replace_vector(direction: Direction, vector: np.ndarray, **notes: str) -> Direction:
    return replace(direction, vector=vector, info=dict(direction.info, **notes))


def file_name(index: int, direction: Direction) -> str:
    """Numbered, so the model's directions list in the order they were fitted (head turn first)."""
    return f"{index:02d}_" + direction.name.lower().replace(" ", "_") + ".safetensors"


def save_directions(folder: Path, directions: list[Direction], start: int = 1) -> list[Path]:
    """Write each direction to ``folder``, numbered from ``start``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, direction in enumerate(directions, start=start):
        path = folder / file_name(index, direction)
        save_direction(path, direction)
        paths.append(path)
    return paths
