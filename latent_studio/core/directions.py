"""Semantic directions in latent space: fitting them from labelled embeddings, and their files.

Three methods, all plain linear algebra on (N, C, H, W) latents:

(a) ``fit_binned_direction``: embed many examples, bin them by a labelled
    factor (e.g. yaw), and fit a line through the bin centroids (the
    head-rotation method of Asperti et al. 2023). Binning averages away
    everything that does not vary with the factor. The fit reports R²; when
    one line fits badly, ``fit_split_directions`` fits the two halves of the
    range (left and right turns) separately.
(b) ``mean_difference_direction``: mean of the positives minus mean of the
    negatives (glasses on / off).
(c) ``orthogonalise``: remove the components along other directions, to
    reduce entanglement (turning the head should not change the smile).

A direction may be split by another attribute of the source (``DirectionSplit``):
one line for sources with the attribute and one for those without, blended by
a linear probe's reading of the latent. A line may also bend (``DirectionBend``):
the part of the centroids' path that is quadratic in the factor, applied from
where the source reads along it. A split may keep its attribute (``DirectionKeep``):
what the attribute adds at the target, put back as the edit moves the source
away from its own. A direction that does not move that attribute's factor may
still wash the attribute out (a hair-colour edit fading glasses): it may hold
it (``DirectionHold``), with a keep lent by a split direction, read at the
source's own place along the lender's factor. A direction may also restore a factor
that every source loses along it (``DirectionRestore``: a head turn closes the eyes),
in proportion to the distance moved. ``apply_directions`` makes each
direction's change for the latent it edits.

A direction's strength is in the factor's own units where it has them
(degrees of yaw), else 1.0 means "the full difference between the two sets".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import UserError
from latent_studio.core.latent_math import add_directions
from latent_studio.core.safetensors_header import read_metadata

FORMAT = "latent-studio.direction"
FORMAT_VERSION = "1"


class DirectionFileError(UserError):
    """A direction file is unreadable or belongs to another model."""


SPLIT_TENSORS = ("probe", "absent", "present")  # a split's latent-shaped arrays, as saved
BEND_TENSORS = ("reading", "curve")  # a bend's latent-shaped arrays, saved under its line's key
KEEP_TENSORS = ("keep_base", "keep_slope", "keep_curve")  # a split's keep, saved beside its lines
HOLD_TENSORS = ("probe", "reading", "keep_base", "keep_slope", "keep_curve")  # a hold's, saved under "hold/"


def _read(latent: np.ndarray, reading: np.ndarray) -> float:
    """A linear reading of ``latent``: its dot product with ``reading``, in float64."""
    return float(np.vdot(np.asarray(latent, np.float64), np.asarray(reading, np.float64)))


def _presence(latent: np.ndarray, probe: np.ndarray, threshold: float, softness: float) -> float:
    """How far ``latent`` reads as having an attribute, from 0 to 1: a stable sigmoid of a linear probe's reading."""
    return float(0.5 * (1.0 + np.tanh(0.5 * (_read(latent, probe) - threshold) / softness)))


def _midpoint_and_spread(readings: np.ndarray, present: np.ndarray) -> tuple[float, float]:
    """The midpoint of two groups' mean readings, and the groups' pooled standard deviation."""
    midpoint = 0.5 * (readings[present].mean() + readings[~present].mean())
    return float(midpoint), float(np.sqrt(0.5 * (readings[present].var() + readings[~present].var())))


@dataclass(frozen=True, eq=False)
class DirectionBend:
    """The curve in a direction's path that a straight line averages away (issue 14).

    Centroids of examples binned by the factor lie near c(v) = a + b v + q v^2. For a head turn q is the
    profile change that turning either way shares; a line through the centroids leaves it out, so a head
    turned far keeps its frontal detail. An edit from a source at v to v + s adds b s (the line) and
    q ((v + s)^2 - v^2) (this bend), with v read off the source's own latent.
    """

    reading: np.ndarray  # latent-shaped: latent . reading + offset is the source's factor value, in strength units
    offset: float
    curve: np.ndarray  # latent change per strength unit squared

    def position(self, latent: np.ndarray) -> float:
        """Where ``latent`` reads along the factor, in strength units."""
        return _read(latent, self.reading) + self.offset

    def change(self, latent: np.ndarray, strength: float) -> np.ndarray:
        """The bend's part of the latent change when ``latent`` is moved by ``strength``."""
        v = self.position(latent)
        return np.asarray(self.curve, np.float64) * ((v + float(strength)) ** 2 - v * v)


