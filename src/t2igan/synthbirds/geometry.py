"""Small 2-D geometry helpers (numpy arrays of shape (N, 2), x right, y down)."""
from __future__ import annotations

import math

import numpy as np


def unit(deg: float) -> np.ndarray:
    """Unit vector at ``deg`` degrees counter-clockwise from +x as seen on screen (y down)."""
    r = math.radians(deg)
    return np.array([math.cos(r), -math.sin(r)])


_TRIG: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _trig(n: int) -> tuple[np.ndarray, np.ndarray]:
    tc = _TRIG.get(n)
    if tc is None:
        t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
        tc = _TRIG[n] = (np.cos(t), np.sin(t))
    return tc


def ellipse(cx: float, cy: float, a: float, b: float, n: int = 40,
            ax: np.ndarray | None = None, ay: np.ndarray | None = None) -> np.ndarray:
    """Polygon of an ellipse with semi-axes ``a`` along ``ax`` and ``b`` along ``ay``."""
    cos, sin = _trig(n)
    if ax is None and ay is None:
        return np.stack([cx + a * cos, cy + b * sin], axis=1)
    ax = np.array([1.0, 0.0]) if ax is None else ax
    ay = np.array([0.0, 1.0]) if ay is None else ay
    return (np.array([cx, cy])[None, :] + (a * cos)[:, None] * ax[None, :]
            + (b * sin)[:, None] * ay[None, :])


def circle(cx: float, cy: float, r: float, n: int = 32) -> np.ndarray:
    return ellipse(cx, cy, r, r, n)


def clip_halfplane(poly: np.ndarray, normal, c: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of ``poly`` where ``normal . p <= c`` (vectorised)."""
    if len(poly) == 0:
        return poly
    d = poly[:, 0] * float(normal[0]) + poly[:, 1] * float(normal[1]) - c
    inside = d <= 0
    if inside.all():
        return poly
    if not inside.any():
        return poly[:0]
    idx = np.arange(1, len(poly) + 1)
    idx[-1] = 0
    nxt = poly[idx]
    dn = d[idx]
    cross = inside != inside[idx]
    denom = np.where(cross, d - dn, 1.0)
    t = np.where(cross, d / denom, 0.0)
    inter = poly + t[:, None] * (nxt - poly)
    n = len(poly)
    both = np.empty((n, 2, 2))
    both[:, 0] = poly
    both[:, 1] = inter
    keep = np.empty((n, 2), dtype=bool)
    keep[:, 0] = inside
    keep[:, 1] = cross
    return both[keep]


def points_inside(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test for many points at once; returns a bool array."""
    pts = np.atleast_2d(pts)
    prev = np.arange(-1, len(poly) - 1)
    xs, ys = poly[:, 0][None, :], poly[:, 1][None, :]
    xj, yj = poly[prev, 0][None, :], poly[prev, 1][None, :]
    x, y = pts[:, 0:1], pts[:, 1:2]
    cond = (ys > y) != (yj > y)
    dy = np.where(yj - ys == 0, 1e-12, yj - ys)
    xcross = (xj - xs) * (y - ys) / dy + xs
    return (np.count_nonzero(cond & (x < xcross), axis=1) % 2).astype(bool)


def clip_convex(poly: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """The part of ``poly`` inside the convex polygon ``clip`` (any orientation)."""
    area = 0.5 * np.sum(clip[:, 0] * np.roll(clip[:, 1], -1) - np.roll(clip[:, 0], -1) * clip[:, 1])
    sign = 1.0 if area > 0 else -1.0
    out = poly
    n = len(clip)
    for i in range(n):
        a, b = clip[i], clip[(i + 1) % n]
        e = b - a
        # inward normal for a CCW (in these coordinates: positive area) polygon is (-e_y, e_x)
        normal = sign * np.array([e[1], -e[0]])
        out = clip_halfplane(out, normal, float(normal @ a))
        if len(out) == 0:
            break
    return out


def rotate(pts: np.ndarray, deg: float, about=(0.0, 0.0)) -> np.ndarray:
    """Rotate by ``deg`` degrees counter-clockwise on screen (y down) about ``about``."""
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    p = pts - np.asarray(about)
    # on screen, counter-clockwise with y down: x' = x c + y s ; y' = -x s + y c
    return np.stack([p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c], axis=1) + np.asarray(
        about
    )


def polyline_band(pts: np.ndarray, half_width: np.ndarray | float) -> np.ndarray:
    """Polygon of a band of (possibly varying) half-width around a polyline."""
    pts = np.asarray(pts, float)
    hw = np.broadcast_to(np.asarray(half_width, float), (len(pts),))
    tang = np.gradient(pts, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    nrm = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    left = pts + nrm * hw[:, None]
    right = pts - nrm * hw[:, None]
    return np.concatenate([left, right[::-1]], axis=0)
