"""Procedural toy heads, ray-cast in 3D so that head rotation is geometrically consistent.

A head is a few ellipsoids (skull, nose, ears, hair cap, long hair) and planes
(glasses) in head space, rotated by yaw and pitch; neck and shoulders stay in
world space. Every pixel's orthographic ray is intersected with every
primitive and the nearest hit wins, so the nose profile shifts, the near ear
shows and the far ear hides, and hair occludes what is behind it. Eyes, brows
and mouth are painted on the skull's surface in its own coordinates, so they
turn and foreshorten with it. Rendering is vectorised over a batch with numpy
and anti-aliased by supersampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latent_studio.demo.factors import HeadFactors


def _v(values) -> np.ndarray:
    """float32 constants: a float64 constant would silently promote every pixel array to float64."""
    return np.asarray(values, np.float32)


VIEW_HALF_EXTENT = 1.15  # world units from the image centre to its edge
HEAD_CENTRE = np.array([0.0, 0.12, 0.0], np.float32)
LIGHT_ELEVATION = np.radians(25.0)
_INF = np.float32(np.inf)

BACKGROUND, SKULL, NOSE, EARS, HAIR, NECK, TORSO, GLASSES = range(8)

# Fixed geometry, shared by the ray hits and the shading normals (head space unless noted).
NOSE_CENTRE = _v([0.0, -0.1, 0.62])
NOSE_RADII = _v([0.085, 0.16, 0.13])  # times the identity's nose size
EAR_RADII = _v([0.07, 0.17, 0.11])
EAR_X, EAR_Z = 0.97, -0.05  # ear centres at +-EAR_X * skull width, at depth EAR_Z
NECK_CENTRE, NECK_RADII = _v([0.0, -0.72, -0.05]), _v([0.24, 0.42, 0.24])  # world space
TORSO_CENTRE, TORSO_RADII = _v([0.0, -1.42, -0.15]), _v([0.95, 0.5, 0.5])  # world space


@dataclass(frozen=True)
class Identity:
    """What the seed varies: the person, not the pose or expression."""

    head_width: float
    eye_spacing: float
    nose_size: float
    mouth_width: float
    iris_hue: float
    shirt_hue: float

    @classmethod
    def from_seed(cls, seed: int) -> "Identity":
        rng = np.random.default_rng(int(seed))
        return cls(
            head_width=rng.uniform(0.92, 1.06),
            eye_spacing=rng.uniform(0.32, 0.40),
            nose_size=rng.uniform(0.85, 1.2),
            mouth_width=rng.uniform(0.2, 0.28),
            iris_hue=rng.uniform(0.0, 1.0),
            shirt_hue=rng.uniform(0.0, 1.0),
        )


def render(factors: HeadFactors, seed: int = 0, size: int = 64, supersample: int = 2) -> np.ndarray:
    """One head as uint8 (size, size, 3)."""
    return render_batch([factors], [seed], size, supersample)[0]


def render_batch(factors: list[HeadFactors], seeds: list[int], size: int = 64, supersample: int = 2) -> np.ndarray:
    """Heads as uint8 (B, size, size, 3); deterministic in (factors, seed)."""
    if len(factors) != len(seeds):
        raise ValueError("render_batch needs one seed per head")
    n = size * supersample
    scene = _Scene(factors, [Identity.from_seed(s) for s in seeds], n)
    linear = scene.shade()
    pooled = linear.reshape(len(factors), size, supersample, size, supersample, 3).mean(axis=(2, 4))
    return np.clip(np.round(pooled * 255.0), 0, 255).astype(np.uint8)


class _Scene:
    def __init__(self, factors: list[HeadFactors], identities: list[Identity], n: int) -> None:
        self.b = len(factors)
        self.f = {name: _v([getattr(x, name) for x in factors]) for name in HeadFactors.__dataclass_fields__}
        self.id = {name: _v([getattr(x, name) for x in identities]) for name in Identity.__dataclass_fields__}
        coords = ((np.arange(n) + 0.5) / n * 2.0 - 1.0).astype(np.float32)
        u, v = np.meshgrid(coords * VIEW_HALF_EXTENT, -coords * VIEW_HALF_EXTENT)
        self.origin = np.stack([u, v, np.full_like(u, 3.0)], axis=-1)[None]  # (1, n, n, 3) world
        self.direction = _v([0.0, 0.0, -1.0])
        yaw, pitch = np.radians(self.f["yaw"]), np.radians(self.f["pitch"])
        self.rotation = (_rotation_y(yaw) @ _rotation_x(pitch)).astype(np.float32)  # head -> world, (B, 3, 3)
        rel = self.origin - HEAD_CENTRE
        self.o_head = np.einsum("bji,xhwj->bhwi", self.rotation, rel)  # R^T (o - c)
        self.d_head = np.einsum("bji,j->bi", self.rotation, self.direction)[:, None, None, :]
        self.skull_radii = np.stack([0.62 * self.id["head_width"], np.full(self.b, 0.8, np.float32), np.full(self.b, 0.7, np.float32)], -1)

    # ------------------------------------------------------------ geometry

    def _head_ellipsoid(self, centre, radii, mask=None):
        """Nearest hit on an ellipsoid in head space whose hit point passes ``mask``."""
        centre = _per_batch(centre, self.b)
        radii = _per_batch(radii, self.b)
        t0, t1 = _ray_ellipsoid(self.o_head, self.d_head, centre, radii)
        best = np.full(t0.shape, _INF)
        for t in (t0, t1):
            ok = np.isfinite(t)
            if mask is not None:
                point = self.o_head + np.where(ok, t, 0.0)[..., None] * self.d_head
                ok &= mask(point, centre[:, None, None, :], radii[:, None, None, :])
            best = np.where(ok & ~np.isfinite(best), t, best)
        return best

    def _hits(self) -> dict[int, np.ndarray]:
        """Ray distance to each primitive (inf where missed)."""
        r = self.skull_radii
        ears = [
            self._head_ellipsoid(np.stack([s * r[:, 0] * EAR_X, np.zeros(self.b), np.full(self.b, EAR_Z)], -1), EAR_RADII)
            for s in (-1, 1)
        ]
        return {
            SKULL: self._head_ellipsoid(np.zeros(3), r),
            NOSE: self._head_ellipsoid(NOSE_CENTRE, NOSE_RADII * self.id["nose_size"][:, None]),
            EARS: np.minimum(*ears),
            HAIR: self._hair(),
            GLASSES: self._glasses(),
            NECK: _world_ellipsoid(self.origin, self.direction, NECK_CENTRE, NECK_RADII, self.b),
            TORSO: _world_ellipsoid(self.origin, self.direction, TORSO_CENTRE, TORSO_RADII, self.b),
        }

    def _hair(self):
        r = self.skull_radii * _v([1.07, 1.06, 1.08]) + _v([0.0, 0.02, 0.0])

        def cap(point, centre, radii):
            q = (point - centre) / radii
            hairline = 0.5 - 0.95 * np.clip(0.45 - q[..., 2], 0.0, 1.45)
            return q[..., 1] > hairline

        cap_t = self._head_ellipsoid(_v([0.0, 0.02, -0.01]), r, cap)
        length = self.f["hair_length"]
        long_centre = np.stack([np.zeros(self.b), -0.3 - 0.3 * length, np.full(self.b, -0.2)], -1)
        long_radii = np.stack([0.69 * self.id["head_width"], 0.4 + 0.5 * length, np.full(self.b, 0.5)], -1)

        def behind_face(point, centre, radii):
            return (point[..., 2] < 0.05) & (point[..., 1] < 0.5)

        long_t = self._head_ellipsoid(long_centre, long_radii, behind_face)
        return np.minimum(cap_t, long_t)

    def _glasses(self):
        on = self.f["glasses"] > 0.5
        r = self.skull_radii
        eye_x = (self.id["eye_spacing"] * r[:, 0])[:, None, None]
        eye_y = 0.13 * 0.8
        plane_z = 0.72
        temple_x = r[:, 0, None, None] * 0.98
        o, d = self.o_head, self.d_head
        t_front = _ray_plane(o[..., 2], d[..., 2], plane_z)
        p = o + np.where(np.isfinite(t_front), t_front, 0.0)[..., None] * d
        x, y = p[..., 0], p[..., 1]
        ring = np.zeros(x.shape, bool)
        for side in (-1, 1):
            dist = np.hypot(x - side * eye_x, (y - eye_y) * 1.15)
            ring |= np.abs(dist - 0.15) < 0.022
        bridge = (np.abs(x) < eye_x - 0.14) & (np.abs(y - eye_y - 0.03) < 0.018)
        front = np.where(ring | bridge, t_front, _INF)
        sides = np.full(front.shape, _INF)
        for side in (-1, 1):
            # a temple runs from the lens's outer edge back to the ear, on a slanted vertical plane
            x0, z0 = side * (eye_x + 0.165), plane_z
            x1, z1 = side * temple_x, 0.0
            normal_x, normal_z = z1 - z0, -(x1 - x0)
            denom = d[..., 0] * normal_x + d[..., 2] * normal_z
            safe = np.abs(denom) > 1e-6
            t_side = ((x0 - o[..., 0]) * normal_x + (z0 - o[..., 2]) * normal_z) / np.where(safe, denom, 1.0)
            t_side = np.where(safe & (t_side > 0), t_side, _INF)
            q = o + np.where(np.isfinite(t_side), t_side, 0.0)[..., None] * d
            arm = (np.abs(q[..., 1] - eye_y) < 0.02) & (q[..., 2] > 0.0) & (q[..., 2] < plane_z)
            sides = np.minimum(sides, np.where(arm, t_side, _INF))
        return np.where(on[:, None, None], np.minimum(front, sides), _INF)

    # ------------------------------------------------------------ shading

    def shade(self) -> np.ndarray:
        hits = self._hits()
        ids = sorted(hits)
        depth = np.stack([hits[i] for i in ids], axis=0)
        nearest = np.argmin(depth, axis=0)
        t = np.min(depth, axis=0)
        surface = np.where(np.isfinite(t), np.array(ids)[nearest], BACKGROUND)
        t = np.where(np.isfinite(t), t, 0.0)

        colour = self._background()
        skin = _lerp(_v([0.98, 0.84, 0.74]), _v([0.42, 0.27, 0.19]), self.f["skin_tone"])[:, None, None, :]
        hair = _hsv(self.f["hair_hue"], 0.65, 0.5)[:, None, None, :]
        shirt = _hsv(self.id["shirt_hue"], 0.45, 0.6)[:, None, None, :]
        p_head = self.o_head + t[..., None] * self.d_head
        p_world = self.origin + t[..., None] * self.direction
        light = self._light()

        skull_colour = self._face_texture(p_head, skin, hair)
        normals_head = self._normals_head(p_head, surface)
        normal_world = np.einsum("bij,bhwj->bhwi", self.rotation, normals_head)
        world_normal = _world_normals(p_world, surface)
        normal = np.where(_is(surface, NECK, TORSO)[..., None], world_normal, normal_world)
        lambert = np.clip(np.einsum("bhwi,bi->bhw", normal, light), 0.0, 1.0)
        shading = (0.42 + 0.58 * lambert)[..., None]

        base = np.select(
            [_is(surface, SKULL)[..., None], _is(surface, NOSE)[..., None], _is(surface, EARS)[..., None],
             _is(surface, HAIR)[..., None], _is(surface, NECK)[..., None], _is(surface, TORSO)[..., None],
             _is(surface, GLASSES)[..., None]],
            [skull_colour, skin * 0.97, skin * 0.9, hair, skin * 0.85, shirt, np.full_like(skin, 0.07)],
            default=colour,
        )
        lit = np.where((surface == BACKGROUND)[..., None], colour, base * shading)
        return np.clip(lit, 0.0, 1.0)

    def _light(self) -> np.ndarray:
        az = np.radians(self.f["light_angle"])
        light = np.stack([np.sin(az) * np.cos(LIGHT_ELEVATION), np.full(self.b, np.sin(LIGHT_ELEVATION)), np.cos(az) * np.cos(LIGHT_ELEVATION)], -1)
        return light.astype(np.float32)

    def _background(self) -> np.ndarray:
        top = _hsv(self.f["background_hue"], 0.3, 0.88)[:, None, None, :]
        bottom = _hsv(self.f["background_hue"], 0.45, 0.62)[:, None, None, :]
        v = (self.origin[..., 1] / VIEW_HALF_EXTENT + 1.0) / 2.0  # 0 at the bottom, 1 at the top
        return bottom + (top - bottom) * v[..., None]

    def _normals_head(self, p: np.ndarray, surface: np.ndarray) -> np.ndarray:
        """Ellipsoid-like normals; primitives without a closed form use the skull's, which reads fine at 64 px."""
        r = self.skull_radii[:, None, None, :]
        nose_radii = NOSE_RADII * self.id["nose_size"][:, None, None, None]
        n = np.where(_is(surface, NOSE)[..., None], (p - NOSE_CENTRE) / nose_radii**2, p / r**2)
        ear_centre = np.stack([np.sign(p[..., 0]) * r[..., 0] * EAR_X, np.zeros_like(p[..., 0]), np.full_like(p[..., 0], EAR_Z)], -1)
        n = np.where(_is(surface, EARS)[..., None], (p - ear_centre) / EAR_RADII**2, n)
        n = np.where(_is(surface, GLASSES)[..., None], _v([0.0, 0.0, 1.0]), n)
        return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)

    def _face_texture(self, p: np.ndarray, skin: np.ndarray, hair: np.ndarray) -> np.ndarray:
        q = p / self.skull_radii[:, None, None, :]
        qx, qy, qz = q[..., 0], q[..., 1], q[..., 2]
        front = qz > 0.15
        colour = np.broadcast_to(skin, q.shape).copy()
        eye_open = self.f["eye_open"][:, None, None]
        eye_x = self.id["eye_spacing"][:, None, None]
        eye_y = 0.13
        iris = _hsv(self.id["iris_hue"], 0.6, 0.45)[:, None, None, :]
        for side in (-1, 1):
            dx = qx - side * eye_x
            dy = qy - eye_y
            opening = (dx / 0.15) ** 2 + (dy / np.maximum(0.085 * eye_open, 0.004)) ** 2
            socket = (dx / 0.15) ** 2 + (dy / 0.085) ** 2
            lid = front & (socket < 1.0) & (opening >= 1.0)
            colour = np.where(lid[..., None], skin * 0.82, colour)
            white = front & (opening < 1.0)
            colour = np.where(white[..., None], _v([0.96, 0.96, 0.94]), colour)
            iris_mask = white & (np.hypot(dx, dy) < 0.065)
            colour = np.where(iris_mask[..., None], iris, colour)
            colour = np.where((white & (np.hypot(dx, dy) < 0.03))[..., None], _v([0.05, 0.05, 0.06]), colour)
            lash = front & (np.abs(np.sqrt(np.minimum(opening, 9.0)) - 1.0) < 0.18) & (np.abs(dx) < 0.16) & (dy > -0.09)
            colour = np.where((lash & ~white)[..., None], _v([0.12, 0.09, 0.08]), colour)
            brow_y = eye_y + 0.2 - 1.6 * dx**2
            brow = front & (np.abs(dx) < 0.16) & (np.abs(qy - brow_y) < 0.03)
            colour = np.where(brow[..., None], hair * 0.7, colour)
        smile = self.f["smile"][:, None, None]
        width = self.id["mouth_width"][:, None, None]
        xm = np.clip(qx / width, -1.0, 1.0)
        centre_line = -0.42 + smile * 0.13 * (xm**2) - smile * 0.035
        in_width = front & (np.abs(qx) < width)
        open_amount = np.clip(smile - 0.25, 0.0, 1.0) * 0.16 * (1.0 - xm**2)
        teeth = in_width & (qy < centre_line) & (qy > centre_line - open_amount)
        lips = in_width & ~teeth & (qy < centre_line + 0.028) & (qy > centre_line - open_amount - 0.028)
        colour = np.where(lips[..., None], skin * _v([0.85, 0.52, 0.52]), colour)
        colour = np.where(teeth[..., None], _v([0.95, 0.94, 0.9]), colour)
        return colour