@dataclass(frozen=True, eq=False)
class DirectionKeep:
    """A split's attribute put back along the edit, for sources that have it (issue 14).

    A head's own glasses sit in x_T's fine structure, pinned to pixel positions, so they fade as the head
    turns away from them: the split's present line moves only the glasses that every example shares. The
    keep adds what the attribute adds at the target, k(u) = base + slope u + curve u^2 at u = v + s (the
    examples' mean with-minus-without latent there), in proportion to the distance moved, |s| / reach.
    A source without the attribute gets ``bare`` of it taken away instead: the split's probe is not always
    right, and a bare head it half-reads as wearing glasses would otherwise grow some.
    """

    base: np.ndarray
    slope: np.ndarray  # per strength unit
    curve: np.ndarray  # per strength unit squared
    reach: float  # the distance moved at which the whole k(u) is added (> 0)
    bare: float = 0.0  # the share of it taken off sources without the attribute, from 0 to 1

    def at(self, position: float) -> np.ndarray:
        """k(u): what the attribute adds at ``position`` along the factor."""
        u = float(position)
        base, slope, curve = (np.asarray(v, np.float64) for v in (self.base, self.slope, self.curve))
        return base + u * slope + u * u * curve

    def change(self, position: float, strength: float) -> np.ndarray:
        """The latent change for a source at ``position`` moved by ``strength``."""
        return self.at(float(position) + float(strength)) * (abs(float(strength)) / self.reach)

    def weight(self, presence: float) -> float:
        """How much of it a source gets: all as far as it has the attribute, ``-bare`` as far as it has not."""
        return presence - self.bare * (1.0 - presence)


@dataclass(frozen=True, eq=False)
class DirectionSplit:
    """Two lines, one for sources with an attribute and one for sources without, blended by a probe.

    A line fitted over every example averages what the attribute does along it. Turning a head with
    glasses must move the glasses and turning a bare head must draw none; one line through both halves
    does half of each, so turned glasses fade by half and bare heads grow faint ones (issue 14).
    The probe is linear in the latent, so the blend is smooth: a source the probe is unsure of gets
    a mixture, and a slider that adds the attribute moves the blend with it.
    """

    condition: str  # the attribute the probe reads, e.g. "Glasses"
    probe: np.ndarray  # latent-shaped; the reading is the dot product with the latent
    threshold: float  # the reading halfway between the two groups of examples
    softness: float  # reading units per logit of the blend (> 0)
    absent: np.ndarray  # the line for sources without the attribute
    present: np.ndarray  # the line for sources with it
    absent_bend: DirectionBend | None = None  # each line's bend, when it has one
    present_bend: DirectionBend | None = None
    keep: DirectionKeep | None = None  # the attribute put back along the edit, for sources that have it

    def presence(self, latent: np.ndarray) -> float:
        """How far ``latent`` reads as having the attribute, from 0 to 1."""
        return _presence(latent, self.probe, self.threshold, self.softness)

    def vector_for(self, latent: np.ndarray) -> np.ndarray:
        w = self.presence(latent)
        return ((1.0 - w) * self.absent.astype(np.float64) + w * self.present.astype(np.float64)).astype(np.float32)

    def bend_change(self, latent: np.ndarray, strength: float) -> np.ndarray | None:
        """The blend of the two lines' bends at ``strength`` (None when neither line bends)."""
        if self.absent_bend is None and self.present_bend is None:
            return None
        w = self.presence(latent)
        return sum((weight * bend.change(latent, strength) for weight, bend in ((1.0 - w, self.absent_bend), (w, self.present_bend))
                    if bend is not None), np.zeros(np.shape(self.absent)))

    def position(self, latent: np.ndarray) -> float:
        """Where ``latent`` reads along the factor: its bends' readings, blended as the lines are (0 without)."""
        w = self.presence(latent)
        weighted = [(weight, bend) for weight, bend in ((1.0 - w, self.absent_bend), (w, self.present_bend)) if bend is not None]
        total = sum(weight for weight, _ in weighted)
        return sum(weight * bend.position(latent) for weight, bend in weighted) / total if total > 0 else 0.0

    def keep_change(self, latent: np.ndarray, strength: float) -> np.ndarray | None:
        """The keep's change, added as far as the source has the attribute and taken off as far as it has not
        (None without a keep)."""
        if self.keep is None:
            return None
        return self.keep.weight(self.presence(latent)) * self.keep.change(self.position(latent), strength)


@dataclass(frozen=True, eq=False)
class DirectionHold:
    """An attribute a direction does not move but washes out, held by a keep another direction lends (issue 14).

    A hair-hue edit takes glasses off heads that wear them (toy-heads, 50 held-out heads: 46% at -0.3) though
    nothing in it moves glasses: they sit in x_T's fine structure, and any move disturbs it. The head turn's
    keep knows what glasses add at each yaw. The hold adds it at the source's own yaw, k(v), in proportion
    to the distance moved, |s| / reach, as far as the probe reads the attribute, and takes ``bare`` of it
    off as far as it reads none, as the lender does. The probe and the reading are the lender's, copied, so
    the direction is whole in its own file.
    """

    condition: str  # the attribute held, e.g. "Glasses"
    lender: str  # the direction whose keep this is, e.g. "Head turn"
    probe: np.ndarray  # the lender's split probe, threshold and softness
    threshold: float
    softness: float
    reading: np.ndarray  # latent . reading + offset: where the source is along the lender's factor
    offset: float
    keep: DirectionKeep  # its reach is this direction's, and its size what the hold adds there

    def change(self, latent: np.ndarray, strength: float, lender_move: float = 0.0) -> np.ndarray:
        """The latent change that holds the attribute when ``latent`` is moved by ``strength``, and by
        ``lender_move`` along the lender's factor when the lender edits the same frame (the glasses go
        where the head turns)."""
        w = _presence(latent, self.probe, self.threshold, self.softness)
        position = _read(latent, self.reading) + self.offset
        return self.keep.weight(w) * self.keep.at(position + lender_move) * (abs(float(strength)) / self.keep.reach)


