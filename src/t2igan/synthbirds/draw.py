"""Rendering of one synthetic bird photograph.

The bird is built as a display list of polygons and poly-lines in a local frame (bird
facing right, body length 1, y down), rotated and scaled into a layer drawn at twice the
final resolution (anti-aliasing) together with a silhouette mask, reduced, optionally
mirrored and pasted on a procedural background (``background.py``).  The 15 CUB part
locations are carried through the same transforms, so they match the drawing.

:func:`render_image` is the entry point used by the writer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from t2igan.data.cub_schema import PART_NAMES
from t2igan.synthbirds import background as bgmod
from t2igan.synthbirds.geometry import (
    circle,
    clip_convex,
    clip_halfplane,
    ellipse,
    points_inside,
    polyline_band,
    rotate,
    unit,
)
from t2igan.synthbirds.species import PLANS, choice_w

SS = 2  # supersampling factor of the bird layer

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "blue": (48, 96, 196),
    "brown": (120, 82, 48),
    "iridescent": (30, 92, 106),
    "purple": (102, 50, 140),
    "rufous": (178, 82, 36),
    "grey": (134, 136, 138),
    "yellow": (242, 208, 38),
    "olive": (122, 124, 52),
    "green": (56, 142, 62),
    "pink": (234, 150, 170),
    "orange": (244, 138, 28),
    "black": (30, 30, 32),
    "white": (243, 243, 238),
    "red": (206, 30, 34),
    "buff": (222, 190, 138),
}
_SHEEN = ((120, 60, 170), (40, 170, 120), (60, 110, 200))

# CUB size value -> drawn size as a fraction of sqrt(image area)
SIZE_FRACTION = {
    "very_small_(3_-_5_in)": 0.30,
    "small_(5_-_9_in)": 0.40,
    "medium_(9_-_16_in)": 0.50,
    "large_(16_-_32_in)": 0.60,
    "very_large_(32_-_72_in)": 0.70,
}
BILL_LENGTH_FACTOR = {  # bill length / head length (2 x head radius)
    "shorter_than_head": (0.42, 0.62),
    "about_the_same_as_head": (0.9, 1.1),
    "longer_than_head": (1.45, 2.0),
}


def _shade(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(v * f)))) for v in rgb)  # type: ignore[return-value]


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))  # type: ignore


def _rgba(rgb, alpha: int = 255) -> tuple[int, int, int, int]:
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]), int(alpha))


@dataclass
class Item:
    kind: str  # "poly" or "line"
    pts: np.ndarray
    fill: tuple[int, int, int, int]
    outline: tuple[int, int, int, int] | None = None
    width: float = 0.0  # line width / outline width in local units
    sil: bool = False  # part of the silhouette mask


@dataclass
class Bird:
    items: list[Item] = field(default_factory=list)
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # local coordinates
    far_parts: set[str] = field(default_factory=set)  # drawn on the far side
    hidden_parts: set[str] = field(default_factory=set)  # not drawn at all
    feet: list[np.ndarray] = field(default_factory=list)  # near foot first
    waterline: np.ndarray | None = None  # a local point on the water surface
    pose: str = "perched"

    def poly(self, pts, fill, outline=None, width=0.0, sil=False, alpha=255):
        if pts is None or len(pts) < 3:
            return
        self.items.append(Item("poly", np.asarray(pts, float), _rgba(fill, alpha),
                               None if outline is None else _rgba(outline), width, sil))

    def line(self, pts, fill, width, sil=False, alpha=255):
        self.items.append(Item("line", np.asarray(pts, float), _rgba(fill, alpha), None,
                               width, sil))


class Palette:
    """Per-individual RGB shades of the CUB colour names (slight jitter)."""

    def __init__(self, rng: np.random.Generator):
        self.rgb: dict[str, tuple[int, int, int]] = {}
        for name, base in COLOUR_RGB.items():
            f = 1.0 + 0.07 * rng.standard_normal()
            off = rng.normal(0.0, 6.0, 3)
            self.rgb[name] = tuple(int(min(255, max(0, v * f + o))) for v, o in zip(base, off))

    def __getitem__(self, name: str) -> tuple[int, int, int]:
        return self.rgb[name]


# ---------------------------------------------------------------------------------------
# Bird construction (local frame)
# ---------------------------------------------------------------------------------------
def _fill_region(bird: Bird, pts, colour: str, pal: Palette, rng, outline=False, sil=False,
                 width=0.012):
    if pts is None or len(pts) < 3:
        return
    rgb = pal[colour]
    bird.poly(pts, rgb, _shade(rgb, 0.62) if outline else None, width if outline else 0.0, sil)
    if colour == "iridescent":
        cen = pts.mean(axis=0)
        inner = cen + (pts - cen) * 0.65
        sheen = _SHEEN[int(rng.integers(len(_SHEEN)))]
        bird.poly(inner, sheen, alpha=110)


def _marks(bird: Bird, region: np.ndarray, pattern: str, colour: str, pal: Palette, rng,
           axis: np.ndarray, scale: float, n: int = 14):
    """Spots or streaks of ``colour`` inside the polygon ``region``.

    Marks may spill a little over the region's edge; what spills outside the bird's
    silhouette is cut away by the silhouette mask when the layer is pasted.
    """
    if pattern not in ("spotted", "striped") or len(region) < 3 or colour == "none":
        return
    rgb = pal[colour]
    lo, hi = region.min(axis=0), region.max(axis=0)
    cand = lo[None, :] + (hi - lo)[None, :] * rng.random((n * 4, 2))
    ok = points_inside(region, cand)
    pts = cand[ok][:n]
    sizes = 0.7 + 0.5 * rng.random(len(pts))
    for p, sz in zip(pts, sizes):
        if pattern == "spotted":
            r = scale * sz
            bird.poly(ellipse(p[0], p[1], r, r * 0.8, 10), rgb)
        else:
            length = scale * (1.6 + 1.6 * sz)
            seg = np.stack([p - axis * length / 2, p + axis * length / 2])
            inside = points_inside(region, seg)
            if not inside.all():
                seg = np.stack([p, seg[1] if inside[1] else seg[0]]) if inside.any() else \
                    np.stack([p - axis * length / 6, p + axis * length / 6])
            bird.line(seg, rgb, scale * 0.75)


def build_bird(t: dict[str, Any], pal: Palette, rng: np.random.Generator, pose: str) -> Bird:
    g = dict(t["geo"])
    c = t["colours"]
    bird = Bird(pose=pose)
    # small per-individual geometric variation
    for k in ("b", "head", "tail_len", "wing_len", "leg"):
        g[k] *= 1.0 + 0.05 * rng.standard_normal()
    a = 0.5
    b = g["b"]
    tilt = g["tilt"] + rng.uniform(-6, 6)
    if pose == "clinging":
        tilt = rng.uniform(62, 80)
    elif pose == "flying":
        tilt = rng.uniform(-5, 15)
    elif pose == "swimming":
        tilt = rng.uniform(-4, 6)
    f = unit(tilt)  # forward along the body axis
    d = unit(tilt + 90.0)  # dorsal

    def sr(s, r):
        s = np.asarray(s, float)
        r = np.asarray(r, float)
        return s[..., None] * f + r[..., None] * d

    def sr_poly(poly_sr):
        return poly_sr[:, :1] * f[None, :] + poly_sr[:, 1:2] * d[None, :]

    body_sr = ellipse(0.0, 0.0, a, b, 48)  # (s, r) coordinates

    # ---------------- far wing (flying only) -------------------------------------------
    wing_len = g["wing_len"] * (1.12 if t["wing_shape"] == "long-wings" else 1.0)
    wing_w = 2 * b * g["wing_w"] * (1.15 if t["wing_shape"] == "broad-wings" else 1.0)
    shoulder_sr = np.array([0.16, 0.3 * b])
    raise_deg = 0.0
    if pose == "flying":
        raise_deg = float(rng.choice([70.0, 95.0, 115.0, -30.0]))
    if pose == "flying" and raise_deg > 0:
        far = _wing_polys(t, shoulder_sr, wing_len * 0.92, wing_w * 0.9, raise_deg + 18, f, d)
        _fill_region(bird, far["outline"], c["wing"], pal, rng, outline=True, sil=True)
        dark = _shade(pal[c["wing"]], 0.7)
        bird.poly(far["outline"], dark, alpha=120)
        bird.parts["far wing"] = far["centre"]
    else:
        bird.far_parts.add("far wing")

    # ---------------- legs ------------------------------------------------------------
    leg_w = 0.028 if t["shape"] != "long-legged-like" else 0.022
    leg_rgb = pal[c["leg"]]
    if pose in ("perched", "ground", "clinging"):
        hip = sr(0.06, -0.55 * b)
        if pose == "clinging":
            ldir = unit(tilt - 90.0 - 15.0)  # toward the ventral side, slightly down
            length = 0.6 * b + g["leg"] * 0.6
        else:
            ldir = unit(-90.0 + rng.uniform(-8, 8))  # straight down on screen
            length = 0.45 * b + g["leg"]
        for k, (off, shade) in enumerate(((np.array([-0.07, -0.01]), 0.72),
                                          (np.zeros(2), 1.0))):
            h = hip + off * (1 if pose != "clinging" else 0.6)
            foot = h + ldir * length
            col = _shade(leg_rgb, shade)
            bird.line(np.stack([h, foot]), col, leg_w, sil=True)
            toe_l = 0.085 if t["shape"] != "long-legged-like" else 0.12
            if pose == "clinging":
                toes = [unit(tilt + 10), unit(tilt - 20), unit(tilt + 170)]
            else:
                toes = [unit(-8), unit(8), unit(-25), unit(180 + 15)]
            for j, tv in enumerate(toes):
                ln = toe_l * (0.65 if j == len(toes) - 1 else 1.0)
                bird.line(np.stack([foot, foot + tv * ln]), col, leg_w * 0.7, sil=True)
            name = "near leg" if k == 1 else "far leg"
            bird.parts[name] = h + ldir * length * 0.8
            bird.feet.append(foot)
        bird.feet.reverse()  # near foot first
    else:
        bird.hidden_parts.update({"near leg", "far leg"})

    # ---------------- tail ------------------------------------------------------------
    _build_tail(bird, t, pal, rng, g, a, b, f, d, sr)

    # ---------------- body ------------------------------------------------------------
    body = sr_poly(body_sr)
    _fill_region(bird, body, c["belly"], pal, rng, outline=True, sil=True)
    # breast (front, lower)
    breast_sr = clip_halfplane(clip_halfplane(body_sr, (-1.0, 0.0), 0.0), (0.0, 1.0), 0.25 * b)
    breast = sr_poly(breast_sr)
    belly_sr = clip_halfplane(clip_halfplane(clip_halfplane(body_sr, (1.0, 0.0), 0.0),
                                             (-1.0, 0.0), 0.65 * a), (0.0, 1.0), 0.25 * b)
    belly = sr_poly(belly_sr)
    if t["belly_pattern"] == "multi-colored" and t["belly_pattern_colour"] != "none":
        half = sr_poly(clip_halfplane(belly_sr, (0.0, 1.0), -0.45 * b))
        _fill_region(bird, half, t["belly_pattern_colour"], pal, rng)
    _marks(bird, belly, t["belly_pattern"], t["belly_pattern_colour"], pal, rng, f, 0.022, 10)
    _fill_region(bird, breast, c["breast"], pal, rng)
    if t["breast_pattern"] == "multi-colored" and t["breast_pattern_colour"] != "none":
        band = sr_poly(clip_halfplane(breast_sr, (-1.0, 0.0), -0.55 * a))
        _fill_region(bird, band, t["breast_pattern_colour"], pal, rng)
    _marks(bird, breast, t["breast_pattern"], t["breast_pattern_colour"], pal, rng, f, 0.022, 12)
    vent_sr = clip_halfplane(clip_halfplane(body_sr, (1.0, 0.0), -0.62 * a), (0.0, 1.0), 0.1 * b)
    _fill_region(bird, sr_poly(vent_sr), c["under_tail"], pal, rng)
    back_sr = clip_halfplane(body_sr, (0.25, -1.0), -0.2 * b)
    back = sr_poly(back_sr)
    _fill_region(bird, back, c["back"], pal, rng)
    if t["back_pattern"] == "multi-colored" and t["back_pattern_colour"] != "none":
        saddle = sr_poly(clip_halfplane(clip_halfplane(back_sr, (1.0, 0.0), 0.05),
                                        (-1.0, 0.0), 0.3))
        _fill_region(bird, saddle, t["back_pattern_colour"], pal, rng)
    _marks(bird, back, t["back_pattern"], t["back_pattern_colour"], pal, rng, f, 0.02, 12)
    # shading: darker lower edge, lighter top
    low1 = sr_poly(clip_halfplane(body_sr, (0.0, 1.0), -0.55 * b))
    low2 = sr_poly(clip_halfplane(body_sr, (0.0, 1.0), -0.8 * b))
    bird.poly(low1, (0, 0, 0), alpha=28)
    bird.poly(low2, (0, 0, 0), alpha=30)
    hl = sr_poly(ellipse(0.12, 0.45 * b, 0.22, 0.2 * b, 24))
    bird.poly(hl, (255, 255, 255), alpha=22)

    bird.parts["back"] = sr(-0.12, 0.72 * b)
    bird.parts["belly"] = sr(-0.2, -0.62 * b)
    bird.parts["breast"] = sr(0.3, -0.45 * b)

    # ---------------- near wing --------------------------------------------------------
    wp = _wing_polys(t, shoulder_sr, wing_len, wing_w, raise_deg, f, d)
    _draw_wing(bird, t, wp, pal, rng)
    bird.parts["near wing"] = wp["centre"]

    # ---------------- neck & head --------------------------------------------------------
    R = g["head"]
    neck_base = sr(0.68 * a, 0.3 * b)
    nang = g["neck_ang"] + rng.uniform(-5, 5)
    if pose == "clinging":
        nang = tilt - 5
    C = neck_base + unit(nang) * (g["neck"] + 0.45 * R)
    nb_back = sr(0.25 * a, 0.85 * b)
    nb_front = sr(0.92 * a, -0.25 * b)
    h_back = C + unit(nang + 100) * 0.85 * R
    h_front = C + unit(nang - 100) * 0.85 * R
    mid = (nb_back + nb_front) / 2
    neck = np.stack([nb_back, h_back, h_front, nb_front])
    bird.poly(neck, pal[c["nape"]], _shade(pal[c["nape"]], 0.62), 0.012, sil=True)
    throat_half = np.stack([mid, C, h_front, nb_front])
    _fill_region(bird, throat_half, c["throat"], pal, rng)

    if t.get("crested"):
        crest = np.array([C + R * np.array([0.25, -0.85]), C + R * np.array([-1.35, -1.3]),
                          C + R * np.array([-0.65, -0.95]), C + R * np.array([-1.05, -0.7]),
                          C + R * np.array([-0.6, -0.55])])
        _fill_region(bird, crest, c["crown"], pal, rng, outline=True, sil=True)

    head = circle(C[0], C[1], R, 36)
    _fill_region(bird, head, c["nape"], pal, rng, outline=True, sil=True)
    throat = clip_halfplane(clip_halfplane(head, (0.0, -1.0), -(C[1] + 0.28 * R)),
                            (-1.0, 0.0), -(C[0] - 0.35 * R))
    _fill_region(bird, throat, c["throat"], pal, rng)
    crown = clip_halfplane(clip_halfplane(head, (0.0, 1.0), C[1] - 0.3 * R),
                           (-1.0, 0.0), -(C[0] - 0.8 * R))
    _fill_region(bird, crown, c["crown"], pal, rng)
    forehead = clip_halfplane(clip_halfplane(head, (-1.0, 0.0), -(C[0] + 0.5 * R)),
                              (0.0, 1.0), C[1] - 0.02 * R)
    _fill_region(bird, forehead, c["forehead"], pal, rng)
    E = C + R * np.array([0.36, -0.06])
    er = R * (0.28 if t["shape"] == "owl-like" else 0.17)
    _head_marking(bird, t, pal, rng, C, R, E, er, head)
    # head shading
    bird.poly(clip_halfplane(head, (0.0, -1.0), -(C[1] + 0.6 * R)), (0, 0, 0), alpha=25)

    # ---------------- bill --------------------------------------------------------------
    bill_poly, bill_mid, mouth = _bill(t, rng, C, R)
    brgb = pal[c["bill"]]
    bird.poly(bill_poly, brgb, _shade(brgb, 0.55), 0.01, sil=True)
    if c["bill"] == "iridescent":
        bird.poly(bill_poly, _SHEEN[0], alpha=80)
    bird.line(mouth, _shade(brgb, 0.45), 0.008)

    # ---------------- eye ---------------------------------------------------------------
    eye_rgb = pal[c["eye"]]
    bird.poly(circle(E[0], E[1], er, 20), eye_rgb, (20, 20, 20), 0.008)
    if c["eye"] != "black":
        bird.poly(circle(E[0], E[1], er * 0.5, 14), (12, 12, 12))
    bird.poly(circle(E[0] + er * 0.3, E[1] - er * 0.3, er * 0.22, 10), (255, 255, 255), alpha=230)

    bird.parts["crown"] = C + R * np.array([-0.05, -0.82])
    bird.parts["forehead"] = C + R * np.array([0.66, -0.55])
    bird.parts["near eye"] = E
    bird.parts["far eye"] = E
    bird.far_parts.add("far eye")
    bird.parts["nape"] = C + R * np.array([-0.92, 0.35])
    bird.parts["throat"] = C + R * np.array([0.4, 0.82])
    bird.parts["beak"] = bill_mid

    if pose == "swimming":
        bird.waterline = sr(0.0, -0.3 * b)
    return bird


def _wing_polys(t, shoulder_sr, length, width, raise_deg, f, d):
    ws = t["wing_shape"]
    p, q = {"rounded-wings": (2.0, 0.5), "broad-wings": (2.0, 0.45),
            "pointed-wings": (1.0, 1.0), "tapered-wings": (1.0, 1.4),
            "long-wings": (1.0, 1.1)}.get(ws, (1.5, 0.8))
    u = np.linspace(0.0, 1.0, 26)
    prof = np.power(u, 0.35) * np.power(np.clip(1.0 - np.power(u, p), 0, 1), q)
    prof /= prof.max()
    ax_sr = np.array([-1.0, -0.22])
    ax_sr /= np.linalg.norm(ax_sr)
    nrm_sr = np.array([-ax_sr[1], ax_sr[0]])  # toward dorsal? ensure positive r
    if nrm_sr[1] < 0:
        nrm_sr = -nrm_sr
    base = shoulder_sr[None, :] + (u * length)[:, None] * ax_sr[None, :]
    upper = base + (0.3 * width * prof)[:, None] * nrm_sr[None, :]
    lower = base - (0.7 * width * prof)[:, None] * nrm_sr[None, :]
    outline_sr = np.concatenate([upper, lower[::-1][1:-1]], axis=0)

    def to_xy(ps):
        return ps[:, :1] * f[None, :] + ps[:, 1:2] * d[None, :]

    sh_xy = to_xy(shoulder_sr[None, :])[0]
    ax_xy = to_xy(ax_sr[None, :])[0]
    nrm_xy = to_xy(nrm_sr[None, :])[0]
    outline = to_xy(outline_sr)
    centre = to_xy((shoulder_sr + ax_sr * 0.42 * length - nrm_sr * 0.12 * width)[None, :])[0]
    lines = []
    for frac in (-0.55, -0.3, -0.05, 0.15):
        uu = np.linspace(0.5, 0.96, 10)
        pr = np.interp(uu, u, prof)
        w = np.where(frac < 0, 0.7, 0.3) * width * pr * abs(frac) * 1.4
        pts = (shoulder_sr[None, :] + (uu * length)[:, None] * ax_sr[None, :]
               + (np.sign(frac) * w)[:, None] * nrm_sr[None, :])
        lines.append(to_xy(pts))
    if raise_deg:  # positive raises the wing tip (clockwise on screen for a right-facing bird)
        outline = rotate(outline, -raise_deg, sh_xy)
        centre = rotate(centre[None, :], -raise_deg, sh_xy)[0]
        lines = [rotate(ln, -raise_deg, sh_xy) for ln in lines]
        ax_xy = rotate(ax_xy[None, :], -raise_deg)[0]
        nrm_xy = rotate(nrm_xy[None, :], -raise_deg)[0]
    return dict(outline=outline, centre=centre, lines=lines, shoulder=sh_xy, axis=ax_xy,
                normal=nrm_xy, length=length, width=width)


def _band(outline, shoulder, axis, lo, hi):
    """The part of ``outline`` between distances lo..hi from the shoulder along ``axis``."""
    p = clip_halfplane(outline, -axis, -float(axis @ shoulder + lo))
    return clip_halfplane(p, axis, float(axis @ shoulder + hi))


def _draw_wing(bird: Bird, t, wp, pal: Palette, rng):
    c = t["colours"]
    base = pal[c["wing"]]
    L = wp["length"]
    _fill_region(bird, wp["outline"], c["wing"], pal, rng, outline=True, sil=True)
    flight = _band(wp["outline"], wp["shoulder"], wp["axis"], 0.5 * L, 2.0 * L)
    pattern = t["wing_pattern"]
    pcol = t["wing_pattern_colour"]
    if pattern == "multi-colored" and pcol != "none":
        _fill_region(bird, flight, pcol, pal, rng)
    else:
        bird.poly(flight, _shade(base, 0.82))
    edge = _shade(base, 0.55) if not (pattern == "multi-colored" and pcol != "none") \
        else _shade(pal[pcol], 0.55)
    for ln in wp["lines"]:
        bird.line(ln, edge, 0.007, alpha=170)
    if pattern == "striped" and pcol != "none":
        for lo, hi in ((0.2, 0.27), (0.34, 0.41)):
            bird.poly(_band(wp["outline"], wp["shoulder"], wp["axis"], lo * L, hi * L), pal[pcol])
    elif pattern == "spotted" and pcol != "none":
        coverts = _band(wp["outline"], wp["shoulder"], wp["axis"], 0.05 * L, 0.62 * L)
        _marks(bird, coverts, "spotted", pcol, pal, rng, wp["axis"], 0.018, 12)
    # a subtle shoulder shading line
    bird.poly(_band(wp["outline"], wp["shoulder"], wp["axis"], -1.0, 0.06 * L),
              _shade(base, 0.9))


def _build_tail(bird, t, pal, rng, g, a, b, f, d, sr):
    c = t["colours"]
    ts = t["tail_shape"]
    L = g["tail_len"] * (1.15 if ts == "forked_tail" else 1.0)
    w0 = g["tail_w"]
    tau = g["tail_ang"]
    if bird.pose == "clinging":
        tau = -6.0
    if bird.pose == "flying":
        tau = tau * 0.3
    base = sr(-0.78 * a, 0.12 * b)
    tdir = -(math.cos(math.radians(tau)) * f) - math.sin(math.radians(tau)) * d
    tdir /= np.linalg.norm(tdir)
    perp = np.array([-tdir[1], tdir[0]])
    if perp @ (-d) < 0:
        perp = -perp  # perp points to the ventral side

    def tp(x, y):
        return base + x * tdir + y * perp

    w1 = w0 * 1.25
    if ts == "squared_tail":
        local = [(0, -w0), (L, -w1), (L, w1), (0, w0)]
    elif ts == "rounded_tail":
        arc = [(L - w1 + w1 * math.cos(th), w1 * math.sin(th)) for th in np.linspace(-1.5, 1.5, 9)]
        local = [(0, -w0)] + arc + [(0, w0)]
    elif ts == "notched_tail":
        local = [(0, -w0), (L, -w1), (L * 0.88, 0), (L, w1), (0, w0)]
    elif ts == "forked_tail":
        local = [(0, -w0), (L, -w1 * 1.05), (L * 0.95, -w1 * 0.55), (L * 0.5, 0),
                 (L * 0.95, w1 * 0.55), (L, w1 * 1.05), (0, w0)]
    elif ts == "fan-shaped_tail":
        w2 = w0 * 2.1
        arc = [(L * 0.78 + w2 * 0.35 * math.cos(th), w2 * math.sin(th) * 0.98)
               for th in np.linspace(-1.45, 1.45, 11)]
        local = [(0, -w0 * 0.9)] + arc + [(0, w0 * 0.9)]
    else:  # pointed_tail
        local = [(0, -w0), (L * 0.6, -w0 * 0.95), (L, 0), (L * 0.6, w0 * 0.95), (0, w0)]
    outline = np.array([tp(x, y) for x, y in local])
    up_rgb = pal[c["upper_tail"]]
    _fill_region(bird, outline, c["upper_tail"], pal, rng, outline=True, sil=True)
    ax = tdir

    def band(lo, hi):
        p = clip_halfplane(outline, -ax, -float(ax @ base + lo))
        return clip_halfplane(p, ax, float(ax @ base + hi))

    pat, pcol = t["tail_pattern"], t["tail_pattern_colour"]
    if pat == "striped" and pcol != "none":
        for lo in (0.4, 0.58, 0.76):
            bird.poly(band(lo * L, (lo + 0.08) * L), pal[pcol])
    elif pat == "multi-colored" and pcol != "none":
        bird.poly(band(0.72 * L, 3 * L), pal[pcol])
    elif pat == "spotted" and pcol != "none":
        _marks(bird, band(0.3 * L, 0.9 * L), "spotted", pcol, pal, rng, ax, 0.016, 8)
    for yy in (-0.45, 0.0, 0.45):
        seg = np.stack([tp(0.25 * L, yy * w0), tp(0.85 * L, yy * w0 * 1.2)])
        bird.line(seg, _shade(up_rgb, 0.6), 0.006, alpha=150)
    # under-tail coverts: a strip along the ventral edge near the base
    under = np.array([tp(0.0, w0 * 0.2), tp(0.0, w0 * 1.15), tp(0.42 * L, w0 * 1.05),
                      tp(0.45 * L, w0 * 0.5)])
    _fill_region(bird, under, c["under_tail"], pal, rng)
    bird.parts["tail"] = tp(0.62 * L, 0.0)


def _head_marking(bird: Bird, t, pal, rng, C, R, E, er, head):
    hm = t["head_marking"]
    col = t["head_marking_colour"]
    if hm == "plain" or col == "none":
        return
    rgb = pal[col]
    if hm == "eyebrow":
        xs = np.linspace(-0.95, 0.55, 9)
        pts = np.stack([C[0] + xs * R, E[1] - 0.3 * R - 0.08 * R * np.cos(xs * 1.4)], axis=1)
        band = polyline_band(pts, 0.075 * R)
        bird.poly(clip_convex(band, head), rgb)
    elif hm == "eyering":
        bird.poly(circle(E[0], E[1], er * 1.65, 20), rgb)
    elif hm == "eyeline":
        xs = np.linspace(-0.97, 0.9, 8)
        pts = np.stack([C[0] + xs * R, E[1] + 0.02 * R + 0.05 * R * xs], axis=1)
        band = polyline_band(pts, 0.08 * R)
        bird.poly(clip_convex(band, head), rgb)
    elif hm == "masked":
        m = np.array([E + R * np.array(v) for v in ((0.62, -0.22), (0.1, -0.3), (-0.55, -0.2),
                                                   (-0.75, 0.2), (-0.2, 0.35), (0.6, 0.3))])
        bird.poly(clip_convex(m, head), rgb)
    elif hm == "malar":
        pts = np.stack([C + R * np.array([0.62, 0.32]), C + R * np.array([0.25, 0.55]),
                        C + R * np.array([-0.15, 0.8])])
        bird.poly(clip_convex(polyline_band(pts, 0.09 * R), head), rgb)
    elif hm == "striped":
        th = np.linspace(math.radians(25), math.radians(165), 12)
        for rad in (0.78, 0.5):
            pts = np.stack([C[0] + rad * R * np.cos(th), C[1] - rad * R * np.sin(th)], axis=1)
            bird.poly(clip_convex(polyline_band(pts, 0.07 * R), head), rgb)
    elif hm == "spotted":
        for _ in range(7):
            ang = rng.uniform(0, 2 * math.pi)
            rad = R * math.sqrt(rng.uniform(0.1, 0.7))
            p = C + rad * np.array([math.cos(ang), math.sin(ang)])
            if np.linalg.norm(p - E) > er * 1.5:
                bird.poly(circle(p[0], p[1], 0.07 * R, 8), rgb)


def _bill(t, rng, C, R):
    shape = t["bill_shape"]
    lo, hi = BILL_LENGTH_FACTOR[t["bill_length"]]
    k = rng.uniform(lo, hi)
    if shape == "cone":
        k *= 0.85
    L = k * 2 * R
    delta = {"cone": 10, "hooked": 14, "curved_(up_or_down)": 12, "spatulate": 10,
             "hooked_seabird": 8, "dagger": 9, "needle": 6}.get(shape, 9) + rng.uniform(-4, 4)
    base = C + R * np.array([0.78, 0.16])
    dirv = unit(-delta)
    nrm = np.array([-dirv[1], dirv[0]])
    if nrm[1] < 0:
        nrm = -nrm  # pointing down on screen
    u = np.linspace(0.0, 1.0, 16)
    droop = np.zeros_like(u)
    h0 = 0.25 * R
    up = lo_ = None
    if shape == "cone":
        h0 = 0.44 * R
        up = lo_ = h0 * (1 - u)
    elif shape == "all-purpose":
        h0 = 0.28 * R
        up = h0 * (1 - u ** 1.6)
        lo_ = h0 * (1 - u) * 0.9
        droop = 0.08 * L * u ** 2
    elif shape == "dagger":
        h0 = 0.24 * R
        up = lo_ = h0 * (1 - u)
    elif shape == "needle":
        h0 = 0.09 * R
        up = lo_ = h0 * (1 - 0.75 * u)
    elif shape == "curved_(up_or_down)":
        h0 = 0.15 * R
        up = lo_ = h0 * (1 - 0.75 * u)
        droop = 0.32 * L * u ** 2
    elif shape == "hooked":
        h0 = 0.42 * R
        up = h0 * (1 - 0.55 * u)
        lo_ = h0 * (1 - u) ** 1.2
        droop = 0.55 * L * u ** 3
    elif shape == "hooked_seabird":
        h0 = 0.22 * R
        up = h0 * (1 - 0.35 * u)
        lo_ = h0 * (1 - 0.6 * u) + 0.08 * R * np.exp(-((u - 0.72) / 0.08) ** 2)
        droop = 0.14 * L * np.clip((u - 0.78) / 0.22, 0, 1) ** 2
    elif shape == "spatulate":
        h0 = 0.2 * R
        up = h0 * (1.0 + 0.05 * u)
        lo_ = h0 * (0.9 - 0.2 * u)
    else:  # specialized: crossed mandibles
        h0 = 0.3 * R
        up = h0 * (1 - u)
        lo_ = h0 * (1 - u)
        droop = 0.1 * L * u ** 2
    cen = base[None, :] + (u * L)[:, None] * dirv[None, :] + droop[:, None] * nrm[None, :]
    upper = cen - up[:, None] * nrm[None, :]
    lower = cen + lo_[:, None] * nrm[None, :]
    if shape == "spatulate":
        tip = cen[-1]
        th = np.linspace(-math.pi / 2, math.pi / 2, 7)
        rr = (up[-1] + lo_[-1]) / 2
        cap = tip[None, :] + rr * (np.cos(th)[:, None] * dirv[None, :]
                                   + np.sin(th)[:, None] * nrm[None, :]) \
            + ((up[-1] - lo_[-1]) / 2) * -nrm[None, :]
        poly = np.concatenate([upper[:-1], cap, lower[::-1][1:]], axis=0)
    elif shape == "hooked":
        hook = cen[-1] + nrm * (lo_[0] * 0.6) - dirv * 0.08 * L
        poly = np.concatenate([upper, hook[None, :], lower[::-1]], axis=0)
    else:
        poly = np.concatenate([upper, lower[::-1]], axis=0)
    mouth = cen[: int(len(u) * 0.85)]
    mid = cen[len(u) // 2]
    return poly, mid, mouth


# ---------------------------------------------------------------------------------------
# Image
# ---------------------------------------------------------------------------------------
def choose_pose(t: dict[str, Any], rng: np.random.Generator) -> str:
    return choice_w(rng, PLANS[t["shape"]]["pose"])


def image_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) distributed roughly like CUB's images."""
    r = rng.random()
    ratio = float(rng.choice([0.667, 0.75, 0.8, 1.0, 0.6, 0.7, 0.9, 1.333, 1.25],
                             p=[0.3, 0.25, 0.08, 0.1, 0.05, 0.07, 0.05, 0.07, 0.03]))
    ratio = min(max(ratio * (1.0 + 0.03 * rng.standard_normal()), 0.6), 1.334)
    if r < 0.72:
        long_side = 500
    else:
        long_side = int(rng.integers(120, 500))
    if ratio <= 1.0:
        w = long_side
        h = int(round(w * ratio))
    else:
        h = long_side
        w = int(round(h / ratio))
    return max(w, 80), max(h, 64)


