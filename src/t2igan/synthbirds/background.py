"""Procedural photo-like backgrounds: sky, foliage, water, ground, marsh, with clutter.

The far background is painted at half resolution and upsampled (cheap, and the blur
looks like a shallow depth of field); the things the bird touches (perch, trunk, ground
line, water ripples) are drawn at full resolution.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from t2igan.synthbirds.geometry import ellipse, polyline_band

_BICUBIC = Image.Resampling.BICUBIC


def noise(rng: np.random.Generator, h: int, w: int, cy: int, cx: int) -> np.ndarray:
    """Smooth value noise in [0, 1] of shape (h, w): a (cy, cx) random grid upsampled."""
    cy, cx = max(2, int(cy)), max(2, int(cx))
    small = (rng.random((cy, cx)) * 255).astype(np.uint8)
    big = Image.fromarray(small, "L").resize((w, h), _BICUBIC)
    return np.asarray(big, dtype=np.float32) * (1.0 / 255.0)


def _jit(rgb, rng, amount=18.0):
    return np.clip(np.asarray(rgb, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _vgrad(h: int, w: int, top, bottom, y0: float = 0.0, y1: float = 1.0) -> np.ndarray:
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)
    t = np.clip((y - y0) / max(y1 - y0, 1e-6), 0, 1)[:, None, None]
    top = np.asarray(top, np.float32)[None, None, :]
    bottom = np.asarray(bottom, np.float32)[None, None, :]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()


def sky(rng, h, w) -> np.ndarray:
    kind = rng.random()
    if kind < 0.55:  # blue sky
        top = _jit((70, 125, 200), rng, 20)
        bot = _jit((185, 210, 232), rng, 12)
    elif kind < 0.85:  # overcast
        g = rng.uniform(165, 225)
        top = _jit((g - 10, g - 5, g + 5), rng, 8)
        bot = _jit((g + 15, g + 15, g + 18), rng, 6)
    else:  # evening
        top = _jit((90, 110, 170), rng, 15)
        bot = _jit((235, 190, 150), rng, 15)
    img = _vgrad(h, w, top, bot)
    if rng.random() < 0.75:
        n = noise(rng, h, w, rng.integers(2, 5), rng.integers(3, 7)) * 0.7 \
            + noise(rng, h, w, rng.integers(6, 12), rng.integers(8, 16)) * 0.3
        thr = rng.uniform(0.45, 0.65)
        cloud = np.clip((n - thr) * rng.uniform(3, 6), 0, 1)[..., None]
        white = _jit((245, 245, 248), rng, 5)
        img = img * (1 - cloud) + white[None, None, :] * cloud
    return img


_FOLIAGE = ((45, 78, 38), (85, 100, 48), (110, 92, 45), (92, 130, 62), (60, 90, 70),
            (130, 120, 70), (70, 60, 45))


def foliage(rng, h, w) -> np.ndarray:
    c1 = _jit(_FOLIAGE[int(rng.integers(len(_FOLIAGE)))], rng, 12)
    c2 = _jit(_FOLIAGE[int(rng.integers(len(_FOLIAGE)))], rng, 12)
    mixn = noise(rng, h, w, rng.integers(2, 5), rng.integers(2, 6))[..., None]
    img = c1[None, None, :] * (1 - mixn) + c2[None, None, :] * mixn
    light = 0.55 + 0.7 * noise(rng, h, w, rng.integers(3, 7), rng.integers(4, 9)) \
        + 0.35 * (noise(rng, h, w, h // 3, w // 3) - 0.5)
    img = img * light[..., None]
    if rng.random() < 0.4:  # sky showing through
        n = noise(rng, h, w, rng.integers(3, 6), rng.integers(3, 7))
        hole = np.clip((n - 0.7) * 5, 0, 1)[..., None]
        img = img * (1 - hole) + _jit((205, 218, 232), rng, 6)[None, None, :] * hole
    return img


def water(rng, h, w) -> np.ndarray:
    base = [(55, 95, 135), (70, 105, 100), (40, 62, 80), (95, 120, 135), (60, 80, 60)]
    c = _jit(base[int(rng.integers(len(base)))], rng, 12)
    img = _vgrad(h, w, c * 0.85, c * 1.15)
    streak = noise(rng, h, w, max(h // 2, 4), 3)
    img = img * (0.8 + 0.4 * streak)[..., None]
    return img


def ground(rng, h, w) -> np.ndarray:
    base = [(120, 95, 65), (150, 130, 95), (110, 105, 95), (90, 110, 55), (180, 165, 130),
            (225, 228, 232), (95, 80, 60)]
    c = _jit(base[int(rng.integers(len(base)))], rng, 12)
    n = 0.7 + 0.35 * noise(rng, h, w, rng.integers(3, 6), rng.integers(4, 8)) \
        + 0.3 * (noise(rng, h, w, h, w) - 0.5)
    return np.asarray(c, np.float32)[None, None, :] * n[..., None]


def _to_img(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


_LEAF_COS = np.cos(np.linspace(0, 2 * math.pi, 10, endpoint=False))
_LEAF_SIN = np.sin(np.linspace(0, 2 * math.pi, 10, endpoint=False))


def _leaves(draw: ImageDraw.ImageDraw, rng, w, h, n, region=None):
    if n <= 0:
        return
    x = rng.uniform(0, w, n)
    y = rng.uniform(0, h, n) if region is None else rng.uniform(region[0], region[1], n)
    L = rng.uniform(4, 14, n)
    Wd = L * rng.uniform(0.3, 0.5, n)
    ang = rng.uniform(0, math.pi, n)
    ca, sa = np.cos(ang)[:, None], np.sin(ang)[:, None]
    u = L[:, None] * _LEAF_COS[None, :]
    v = Wd[:, None] * _LEAF_SIN[None, :]
    px = x[:, None] + u * ca - v * sa
    py = y[:, None] + u * sa + v * ca
    pts = np.stack([px, py], axis=2).reshape(n, -1)
    g = rng.uniform(0.5, 1.3, n)
    autumn = rng.random(n) < 0.15
    for k in range(n):
        if autumn[k]:
            col = (int(150 * g[k]), int(120 * g[k]), 40)
        else:
            col = (int(min(255, 60 * g[k])), int(min(255, 110 * g[k])), int(min(255, 45 * g[k])))
        draw.polygon(pts[k].tolist(), fill=col)


def _branch(draw, rng, p0, p1, width, col, segments=6):
    t = np.linspace(0, 1, segments)[:, None]
    pts = p0[None, :] * (1 - t) + p1[None, :] * t
    d = p1 - p0
    nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
    pts = pts + nrm[None, :] * rng.normal(0, width * 0.8, (segments, 1)) * np.sin(t * math.pi)
    band = polyline_band(pts, np.linspace(width, width * 0.55, segments) / 2)
    draw.polygon([tuple(p) for p in band], fill=col)
    return pts


def _rocks(draw, rng, w, h, y_lo, n):
    for _ in range(n):
        x = rng.uniform(0, w)
        y = rng.uniform(y_lo, h)
        r = rng.uniform(4, 22) * (0.5 + (y - y_lo) / max(h - y_lo, 1))
        ang = np.linspace(0, 2 * math.pi, 9, endpoint=False) + rng.uniform(0, 0.6)
        rad = r * rng.uniform(0.75, 1.05, 9)
        pts = np.stack([x + rad * np.cos(ang), y + 0.6 * rad * np.sin(ang)], axis=1)
        g = rng.uniform(90, 170)
        draw.polygon(pts.ravel().tolist(), fill=(int(g * 0.8), int(g * 0.78), int(g * 0.74)))
        top = np.array([x - 0.15 * r, y - 0.12 * r]) + (pts - np.array([x, y])) * 0.72
        draw.polygon(top.ravel().tolist(), fill=(int(g), int(g * 0.98), int(g * 0.93)))


def _grass(draw, rng, w, h, y_lo, n):
    for _ in range(n):
        x = rng.uniform(0, w)
        y = rng.uniform(y_lo, h)
        L = rng.uniform(4, 16)
        dx = rng.uniform(-4, 4)
        g = rng.uniform(0.6, 1.3)
        col = (int(min(255, 80 * g)), int(min(255, 120 * g)), int(min(255, 45 * g)))
        if rng.random() < 0.3:
            col = (int(min(255, 170 * g)), int(min(255, 150 * g)), int(min(255, 80 * g)))
        draw.line([(x, y), (x + dx, y - L)], fill=col, width=1)


def _reeds(draw, rng, w, h, n):
    for _ in range(n):
        x = rng.uniform(0, w)
        top = rng.uniform(0, h * 0.6)
        g = rng.uniform(0.7, 1.3)
        col = (int(min(255, 140 * g)), int(min(255, 125 * g)), int(min(255, 70 * g)))
        draw.line([(x, h), (x + rng.uniform(-6, 6), top)], fill=col, width=int(rng.integers(1, 3)))


def _bokeh(draw, rng, w, h, n):
    for _ in range(n):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 12)
        a = int(rng.uniform(20, 60))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230, a))


def make_background(W: int, H: int, rng: np.random.Generator, t: dict[str, Any],
                    scene: dict[str, Any]) -> Image.Image:
    """A background of size (W, H) suited to ``scene['pose']`` (perch, ground, water...)."""
    w, h = (W + 1) // 2, (H + 1) // 2  # clutter resolution
    w4, h4 = (W + 3) // 4, (H + 3) // 4  # base texture resolution
    pose = scene["pose"]
    feet = scene["feet"]
    shore_birds = t["shape"] in ("sandpiper-like", "long-legged-like", "gull-like",
                                 "chicken-like-marsh")
    horizon = None  # y (full res) where the lower layer starts
    lower = None
    if pose == "swimming":
        wl = scene["waterline"]
        horizon = wl - rng.uniform(0.15, 0.7) * H
        lower = "water"
    elif pose == "ground":
        fy = max(f[1] for f in feet) if feet else 0.8 * H
        horizon = fy - rng.uniform(0.12, 0.6) * H
        lower = "shore" if shore_birds and rng.random() < 0.7 else "ground"
    upper_kind = rng.choice(["sky", "foliage"], p=[0.45, 0.55])
    if pose == "flying":
        upper_kind = "sky" if rng.random() < 0.75 else "foliage"
    if t["shape"] == "chicken-like-marsh" and rng.random() < 0.6:
        upper_kind = "marsh"

    arr = sky(rng, h4, w4) if upper_kind == "sky" else foliage(rng, h4, w4)
    if horizon is not None and horizon < H:
        hy = int(min(max(0, round(horizon / 4)), h4 - 1))
        if lower == "water":
            low = water(rng, h4 - hy, w4)
        elif lower == "shore":
            sh = int((h4 - hy) * rng.uniform(0.0, 0.5))
            low = np.concatenate([water(rng, sh, w4), ground(rng, h4 - hy - sh, w4)], axis=0) \
                if sh > 0 else ground(rng, h4 - hy, w4)
        else:
            low = ground(rng, h4 - hy, w4)
        arr[hy:] = low
        if upper_kind == "sky" and hy > 0 and rng.random() < 0.7:
            # distant tree line / hills along the horizon
            prof = noise(rng, 1, w4, 2, rng.integers(3, 10))[0] * rng.uniform(0.1, 0.3) * h4
            yy = np.arange(h4)[:, None]
            hill = (yy > hy - prof[None, :]) & (yy < hy)
            col = _jit((60, 85, 55), rng, 15)
            arr[hill] = col
    img = _to_img(arr).resize((w, h), _BICUBIC)
    d = ImageDraw.Draw(img, "RGBA")
    hy2 = h if horizon is None else max(0.0, horizon / 2)
    if upper_kind == "foliage":
        _bokeh(d, rng, w, hy2, int(rng.integers(0, 10)))
        for _ in range(int(rng.integers(1, 4))):
            p0 = np.array([rng.uniform(-0.2, 1.2) * w, rng.uniform(0, hy2 + 1)])
            p1 = p0 + rng.normal(0, 1, 2) * max(w, h) * 0.6
            g = rng.uniform(50, 110)
            _branch(d, rng, p0, p1, rng.uniform(2, 7), (int(g), int(g * 0.8), int(g * 0.6)))
        _leaves(d, rng, w, hy2 + 1, int(rng.integers(15, 70)))
    elif upper_kind == "marsh":
        _reeds(d, rng, w, hy2 + 1, int(rng.integers(20, 60)))
    elif upper_kind == "sky" and pose != "flying" and rng.random() < 0.4:
        p0 = np.array([rng.choice([-5.0, w + 5.0]), rng.uniform(0, hy2 + 1)])
        p1 = np.array([w / 2 + rng.normal(0, w / 4), rng.uniform(0, hy2 + 1)])
        _branch(d, rng, p0, p1, rng.uniform(2, 5), (70, 55, 40))
        _leaves(d, rng, w, hy2 + 1, int(rng.integers(0, 12)))
    if lower in ("ground", "shore") and horizon is not None:
        _rocks(d, rng, w, h, max(horizon / 2, 0), int(rng.integers(0, 7)))
        if lower == "ground":
            _grass(d, rng, w, h, max(horizon / 2, 0), int(rng.integers(10, 80)))
    # out of focus: soften the half-resolution clutter, then upsample
    img = img.filter(ImageFilter.BoxBlur(1)).resize((W, H), Image.Resampling.BILINEAR)

    # ---------------- full-resolution supports --------------------------------------------
    d = ImageDraw.Draw(img, "RGBA")
    S = scene["scale"]
    if pose == "perched" and feet:
        _perch(d, rng, W, H, feet, S, scene)
    elif pose == "clinging" and feet:
        _trunk(d, rng, W, H, feet, S, scene)
    elif pose == "ground" and feet:
        fy = max(f[1] for f in feet)
        col = tuple(int(v) for v in np.asarray(img.getpixel((int(min(W - 1, max(0, feet[0][0]))),
                                                                   int(min(H - 1, fy)))))[:3])
        dark = tuple(int(v * 0.75) for v in col)
        # a soft shadow under the bird
        x0, _, x1, _ = scene["bird_box"]
        cx = feet[0][0]
        r = (x1 - x0) * 0.3
        d.ellipse([cx - r, fy - r * 0.12, cx + r, fy + r * 0.12], fill=dark + (110,))
    return img


def _perch(d, rng, W, H, feet, S, scene):
    near = feet[0]
    thick = max(3.0, S * rng.uniform(0.045, 0.12))
    ang = math.radians(rng.uniform(-18, 18))
    direction = np.array([math.cos(ang), math.sin(ang)])
    centre = near + np.array([0.0, thick * 0.42])
    # a branch coming in from one side (or crossing the image)
    side = rng.random()
    far_len = (W + H) * 1.5
    if side < 0.4:
        p0, p1 = centre - direction * far_len, centre + direction * far_len
    elif side < 0.7:
        p0, p1 = centre - direction * far_len, centre + direction * rng.uniform(0.1, 0.3) * W
    else:
        p0, p1 = centre - direction * rng.uniform(0.1, 0.3) * W, centre + direction * far_len
    g = rng.uniform(55, 120)
    col = (int(g), int(g * 0.78), int(g * 0.58))
    if rng.random() < 0.15:  # a wire or a grey post
        col = (int(g * 0.9), int(g * 0.9), int(g * 0.92))
    n = 8
    t = np.linspace(0, 1, n)[:, None]
    pts = p0[None, :] * (1 - t) + p1[None, :] * t
    band = polyline_band(pts, thick / 2)
    d.polygon([tuple(p) for p in band], fill=col)
    # highlight and shadow lines
    nrm = np.array([-direction[1], direction[0]])
    hi = pts - nrm * thick * 0.28
    lo = pts + nrm * thick * 0.3
    d.line([tuple(p) for p in hi], fill=tuple(min(255, int(v * 1.35)) for v in col) + (160,),
           width=max(1, int(thick * 0.18)))
    d.line([tuple(p) for p in lo], fill=tuple(int(v * 0.6) for v in col) + (170,),
           width=max(1, int(thick * 0.22)))
    # a twig with a few leaves
    if rng.random() < 0.6:
        s = rng.uniform(-0.6, 0.6) * W
        base = centre + direction * s
        tip = base + np.array([rng.uniform(-1, 1), -rng.uniform(0.5, 1.0)]) * S * rng.uniform(0.3, 0.6)
        d.line([tuple(base), tuple(tip)], fill=col, width=max(1, int(thick * 0.35)))
        for _ in range(int(rng.integers(1, 5))):
            q = base + (tip - base) * rng.uniform(0.3, 1.0)
            L = S * rng.uniform(0.05, 0.12)
            a2 = rng.uniform(0, math.pi)
            ax = np.array([math.cos(a2), math.sin(a2)])
            ay = np.array([-ax[1], ax[0]])
            leaf = ellipse(q[0], q[1], L, L * 0.4, 12, ax, ay)
            gg = rng.uniform(0.6, 1.2)
            d.polygon([tuple(p) for p in leaf], fill=(int(70 * gg), int(120 * gg), int(50 * gg)))


def _trunk(d, rng, W, H, feet, S, scene):
    fx = float(np.mean([f[0] for f in feet]))
    width = S * rng.uniform(0.5, 1.2)
    if scene["facing_right"]:
        x0, x1 = fx - S * 0.02, fx - S * 0.02 + width
    else:
        x0, x1 = fx + S * 0.02 - width, fx + S * 0.02
    g = rng.uniform(70, 130)
    col = (int(g), int(g * 0.85), int(g * 0.7))
    if rng.random() < 0.25:
        col = (int(g * 1.3), int(g * 1.28), int(g * 1.22))  # pale bark (birch, sycamore)
    d.rectangle([x0, -1, x1, H + 1], fill=col)
    for _ in range(int(max(4, width / 6))):
        x = rng.uniform(x0, x1)
        y0 = rng.uniform(-10, H)
        L = rng.uniform(10, 80)
        d.line([(x, y0), (x + rng.uniform(-2, 2), y0 + L)],
               fill=tuple(int(v * 0.6) for v in col) + (200,), width=int(rng.integers(1, 4)))
    # shade the trunk edges
    e = width * 0.15
    d.rectangle([x0, -1, x0 + e, H + 1], fill=(0, 0, 0, 50))
    d.rectangle([x1 - e, -1, x1, H + 1], fill=(0, 0, 0, 50))


def after_bird(img: Image.Image, rng: np.random.Generator, scene: dict[str, Any]) -> None:
    """Things in front of the bird: water ripples at the water line."""
    if scene["pose"] != "swimming" or scene.get("waterline") is None:
        return
    d = ImageDraw.Draw(img, "RGBA")
    W, H = img.size
    wl = scene["waterline"]
    x0, _, x1, _ = scene["bird_box"]
    for _ in range(int(rng.integers(4, 10))):
        y = wl + rng.uniform(-1, 8)
        cx = rng.uniform(x0, x1)
        half = rng.uniform(0.1, 0.4) * (x1 - x0)
        light = rng.random() < 0.5
        col = (235, 240, 245, 120) if light else (20, 30, 40, 90)
        d.line([(cx - half, y), (cx + half, y)], fill=col, width=int(rng.integers(1, 3)))