@dataclass(frozen=True, eq=False)
class DirectionRestore:
    """A factor every source loses along a direction, put back in proportion to the distance moved (issue 14).

    An edited latent decodes nearer the model's mode: on toy-heads a head turned to -60 degrees reads its eyes
    about 15% of their range more closed, heads with glasses or without alike, so no split or keep covers it.
    The restore adds ``vector`` |s|: a line of the lost factor (fitted as any direction is, made orthogonal to
    this direction's own line), scaled so that the full reach adds what the turn takes away.
    """

    factor: str  # the factor put back, e.g. "Eye opening"
    vector: np.ndarray  # latent change per unit of |strength|

    def change(self, strength: float) -> np.ndarray:
        return np.asarray(self.vector, np.float64) * abs(float(strength))


def lends_hold(direction: Direction) -> bool:
    """Whether ``direction`` has a hold to lend: a split with a keep and a bend to read where a source is."""
    split = direction.split
    return split is not None and split.keep is not None and (split.absent_bend is not None or split.present_bend is not None)


def lend_hold(lender: Direction, reach: float, gain: float, bare: float | None = None) -> DirectionHold:
    """The hold a split direction with a keep lends another direction, whose edits reach ``reach``.

    At the borrower's full reach it adds ``gain`` times k(v), the lender's keep at the source's own place
    v along the lender's factor, and takes ``bare`` of it off bare sources (None: as the lender's keep does).
    v is read by one line: the mean of the lender's bends' readings (the lender blends them by the probe,
    which is not linear; on toy-heads the mean reads within 2.7 degrees rms of the blend), so the lender
    must bend.
    """
    split = lender.split
    if split is None or split.keep is None:
        raise ValueError(f"{lender.name} keeps nothing along its edit, so it has no hold to lend")
    bends = [bend for bend in (split.absent_bend, split.present_bend) if bend is not None]
    if not bends:
        raise ValueError(f"{lender.name} has no bend to read where a source is along it, so it has no hold to lend")
    if not (reach > 0.0 and gain >= 0.0):
        raise ValueError(f"a hold needs a reach above 0 and a gain of at least 0, not {reach} and {gain}")
    if bare is not None and not 0.0 <= bare <= 1.0:
        raise ValueError(f"a hold takes {bare} of its keep off bare sources; it should be from 0 to 1")
    reading = np.mean([np.asarray(b.reading, np.float64) for b in bends], axis=0).astype(np.float32)
    offset = float(np.mean([b.offset for b in bends]))
    keep = split.keep
    scaled = [(np.asarray(v, np.float64) * gain).astype(np.float32) for v in (keep.base, keep.slope, keep.curve)]
    return DirectionHold(split.condition, lender.name, split.probe, split.threshold, split.softness, reading, offset,
                         DirectionKeep(*scaled, float(reach), keep.bare if bare is None else float(bare)))


@dataclass(frozen=True, eq=False)
class Direction:
    """The one direction record: as fitted and saved in a model's folder, and on a project's slider (with an id)."""

    name: str
    vector: np.ndarray  # float32 (C, H, W): latent change per unit of strength
    method: str
    strength_range: tuple[float, float]
    model_hash: str
    unit: str = ""
    info: dict[str, str] = field(default_factory=dict)  # how it was fitted (R², examples, calibration, ...)
    id: str = ""  # its key in a project's directions; empty in a model's direction file
    origin: str = "model"  # in a project: "model" (shipped with the model) or "user"
    # How an edit along it is decoded: None adds it to x_T and decodes (a plain edit); a fraction f in [0, 1]
    # also decodes the unedited latent beside it and, from f of the DDIM steps on, the edit reads the
    # source's self-attention, keeping light, hair and background (engine/source_attention.py).
    source_attention_from: float | None = None
    # Split by another attribute of the source: its lines replace ``vector`` when the latent edited is known
    # (``apply_directions``); ``vector`` stays the one line through every example (maps, orthogonalising).
    split: DirectionSplit | None = None
    bend: DirectionBend | None = None  # the bend of ``vector``'s line (a split's lines carry their own)
    hold: DirectionHold | None = None  # an attribute it would wash out, held with another direction's keep
    restore: DirectionRestore | None = None  # a factor every source loses along it, put back

    def vector_for(self, latent: np.ndarray) -> np.ndarray:
        """The latent change per unit of strength when editing ``latent``."""
        return self.vector if self.split is None else self.split.vector_for(latent)

    def changes_for(self, latent: np.ndarray, strength: float, lender_move: float = 0.0) -> list[tuple[np.ndarray, float]]:
        """The (vector, strength) terms of the latent change when editing ``latent`` by ``strength``: the line,
        then the bend, the keep, the hold and the restore where there are (``lender_move``: the hold's lender's
        strength in the same edit)."""
        if self.split is not None:
            extras = [self.split.bend_change(latent, strength), self.split.keep_change(latent, strength)]
        else:
            extras = [self.bend.change(latent, strength) if self.bend is not None else None]
        extras.append(self.hold.change(latent, strength, lender_move) if self.hold is not None else None)
        extras.append(self.restore.change(strength) if self.restore is not None else None)
        return [(self.vector_for(latent), strength)] + [(extra, 1.0) for extra in extras if extra is not None]

    def bends(self) -> dict[str, DirectionBend]:
        """Its bends by the key they are saved under."""
        found = {"bend": self.bend}
        if self.split is not None:
            found.update({"split/absent_bend": self.split.absent_bend, "split/present_bend": self.split.present_bend})
        return {key: bend for key, bend in found.items() if bend is not None}