def render_image(t: dict[str, Any], rng: np.random.Generator,
                 size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Draw one individual ``t``.

    Returns a dict with ``image`` (PIL RGB), ``bbox`` (x, y, w, h floats, clipped to the
    image), ``parts`` (15 x 3 float array of x, y, visible in CUB part order) and
    ``visible`` ({part group: bool}, used to drop attributes of hidden parts).
    """
    W, H = size if size is not None else image_size(rng)
    pal = Palette(rng)
    pose = choose_pose(t, rng)
    bird = build_bird(t, pal, rng, pose)
    theta = {"flying": 18.0, "swimming": 3.0, "clinging": 6.0}.get(pose, 10.0) * rng.uniform(-1, 1)
    flip = bool(rng.random() < 0.5)

    # -------- scale, layer geometry
    all_pts = np.concatenate([it.pts for it in bird.items], axis=0)
    rot = rotate(all_pts, theta)
    ext = rot.max(axis=0) - rot.min(axis=0)
    frac = SIZE_FRACTION[t["size"]] * (1.0 + 0.07 * rng.standard_normal())
    S = frac * math.sqrt(W * H) / math.sqrt(ext[0] * ext[1])
    S = min(S, 0.94 * W / ext[0], 0.94 * H / ext[1])
    k = S * SS
    margin = 4.0 + 0.5 * k * max(it.width for it in bird.items)
    lo = rot.min(axis=0) * k - margin
    lw = int(math.ceil((ext[0]) * k + 2 * margin))
    lh = int(math.ceil((ext[1]) * k + 2 * margin))
    lw += lw % 2
    lh += lh % 2

    def to_layer(p):
        return rotate(np.atleast_2d(p), theta) * k - lo

    rgb = Image.new("RGB", (lw, lh), (0, 0, 0))
    mask = Image.new("L", (lw, lh), 0)
    dr = ImageDraw.Draw(rgb, "RGBA")
    dm = ImageDraw.Draw(mask)
    layer_all = rot * k - lo
    start = 0
    for it in bird.items:
        n = len(it.pts)
        flat = layer_all[start:start + n].ravel().tolist()
        start += n
        if it.kind == "poly":
            if n < 3:
                continue
            if it.outline is not None:
                ow = max(1, int(round(it.width * k)))
                dr.polygon(flat, fill=it.fill, outline=it.outline, width=ow)
            else:
                ow = 1
                dr.polygon(flat, fill=it.fill)
            if it.sil:
                dm.polygon(flat, fill=255, outline=255, width=ow)
        else:
            wpx = max(1, int(round(it.width * k)))
            dr.line(flat, fill=it.fill, width=wpx, joint="curve")
            if it.sil:
                dm.line(flat, fill=255, width=wpx, joint="curve")
    rgb = rgb.reduce(SS)
    mask = mask.reduce(SS)
    lw1, lh1 = rgb.size

    def layer1(p):  # local -> 1x layer coordinates (before flip)
        return to_layer(p) / SS

    m = np.asarray(mask).copy()
    if bird.waterline is not None:
        wl = layer1(bird.waterline)
        # water surface is horizontal on screen: use the rotated reference point's y
        y_wl = int(round(float(wl[0, 1])))
        y_wl = min(max(y_wl, 0), lh1)
        m[y_wl:, :] = 0
        mask = Image.fromarray(m)
    if flip:
        rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        m = np.ascontiguousarray(m[:, ::-1])

    def layer_final(p):
        q = layer1(p)
        if flip:
            q = np.stack([lw1 - q[:, 0], q[:, 1]], axis=1)
        return q

    # -------- placement
    partial = rng.random() < 0.1
    slack_x = W - lw1
    slack_y = H - lh1
    if partial:
        ox = int(rng.integers(min(0, slack_x) - int(0.18 * lw1), max(slack_x, 0) + int(0.18 * lw1) + 1))
        oy = int(rng.integers(min(0, slack_y) - int(0.12 * lh1), max(slack_y, 0) + int(0.12 * lh1) + 1))
    else:
        ox = int(rng.integers(min(0, slack_x), max(slack_x, 0) + 1))
        oy = int(rng.integers(min(0, slack_y), max(slack_y, 0) + 1))
        # centre-biased like photos
        ox = int(round(0.5 * ox + 0.5 * slack_x / 2))
        oy = int(round(0.5 * oy + 0.5 * slack_y / 2))
    offset = np.array([ox, oy], float)

    feet = [layer_final(f)[0] + offset for f in bird.feet]
    facing_right = not flip
    scene = dict(pose=pose, feet=feet, facing_right=facing_right, scale=S,
                 bird_box=(ox, oy, ox + lw1, oy + lh1), waterline=None)
    if bird.waterline is not None:
        scene["waterline"] = oy + float(layer1(bird.waterline)[0, 1])
    img = bgmod.make_background(W, H, rng, t, scene)
    img.paste(rgb, (ox, oy), mask)
    bgmod.after_bird(img, rng, scene)

    # -------- bbox from the silhouette
    thr = mask.point(lambda v: 255 if v > 60 else 0)
    bb = thr.getbbox() or mask.getbbox() or (0, 0, 1, 1)
    x0 = min(max(bb[0] + ox, 0), W - 1)
    y0 = min(max(bb[1] + oy, 0), H - 1)
    x1 = min(max(bb[2] + ox, x0 + 1), W)
    y1 = min(max(bb[3] + oy, y0 + 1), H)
    bbox = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))

    # -------- parts
    near = "right" if facing_right else "left"
    far = "left" if facing_right else "right"
    name_map = {f"{near} eye": "near eye", f"{far} eye": "far eye",
                f"{near} wing": "near wing", f"{far} wing": "far wing",
                f"{near} leg": "near leg", f"{far} leg": "far leg"}
    parts = np.zeros((len(PART_NAMES), 3), dtype=float)
    for i, pname in enumerate(PART_NAMES):
        key = name_map.get(pname, pname)
        if key in bird.hidden_parts or key in bird.far_parts or key not in bird.parts:
            continue
        q = layer_final(bird.parts[key])[0]
        xi, yi = int(math.floor(q[0])), int(math.floor(q[1]))
        y_lo, y_hi = max(yi - 1, 0), min(yi + 2, m.shape[0])
        x_lo, x_hi = max(xi - 1, 0), min(xi + 2, m.shape[1])
        if y_lo >= y_hi or x_lo >= x_hi or m[y_lo:y_hi, x_lo:x_hi].max() < 40:
            continue
        x, y = q[0] + ox, q[1] + oy
        if not (0 <= x < W and 0 <= y < H):
            continue
        parts[i] = (round(x, 1), round(y, 1), 1.0)

    def vis(*names):
        return any(parts[PART_NAMES.index(n), 2] > 0 for n in names)

    visible = {
        "crown": vis("crown"),
        "forehead": vis("forehead"),
        "nape": vis("nape"),
        "back": vis("back"),
        "wing": vis("left wing", "right wing"),
        "tail": vis("tail"),
        "under_tail": vis("tail") and pose != "swimming",
        "throat": vis("throat"),
        "breast": vis("breast"),
        "belly": vis("belly"),
        "bill": vis("beak"),
        "eye": vis("left eye", "right eye"),
        "leg": vis("left leg", "right leg"),
    }
    return dict(image=img, bbox=bbox, parts=parts, visible=visible, pose=pose,
                size=(W, H), flip=flip)