# ---------------------------------------------------------------- helpers


def _ray_ellipsoid(o, d, centre, radii):
    oc = (o - centre[:, None, None, :]) / radii[:, None, None, :]
    dd = d / radii[:, None, None, :]
    a = np.sum(dd * dd, axis=-1)
    b = 2.0 * np.sum(oc * dd, axis=-1)
    c = np.sum(oc * oc, axis=-1) - 1.0
    disc = b * b - 4.0 * a * c
    ok = disc >= 0.0
    root = np.sqrt(np.where(ok, disc, 0.0))
    t0 = np.where(ok, (-b - root) / (2.0 * a), _INF)
    t1 = np.where(ok, (-b + root) / (2.0 * a), _INF)
    return np.where(t0 > 0, t0, _INF), np.where(t1 > 0, t1, _INF)


def _world_ellipsoid(origin, direction, centre, radii, batch):
    t0, _ = _ray_ellipsoid(origin, direction[None, None, None, :], centre[None], radii[None])
    return np.broadcast_to(t0, (batch,) + t0.shape[1:])


def _ray_plane(o_axis, d_axis, value):
    safe = np.abs(d_axis) > 1e-6
    t = (value - o_axis) / np.where(safe, d_axis, 1.0)
    return np.where(safe & (t > 0), t, _INF)


def _world_normals(p, surface):
    neck = (p - NECK_CENTRE) / NECK_RADII**2
    torso = (p - TORSO_CENTRE) / TORSO_RADII**2
    n = np.where((surface == NECK)[..., None], neck, torso)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)


def _is(surface, *ids):
    return np.isin(surface, ids)


def _per_batch(value, batch):
    return np.broadcast_to(np.asarray(value, np.float32), (batch, 3))


def _rotation_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rotation_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _lerp(a, b, t):
    return (a[None] + (b - a)[None] * np.asarray(t)[:, None]).astype(np.float32)


def _hsv(h, s, v):
    """HSV (arrays of hues, scalar or array s and v) to RGB (B, 3)."""
    h = np.asarray(h, np.float64) % 1.0
    s = np.broadcast_to(np.asarray(s, np.float64), h.shape)
    v = np.broadcast_to(np.asarray(v, np.float64), h.shape)
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 0)
    return (table[i, np.arange(h.size)] if h.ndim else table[i]).astype(np.float32)