def apply_directions(latent: np.ndarray, edits) -> np.ndarray:
    """``add_directions`` with each ``(Direction, strength)`` edit's change for this latent.

    Each direction reads the latent as the other directions' unsplit edits leave it: a head given glasses
    by the Glasses slider turns with its glasses, and a bend or a hold starts from where the source is.
    A hold puts its attribute where its lender (found by name) moves the source.
    """
    edits = list(edits)
    read = np.asarray(latent, np.float64).copy()
    for direction, strength in edits:
        if direction.split is None:
            read += float(strength) * np.asarray(direction.vector, np.float64)
    moves = {direction.name: float(strength) for direction, strength in edits}
    terms = []
    for direction, strength in edits:
        # a bend or a hold reads where the source is, before this direction's own edit
        own = read if direction.split is not None else read - float(strength) * np.asarray(direction.vector, np.float64)
        terms += direction.changes_for(own, strength, moves.get(direction.hold.lender, 0.0) if direction.hold else 0.0)
    return add_directions(latent, terms)


@dataclass(frozen=True)
class LineFit:
    direction: np.ndarray  # per unit of the factor
    offset: np.ndarray  # the centroid line's value at factor 0
    r2: float  # fraction of the centroids' variance the line explains
    bin_centres: np.ndarray
    counts: np.ndarray


def bin_index(values: np.ndarray, bins: int) -> np.ndarray:
    """Each value's equal-width bin over the values' range."""
    values = np.asarray(values, np.float64)
    edges = np.linspace(values.min(), values.max(), bins + 1)
    return np.clip(np.digitize(values, edges[1:-1]), 0, bins - 1)


def bin_centroids(latents: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid latent, mean factor value and count of each non-empty equal-width bin."""
    latents = np.asarray(latents, np.float64).reshape(len(latents), -1)
    values = np.asarray(values, np.float64)
    if len(latents) != len(values):
        raise ValueError("one factor value per latent is needed")
    index = bin_index(values, bins)
    centroids, centres, counts = [], [], []
    for b in range(bins):
        members = index == b
        if members.any():
            centroids.append(latents[members].mean(axis=0))
            centres.append(values[members].mean())
            counts.append(int(members.sum()))
    return np.stack(centroids), np.array(centres), np.array(counts)


def fit_line(centroids: np.ndarray, centres: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares c_k = offset + centre_k * direction; returns (direction, offset, r2)."""
    if len(centres) < 2:
        raise ValueError("fitting a direction needs at least two non-empty bins")
    w = counts / counts.sum()
    mean_x = float(np.sum(w * centres))
    mean_c = np.sum(w[:, None] * centroids, axis=0)
    dx = centres - mean_x
    var_x = float(np.sum(w * dx * dx))
    if var_x == 0.0:
        raise ValueError("all examples have the same factor value")
    direction = np.sum((w * dx)[:, None] * (centroids - mean_c), axis=0) / var_x
    offset = mean_c - mean_x * direction
    residual = centroids - (offset + centres[:, None] * direction)
    total = float(np.sum(w[:, None] * (centroids - mean_c) ** 2))
    r2 = 1.0 - float(np.sum(w[:, None] * residual**2)) / total if total > 0 else 0.0
    return direction, offset, r2


def fit_binned_direction(latents: np.ndarray, values: np.ndarray, bins: int = 12) -> LineFit:
    """Method (a): a line through the centroids of latents binned by ``values``."""
    shape = np.shape(latents)[1:]
    centroids, centres, counts = bin_centroids(latents, values, bins)
    direction, offset, r2 = fit_line(centroids, centres, counts)
    return LineFit(direction.reshape(shape).astype(np.float32), offset.reshape(shape).astype(np.float32), r2, centres, counts)


def fit_binned_bend(latents: np.ndarray, values: np.ndarray, bins: int = 12) -> DirectionBend:
    """The bend of method (a)'s line: the centroids regressed on (1, v, v^2), and a reading of v off a latent.

    The reading is the latent's projection on the fitted line, scaled by least squares to the examples'
    factor values (toy-heads head turn, 50 held-out heads: r 0.947 with the true yaw, 15.5 degrees rms).
    The curve is as fitted, in centroid units; like the line, it wants calibrating before use.
    """
    shape = np.shape(latents)[1:]
    flat = np.asarray(latents, np.float64).reshape(len(latents), -1)
    values = np.asarray(values, np.float64)
    centroids, centres, counts = bin_centroids(flat, values, bins)
    if len(centres) < 3:
        raise ValueError("fitting a bend needs at least three non-empty bins")
    design = np.stack([np.ones_like(centres), centres, centres**2], axis=1) * np.sqrt(counts)[:, None]
    _, line, curve = np.linalg.lstsq(design, centroids * np.sqrt(counts)[:, None], rcond=None)[0]
    mean = flat.mean(axis=0)
    projection = (flat - mean) @ line
    slope, intercept = np.polyfit(projection, values, 1)
    return DirectionBend((slope * line).reshape(shape).astype(np.float32), float(intercept - slope * (mean @ line)),
                         curve.reshape(shape).astype(np.float32))


def fit_attribute_keep(latents: np.ndarray, values: np.ndarray, present: np.ndarray, bins: int = 12) -> DirectionKeep:
    """What the attribute adds at each factor value, for a split's keep: per bin, the mean latent with it minus
    the mean without, each scaled to their mean length (the keep's size should not grow where a bin is
    noisier), regressed on (1, v, v^2). Its reach is half the examples' span of the factor. Like the lines,
    it is in centroid units and wants calibrating before use.
    """
    shape = np.shape(latents)[1:]
    flat = np.asarray(latents, np.float64).reshape(len(latents), -1)
    values, present = np.asarray(values, np.float64), np.asarray(present, bool)
    index = bin_index(values, bins)
    differences, centres, counts = [], [], []
    for b in range(bins):
        with_it, without = (index == b) & present, (index == b) & ~present
        if with_it.any() and without.any():
            differences.append(flat[with_it].mean(axis=0) - flat[without].mean(axis=0))
            centres.append(values[index == b].mean())
            counts.append(min(int(with_it.sum()), int(without.sum())))
    if len(centres) < 3:
        raise ValueError("fitting a keep needs at least three bins with examples with and without the attribute")
    lengths = np.linalg.norm(differences, axis=1)
    differences = np.stack(differences) * (lengths.mean() / np.maximum(lengths, 1e-12))[:, None]
    centres, weights = np.array(centres), np.sqrt(np.array(counts, np.float64))[:, None]
    design = np.stack([np.ones_like(centres), centres, centres**2], axis=1) * weights
    base, slope, curve = np.linalg.lstsq(design, differences * weights, rcond=None)[0]
    reach = 0.5 * float(values.max() - values.min())
    if reach <= 0.0:
        raise ValueError("all examples have the same factor value")
    return DirectionKeep(*(v.reshape(shape).astype(np.float32) for v in (base, slope, curve)), reach)


def fit_split_directions(latents: np.ndarray, values: np.ndarray, split: float = 0.0, bins: int = 12) -> tuple[LineFit, LineFit]:
    """Separate lines below and above ``split`` (left and right turns); examples at ``split`` count in both."""
    values = np.asarray(values)
    below, above = values <= split, values >= split
    return fit_binned_direction(np.asarray(latents)[below], values[below], bins // 2), fit_binned_direction(np.asarray(latents)[above], values[above], bins // 2)


# Logits of the blend per pooled standard deviation of the probe's reading. Toy-heads head turn, glasses drift
# on 50 held-out heads: 1 -> 31.4%, 2 -> 24.5%, 4 -> 22.2%, 8 -> 21.5%; 4 keeps most of the gain and a
# blend that still moves smoothly as the Glasses slider adds glasses.
SPLIT_SHARPNESS = 4.0


# The ridge of the discriminant probe, in latent variance: x_T's own per-value variance is 1. Issue 14, toy-heads
# glasses, 1040 paired head-turn examples (benchmarks/experiments/directions/probe_lda.py): accuracy on identities
# held out of the fit / on 50 held-out heads, mean difference 0.848 / 0.860; ridge 0.3 0.899 / 0.960, 1 0.910 / 0.940,
# 3 0.911 / 0.900, 10 0.901 / 0.900.
PROBE_RIDGE = 1.0
PROBE_FOLDS = 5  # folds of groups held out to measure the discriminant's spread on sources it was not fitted on


def discriminant_probe(latents: np.ndarray, present: np.ndarray, ridge: float = PROBE_RIDGE) -> tuple[np.ndarray, float]:
    """(probe, threshold): (S + ridge I)^-1 (mean with - mean without), S the within-group covariance, and
    the midpoint of the groups' mean readings.

    The mean difference reads along every way faces vary that happens to line up with the attribute;
    whitening by S discounts them (regularised: there are far fewer examples than latent values).
    """
    shape = np.shape(latents)[1:]
    flat = np.asarray(latents, np.float64).reshape(len(latents), -1)
    present = np.asarray(present, bool)
    mean_with, mean_without = flat[present].mean(axis=0), flat[~present].mean(axis=0)
    gap = mean_with - mean_without
    centred = flat - np.where(present[:, None], mean_with, mean_without)
    _, singular, basis = np.linalg.svd(centred, full_matrices=False)
    inside = basis @ gap
    probe = basis.T @ (inside / (singular**2 / len(flat) + ridge)) + (gap - basis.T @ inside) / ridge
    return probe.reshape(shape).astype(np.float32), _midpoint_and_spread(flat @ probe, present)[0]


def held_out_spread(latents: np.ndarray, present: np.ndarray, groups: np.ndarray) -> float:
    """The pooled standard deviation of the discriminant's readings, each example read by a probe fitted
    without its group (its identity): readings of the examples it was fitted on are several times narrower."""
    flat = np.asarray(latents).reshape(len(latents), -1)
    present, groups = np.asarray(present, bool), np.asarray(groups)
    fold_of = {group: i % PROBE_FOLDS for i, group in enumerate(np.unique(groups))}
    folds = np.array([fold_of[g] for g in groups])
    readings = np.empty(len(flat))
    for fold in range(PROBE_FOLDS):
        out = folds == fold
        if out.any():
            probe, threshold = discriminant_probe(flat[~out], present[~out])
            readings[out] = flat[out].astype(np.float64) @ probe.astype(np.float64) - threshold
    return _midpoint_and_spread(readings, present)[1]


def fit_direction_split(latents: np.ndarray, values: np.ndarray, present: np.ndarray, condition: str,
                        bins: int = 12, bend: bool = False, keep: bool = False,
                        groups: np.ndarray | None = None) -> DirectionSplit:
    """Method (a) on each side of a binary attribute, and the probe that tells the sides apart.

    The probe is the mean difference of the two groups' latents (the linear reading that best separates
    them when the rest is noise-like), its threshold the midpoint of their mean readings. Its softness
    makes a source half a pooled standard deviation from the threshold a 12/88 blend (issue 14, 50
    held-out toy heads: the probe reads glasses right for 86% of them). With ``groups`` (which identity each
    example is), the probe is ``discriminant_probe`` instead (94%) and its spread is ``held_out_spread``.
    With ``bend``, each line gets its ``fit_binned_bend``; with ``keep``, the split gets its ``fit_attribute_keep``.
    """
    latents, values, present = np.asarray(latents), np.asarray(values), np.asarray(present, bool)
    if present.all() or not present.any():
        raise ValueError("a split direction needs examples with and without the attribute")
    if groups is None:
        probe = mean_difference_direction(latents, present)
        readings = np.asarray(latents, np.float64).reshape(len(latents), -1) @ probe.reshape(-1).astype(np.float64)
        threshold, spread = _midpoint_and_spread(readings, present)
    else:
        probe, threshold = discriminant_probe(latents, present)
        spread = held_out_spread(latents, present, groups)
    sides = (~present, present)
    lines = [fit_binned_direction(latents[side], values[side], bins).direction for side in sides]
    bends = [fit_binned_bend(latents[side], values[side], bins) if bend else None for side in sides]
    kept = fit_attribute_keep(latents, values, present, bins) if keep else None
    return DirectionSplit(condition, probe, float(threshold), max(spread, 1e-12) / SPLIT_SHARPNESS, *lines, *bends, kept)


def mean_difference_direction(latents: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Method (b): mean(positives) - mean(negatives)."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        raise ValueError("a mean-difference direction needs examples of both groups")
    latents = np.asarray(latents, np.float64)
    return (latents[positive].mean(axis=0) - latents[~positive].mean(axis=0)).astype(np.float32)


def orthogonalise(direction: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Method (c): remove the span of ``others`` from ``direction`` (Gram-Schmidt on the others first)."""
    shape = np.shape(direction)
    basis: list[np.ndarray] = []
    for other in others:
        v = np.asarray(other, np.float64).ravel().copy()
        for b in basis:
            v -= (v @ b) * b
        norm = np.linalg.norm(v)
        if norm > 1e-12:
            basis.append(v / norm)
    out = np.asarray(direction, np.float64).ravel().copy()
    for b in basis:
        out -= (out @ b) * b
    return out.reshape(shape).astype(np.float32)


# ---------------------------------------------------------------- files


def save_direction(path: Path, direction: Direction) -> None:
    vector = np.ascontiguousarray(direction.vector, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise DirectionFileError(f"Direction '{direction.name}' contains NaN or infinity; it was not saved.")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": direction.name,
        "method": direction.method,
        "strength_min": repr(float(direction.strength_range[0])),
        "strength_max": repr(float(direction.strength_range[1])),
        "unit": direction.unit,
        "model_hash": direction.model_hash,
        "info": json.dumps(direction.info, sort_keys=True),
    }
    if direction.source_attention_from is not None:
        metadata["source_attention_from"] = repr(float(direction.source_attention_from))
    tensors = {"direction": vector}
    if direction.split is not None:
        tensors.update(split_tensors(direction.split, "split/"))
        metadata.update(split_metadata(direction.split))
    if direction.bends():
        tensors.update(bend_tensors(direction, ""))
        metadata["bends"] = json.dumps(bend_offsets(direction), sort_keys=True)
    if direction.hold is not None:
        tensors.update(hold_tensors(direction.hold, "hold/"))
        metadata["hold"] = json.dumps(hold_metadata(direction.hold), sort_keys=True)
    if direction.restore is not None:
        tensors["restore"] = np.ascontiguousarray(direction.restore.vector, np.float32)
        metadata["restore"] = json.dumps(restore_metadata(direction.restore), sort_keys=True)
    for key, value in tensors.items():
        if not np.all(np.isfinite(value)):
            raise DirectionFileError(f"Direction '{direction.name}' ({key}) contains NaN or infinity; it was not saved.")
    atomic_write_bytes(Path(path), _st_save(tensors, metadata=metadata))


def split_tensors(split: DirectionSplit, prefix: str) -> dict[str, np.ndarray]:
    tensors = {f"{prefix}{name}": np.ascontiguousarray(getattr(split, name), np.float32) for name in SPLIT_TENSORS}
    if split.keep is not None:
        tensors.update(keep_tensors(split.keep, prefix))
    return tensors


def keep_tensors(keep: DirectionKeep, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{name}": np.ascontiguousarray(getattr(keep, name[len("keep_"):]), np.float32) for name in KEEP_TENSORS}


def read_keep(tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...], reach: float, bare: float,
              owner: str) -> DirectionKeep:
    """The keep saved under ``prefix``; ValueError names what is wrong, as ``owner``'s ("its split's")."""
    if not (np.isfinite(reach) and reach > 0.0):
        raise ValueError(f"{owner} keep has a reach of {reach}; it should be above 0")
    if not 0.0 <= bare <= 1.0:
        raise ValueError(f"{owner} keep takes {bare} off bare sources; it should be from 0 to 1")
    return DirectionKeep(*(_saved_tensor(tensors, f"{prefix}{name}", shape, f"{owner} {name.replace('_', ' ')}")
                           for name in KEEP_TENSORS), reach, bare)


def split_metadata(split: DirectionSplit) -> dict[str, str]:
    return {"split_condition": split.condition, "split_threshold": repr(float(split.threshold)),
            "split_softness": repr(float(split.softness)),
            **({"split_keep_reach": repr(float(split.keep.reach)), "split_keep_bare": repr(float(split.keep.bare))}
               if split.keep is not None else {})}


def read_split(metadata: dict, tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...]) -> DirectionSplit | None:
    """The split saved under ``prefix`` (None when there is none); ValueError names what is wrong."""
    if "split_condition" not in metadata:
        return None
    arrays = {name: _saved_tensor(tensors, f"{prefix}{name}", shape, f"its split's {name}") for name in SPLIT_TENSORS}
    threshold, softness = float(metadata["split_threshold"]), float(metadata["split_softness"])
    if not (np.isfinite(threshold) and np.isfinite(softness) and softness > 0.0):
        raise ValueError(f"its split's threshold {threshold} or softness {softness} is not usable")
    keep = None
    if "split_keep_reach" in metadata:
        keep = read_keep(tensors, prefix, shape, float(metadata["split_keep_reach"]),
                         float(metadata.get("split_keep_bare", 0.0)), "its split's")
    return DirectionSplit(str(metadata["split_condition"]), arrays["probe"], threshold, softness,
                          arrays["absent"], arrays["present"], keep=keep)


def hold_tensors(hold: DirectionHold, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}probe": np.ascontiguousarray(hold.probe, np.float32),
            f"{prefix}reading": np.ascontiguousarray(hold.reading, np.float32), **keep_tensors(hold.keep, prefix)}


def hold_metadata(hold: DirectionHold) -> dict:
    """What a file says about a hold besides its tensors."""
    return {"condition": hold.condition, "lender": hold.lender, "threshold": float(hold.threshold),
            "softness": float(hold.softness), "offset": float(hold.offset), "reach": float(hold.keep.reach),
            "bare": float(hold.keep.bare)}


def read_hold(entry: dict, tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...]) -> DirectionHold | None:
    """The hold saved under ``prefix`` that ``entry`` describes (None for an empty entry); ValueError names what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(f"its hold should be an object, not {type(entry).__name__}")
    if not entry:
        return None
    names = {key: entry.get(key) for key in ("condition", "lender")}
    for key, name in names.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"its hold's {key} should be a name, not {name!r}")
    numbers = {}
    for key in ("threshold", "softness", "offset", "reach", "bare"):
        if key not in entry:
            raise ValueError(f"its hold has no {key}")
        numbers[key] = float(entry[key])
        if not np.isfinite(numbers[key]):
            raise ValueError(f"its hold's {key} is {numbers[key]}; it should be a finite number")
    if numbers["softness"] <= 0.0:
        raise ValueError(f"its hold has a softness of {numbers['softness']}; it should be above 0")
    keep = read_keep(tensors, prefix, shape, numbers["reach"], numbers["bare"], "its hold's")
    arrays = {name: _saved_tensor(tensors, f"{prefix}{name}", shape, f"its hold's {name}") for name in ("probe", "reading")}
    return DirectionHold(names["condition"], names["lender"], arrays["probe"], numbers["threshold"], numbers["softness"],
                         arrays["reading"], numbers["offset"], keep)


def restore_metadata(restore: DirectionRestore) -> dict:
    """What a file says about a restore besides its tensor (saved as ``restore`` under the direction's key)."""
    return {"factor": restore.factor}


def read_restore(entry: dict, tensors: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> DirectionRestore | None:
    """The restore saved as ``key`` that ``entry`` describes (None for an empty entry); ValueError names what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(f"its restore should be an object, not {type(entry).__name__}")
    if not entry:
        return None
    factor = entry.get("factor")
    if not isinstance(factor, str) or not factor.strip():
        raise ValueError(f"its restore's factor should be a name, not {factor!r}")
    return DirectionRestore(factor, _saved_tensor(tensors, key, shape, "its restore"))


BEND_KEYS = ("bend", "split/absent_bend", "split/present_bend")  # where each line's bend is saved


def bend_tensors(direction: Direction, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{key}/{name}": np.ascontiguousarray(getattr(bend, name), np.float32)
            for key, bend in direction.bends().items() for name in BEND_TENSORS}


def bend_offsets(direction: Direction) -> dict[str, float]:
    """Each bend's reading offset by its key: what a file says besides the bends' tensors."""
    return {key: float(bend.offset) for key, bend in direction.bends().items()}


def with_bends(direction: Direction, offsets: dict, tensors: dict[str, np.ndarray], prefix: str) -> Direction:
    """``direction`` with the bends saved under ``prefix`` that ``offsets`` names; ValueError names what is wrong."""
    if not isinstance(offsets, dict):
        raise ValueError(f"its bends should be an object of offsets, not {type(offsets).__name__}")
    bends = {}
    for key, offset in offsets.items():
        if key not in BEND_KEYS or (key != "bend" and direction.split is None):
            raise ValueError(f"it has a bend {key!r}, which is not one of its lines")
        offset = float(offset)
        if not np.isfinite(offset):
            raise ValueError(f"its bend {key!r} has an offset of {offset}")
        arrays = [_saved_tensor(tensors, f"{prefix}{key}/{name}", direction.vector.shape, f"its bend {key!r}'s {name}")
                  for name in BEND_TENSORS]
        bends[key] = DirectionBend(arrays[0], offset, arrays[1])
    split = direction.split
    if split is not None:
        split = replace(split, absent_bend=bends.get("split/absent_bend"), present_bend=bends.get("split/present_bend"))
    return replace(direction, bend=bends.get("bend"), split=split)


def _saved_tensor(tensors: dict[str, np.ndarray], key: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    if key not in tensors:
        raise ValueError(f"{what} tensor is missing")
    array = np.asarray(tensors[key])
    if array.shape != tuple(shape) or not np.all(np.isfinite(array)):
        raise ValueError(f"{what} has shape {list(array.shape)} (the direction has {list(shape)}) or is not finite")
    return array.astype(np.float32)


def load_direction(path: Path, model_hash: str | None = None) -> Direction:
    """Read a direction; with ``model_hash``, refuse one fitted for another model."""
    path = Path(path)
    try:
        data = path.read_bytes()
        tensors = _st_load(data)
        vector = tensors["direction"]
        meta = read_metadata(data)
        direction = Direction(
            name=meta["name"],
            vector=vector.astype(np.float32),
            method=meta["method"],
            strength_range=(float(meta["strength_min"]), float(meta["strength_max"])),
            model_hash=meta["model_hash"],
            unit=meta.get("unit", ""),
            info=json.loads(meta.get("info", "{}")),
            source_attention_from=_fraction(meta.get("source_attention_from")),
            split=read_split(meta, tensors, "split/", vector.shape),
            hold=read_hold(json.loads(meta.get("hold", "{}")), tensors, "hold/", vector.shape),
            restore=read_restore(json.loads(meta.get("restore", "{}")), tensors, "restore", vector.shape),
        )
        direction = with_bends(direction, json.loads(meta.get("bends", "{}")), tensors, "")
    except FileNotFoundError as exc:
        raise DirectionFileError(f"Direction file {path} does not exist.") from exc
    except (OSError, SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise DirectionFileError(f"{path} is not a readable direction file ({exc}).") from exc
    if model_hash is not None and direction.model_hash != model_hash:
        raise DirectionFileError(
            f"Direction '{direction.name}' in {path.name} was fitted for model {direction.model_hash[:12]}, "
            f"not for the loaded model {model_hash[:12]}; fit it again for this model."
        )
    return direction


def _fraction(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"source_attention_from {value} is not a fraction between 0 and 1")
    return value
