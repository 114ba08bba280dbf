"""Species prototypes and individual variation for the synthetic birds data set.

A *species* is a prototype: a body plan (one of CUB's ``has_shape`` values), a size,
a bill, a tail, wing/breast/back/tail patterns, head markings and a coherent colour
scheme (upper parts one colour, under parts another, one or two accents).  An
*individual* is a copy of its species' prototype in which each attribute group is
resampled with a small probability (``RESAMPLE_P``), so that classes overlap a little
and attributes are not a deterministic function of the class.

Traits are plain dicts of strings (picklable, cheap to send to worker processes).
The attribute vector of an image is derived from the traits *as drawn* by
:func:`present_attributes` (see ``draw.py`` for what is visible).
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from t2igan.data.cub_schema import COLOUR_NAMES, EYE_COLOUR_NAMES, attribute_id

RESAMPLE_P = 0.1

# Parts whose colour is modelled (each maps to a CUB "has_<part>_color" group).
COLOUR_PARTS: tuple[str, ...] = (
    "crown",
    "forehead",
    "nape",
    "back",
    "wing",
    "upper_tail",
    "under_tail",
    "throat",
    "breast",
    "belly",
    "bill",
    "leg",
    "eye",
)

SIZE_ORDER: tuple[str, ...] = (
    "very_small_(3_-_5_in)",
    "small_(5_-_9_in)",
    "medium_(9_-_16_in)",
    "large_(16_-_32_in)",
    "very_large_(32_-_72_in)",
)


def _w(**kw: float) -> dict[str, float]:
    return kw


# Colour frequencies for the main colour of the upper and under parts and for accents
# (roughly how often CUB's birds use them).
UPPER_W = _w(brown=20, grey=15, black=12, olive=7, blue=8, rufous=5, green=4, yellow=5,
             red=5, white=3, buff=5, purple=2, iridescent=3, orange=2, pink=1)
UNDER_W = _w(white=30, buff=12, grey=12, yellow=10, brown=5, black=4, red=5, orange=4,
             rufous=5, pink=3, olive=3, blue=3, green=1, purple=1)
ACCENT_W = _w(red=12, yellow=12, black=12, white=10, orange=7, blue=7, rufous=6, buff=4,
              brown=4, grey=4, pink=3, purple=3, green=3, olive=2, iridescent=3)
BILL_W = _w(black=40, grey=15, orange=8, yellow=8, pink=8, brown=7, buff=5, red=4,
            white=2, olive=1, blue=1)
LEG_W = _w(black=28, grey=20, pink=15, brown=12, orange=7, yellow=8, buff=6, red=3, olive=1)
EYE_W = _w(black=55, brown=20, red=8, yellow=8, white=3, orange=3, grey=1, blue=1, green=1)
BAR_W = _w(white=50, buff=15, yellow=12, black=8, grey=5, rufous=4, red=3, orange=3)
STREAK_W = _w(brown=35, black=30, rufous=12, grey=10, olive=5, buff=4, white=4)
DARK_W = _w(black=50, brown=20, grey=20, white=5, rufous=5)
SPOT_W = _w(white=35, black=30, brown=15, buff=10, yellow=5, red=5)

# Body plans: one per modelled CUB shape, with how often species get it and the
# distributions of attributes that make sense for it.
PLANS: dict[str, dict[str, Any]] = {
    "perching-like": dict(
        weight=44, nouns=("Warbler", "Sparrow", "Finch", "Tanager", "Flycatcher", "Vireo", "Wren",
                          "Oriole", "Grosbeak", "Bunting", "Towhee", "Thrush", "Jay", "Blackbird",
                          "Shrike", "Kingbird", "Cardinal", "Waxwing", "Pipit", "Junco", "Chat",
                          "Redstart", "Catbird", "Cowbird", "Grackle", "Lark", "Phoebe", "Pewee"),
        size=_w(very_small=15, small=60, medium=25),
        bill=_w(cone=35, **{"all-purpose": 35}, dagger=10, needle=10, hooked=5,
                **{"curved_(up_or_down)": 5}),
        bill_len=_w(shorter=80, same=18, longer=2),
        tail=_w(notched_tail=28, squared_tail=20, rounded_tail=25, forked_tail=10,
                pointed_tail=5, **{"fan-shaped_tail": 12}),
        wing=_w(**{"rounded-wings": 50, "pointed-wings": 40, "tapered-wings": 10}),
        pose=_w(perched=80, ground=14, flying=6),
        geo=dict(b=(0.30, 0.36), tilt=(22, 40), head=(0.19, 0.23), neck=(0.0, 0.06),
                 neck_ang=(55, 75), tail_len=(0.42, 0.62), tail_w=(0.09, 0.12), tail_ang=(5, 20),
                 leg=(0.20, 0.28), wing_len=(0.62, 0.78), wing_w=(0.55, 0.7)),
    ),
    "swallow-like": dict(
        weight=5, nouns=("Swallow", "Swift", "Martin"),
        size=_w(very_small=25, small=75),
        bill=_w(**{"all-purpose": 60}, needle=20, cone=20),
        bill_len=_w(shorter=100),
        tail=_w(forked_tail=70, notched_tail=30),
        wing=_w(**{"long-wings": 45, "pointed-wings": 45, "tapered-wings": 10}),
        pose=_w(perched=50, flying=50),
        geo=dict(b=(0.26, 0.3), tilt=(10, 25), head=(0.18, 0.21), neck=(0.0, 0.03),
                 neck_ang=(45, 65), tail_len=(0.6, 0.85), tail_w=(0.08, 0.1), tail_ang=(0, 12),
                 leg=(0.12, 0.16), wing_len=(1.0, 1.25), wing_w=(0.45, 0.55)),
    ),
    "hummingbird-like": dict(
        weight=3, nouns=("Hummingbird", "Sunangel", "Woodstar"),
        size=_w(very_small=100),
        bill=_w(needle=70, **{"curved_(up_or_down)": 30}),
        bill_len=_w(longer=85, same=15),
        tail=_w(rounded_tail=30, forked_tail=25, pointed_tail=20, **{"fan-shaped_tail": 25}),
        wing=_w(**{"pointed-wings": 50, "long-wings": 30, "tapered-wings": 20}),
        pose=_w(flying=75, perched=25),
        geo=dict(b=(0.3, 0.34), tilt=(25, 45), head=(0.2, 0.23), neck=(0.0, 0.04),
                 neck_ang=(50, 70), tail_len=(0.4, 0.55), tail_w=(0.09, 0.11), tail_ang=(10, 25),
                 leg=(0.1, 0.13), wing_len=(0.8, 0.95), wing_w=(0.4, 0.5)),
    ),
    "tree-clinging-like": dict(
        weight=5, nouns=("Woodpecker", "Nuthatch", "Creeper", "Flicker", "Sapsucker"),
        size=_w(small=60, medium=40),
        bill=_w(dagger=75, **{"all-purpose": 25}),
        bill_len=_w(same=50, shorter=45, longer=5),
        tail=_w(pointed_tail=65, rounded_tail=20, squared_tail=15),
        wing=_w(**{"rounded-wings": 60, "pointed-wings": 40}),
        pose=_w(clinging=80, perched=20),
        geo=dict(b=(0.28, 0.32), tilt=(30, 40), head=(0.19, 0.22), neck=(0.04, 0.1),
                 neck_ang=(55, 70), tail_len=(0.4, 0.55), tail_w=(0.09, 0.11), tail_ang=(0, 8),
                 leg=(0.16, 0.2), wing_len=(0.65, 0.75), wing_w=(0.55, 0.65)),
    ),
    "duck-like": dict(
        weight=6, nouns=("Duck", "Teal", "Merganser", "Grebe", "Scaup", "Wigeon", "Eider"),
        size=_w(medium=55, large=45),
        bill=_w(spatulate=85, cone=5, dagger=10),
        bill_len=_w(same=60, shorter=35, longer=5),
        tail=_w(pointed_tail=50, rounded_tail=30, squared_tail=20),
        wing=_w(**{"pointed-wings": 50, "broad-wings": 30, "rounded-wings": 20}),
        pose=_w(swimming=85, ground=15),
        geo=dict(b=(0.26, 0.32), tilt=(-4, 6), head=(0.16, 0.19), neck=(0.12, 0.22),
                 neck_ang=(70, 85), tail_len=(0.18, 0.28), tail_w=(0.07, 0.09),
                 tail_ang=(-25, -10), leg=(0.15, 0.2), wing_len=(0.55, 0.7), wing_w=(0.5, 0.6)),
    ),
    "gull-like": dict(
        weight=6, nouns=("Gull", "Tern", "Kittiwake", "Albatross", "Fulmar", "Jaeger"),
        size=_w(medium=45, large=45, very_large=10),
        bill=_w(hooked_seabird=75, dagger=25),
        bill_len=_w(same=65, shorter=30, longer=5),
        tail=_w(squared_tail=45, rounded_tail=30, forked_tail=25),
        wing=_w(**{"long-wings": 55, "pointed-wings": 35, "tapered-wings": 10}),
        pose=_w(ground=40, swimming=25, flying=35),
        geo=dict(b=(0.26, 0.3), tilt=(0, 12), head=(0.16, 0.19), neck=(0.04, 0.1),
                 neck_ang=(60, 80), tail_len=(0.3, 0.4), tail_w=(0.08, 0.1), tail_ang=(-5, 8),
                 leg=(0.22, 0.3), wing_len=(1.0, 1.2), wing_w=(0.45, 0.55)),
    ),
    "hawk-like": dict(
        weight=3, nouns=("Hawk", "Falcon", "Kite", "Kestrel", "Harrier"),
        size=_w(medium=30, large=60, very_large=10),
        bill=_w(hooked=100),
        bill_len=_w(shorter=90, same=10),
        tail=_w(squared_tail=40, rounded_tail=35, **{"fan-shaped_tail": 25}),
        wing=_w(**{"broad-wings": 45, "rounded-wings": 30, "pointed-wings": 25}),
        pose=_w(perched=80, flying=20),
        geo=dict(b=(0.32, 0.36), tilt=(45, 60), head=(0.18, 0.21), neck=(0.0, 0.04),
                 neck_ang=(60, 80), tail_len=(0.45, 0.6), tail_w=(0.1, 0.13), tail_ang=(0, 10),
                 leg=(0.18, 0.22), wing_len=(0.8, 0.95), wing_w=(0.6, 0.7)),
    ),
    "owl-like": dict(
        weight=1, nouns=("Owl", "Owlet"),
        size=_w(medium=50, large=40, small=10),
        bill=_w(hooked=100),
        bill_len=_w(shorter=100),
        tail=_w(rounded_tail=60, squared_tail=40),
        wing=_w(**{"rounded-wings": 60, "broad-wings": 40}),
        pose=_w(perched=100),
        geo=dict(b=(0.36, 0.4), tilt=(60, 72), head=(0.28, 0.32), neck=(0.0, 0.02),
                 neck_ang=(80, 90), tail_len=(0.3, 0.4), tail_w=(0.1, 0.12), tail_ang=(0, 8),
                 leg=(0.14, 0.18), wing_len=(0.7, 0.8), wing_w=(0.6, 0.7)),
    ),
    "pigeon-like": dict(
        weight=2, nouns=("Dove", "Pigeon"),
        size=_w(medium=70, small=30),
        bill=_w(**{"all-purpose": 80}, cone=20),
        bill_len=_w(shorter=100),
        tail=_w(rounded_tail=35, squared_tail=30, pointed_tail=35),
        wing=_w(**{"pointed-wings": 60, "rounded-wings": 40}),
        pose=_w(ground=55, perched=45),
        geo=dict(b=(0.33, 0.37), tilt=(10, 22), head=(0.15, 0.17), neck=(0.05, 0.1),
                 neck_ang=(55, 70), tail_len=(0.4, 0.52), tail_w=(0.09, 0.11), tail_ang=(0, 12),
                 leg=(0.12, 0.16), wing_len=(0.7, 0.85), wing_w=(0.55, 0.62)),
    ),
    "sandpiper-like": dict(
        weight=3, nouns=("Sandpiper", "Plover", "Dunlin", "Yellowlegs", "Godwit"),
        size=_w(small=55, medium=45),
        bill=_w(needle=35, dagger=40, **{"curved_(up_or_down)": 25}),
        bill_len=_w(longer=55, same=40, shorter=5),
        tail=_w(squared_tail=45, rounded_tail=35, pointed_tail=20),
        wing=_w(**{"pointed-wings": 70, "long-wings": 30}),
        pose=_w(ground=100),
        geo=dict(b=(0.28, 0.32), tilt=(5, 15), head=(0.16, 0.18), neck=(0.05, 0.1),
                 neck_ang=(55, 70), tail_len=(0.25, 0.32), tail_w=(0.08, 0.1), tail_ang=(0, 10),
                 leg=(0.38, 0.5), wing_len=(0.8, 0.9), wing_w=(0.5, 0.55)),
    ),
    "long-legged-like": dict(
        weight=2, nouns=("Heron", "Egret", "Crane", "Bittern", "Ibis"),
        size=_w(large=40, very_large=60),
        bill=_w(dagger=80, **{"curved_(up_or_down)": 20}),
        bill_len=_w(longer=85, same=15),
        tail=_w(squared_tail=50, rounded_tail=50),
        wing=_w(**{"broad-wings": 50, "rounded-wings": 50}),
        pose=_w(ground=100),
        geo=dict(b=(0.26, 0.3), tilt=(15, 30), head=(0.13, 0.15), neck=(0.4, 0.55),
                 neck_ang=(65, 85), tail_len=(0.2, 0.26), tail_w=(0.08, 0.1), tail_ang=(5, 20),
                 leg=(0.7, 0.9), wing_len=(0.8, 0.9), wing_w=(0.55, 0.62)),
    ),
    "upland-ground-like": dict(
        weight=2, nouns=("Quail", "Grouse", "Ptarmigan", "Bobwhite"),
        size=_w(medium=70, small=30),
        bill=_w(cone=50, **{"all-purpose": 50}),
        bill_len=_w(shorter=100),
        tail=_w(rounded_tail=50, **{"fan-shaped_tail": 30}, squared_tail=20),
        wing=_w(**{"rounded-wings": 80, "broad-wings": 20}),
        pose=_w(ground=100),
        geo=dict(b=(0.38, 0.42), tilt=(5, 15), head=(0.16, 0.18), neck=(0.02, 0.06),
                 neck_ang=(50, 65), tail_len=(0.2, 0.28), tail_w=(0.09, 0.11), tail_ang=(-20, 0),
                 leg=(0.12, 0.16), wing_len=(0.6, 0.7), wing_w=(0.6, 0.7)),
    ),
    "chicken-like-marsh": dict(
        weight=2, nouns=("Rail", "Gallinule", "Crake", "Coot"),
        size=_w(medium=65, small=35),
        bill=_w(cone=40, dagger=35, **{"all-purpose": 25}),
        bill_len=_w(shorter=50, same=40, longer=10),
        tail=_w(pointed_tail=40, rounded_tail=35, squared_tail=25),
        wing=_w(**{"rounded-wings": 80, "broad-wings": 20}),
        pose=_w(ground=70, swimming=30),
        geo=dict(b=(0.32, 0.37), tilt=(5, 18), head=(0.15, 0.17), neck=(0.06, 0.12),
                 neck_ang=(55, 70), tail_len=(0.18, 0.25), tail_w=(0.08, 0.1), tail_ang=(-20, -5),
                 leg=(0.3, 0.4), wing_len=(0.6, 0.7), wing_w=(0.55, 0.65)),
    ),
    "upright-perching_water-like": dict(
        weight=2, nouns=("Cormorant", "Shag", "Loon", "Anhinga"),
        size=_w(large=70, very_large=30),
        bill=_w(hooked_seabird=55, dagger=45),
        bill_len=_w(same=60, longer=30, shorter=10),
        tail=_w(rounded_tail=40, **{"fan-shaped_tail": 30}, squared_tail=30),
        wing=_w(**{"broad-wings": 40, "long-wings": 30, "rounded-wings": 30}),
        pose=_w(perched=40, swimming=60),
        geo=dict(b=(0.26, 0.3), tilt=(40, 60), head=(0.14, 0.16), neck=(0.2, 0.3),
                 neck_ang=(75, 90), tail_len=(0.35, 0.45), tail_w=(0.09, 0.11), tail_ang=(0, 10),
                 leg=(0.14, 0.18), wing_len=(0.7, 0.8), wing_w=(0.55, 0.62)),
    ),
}

_SIZE_FULL = {
    "very_small": "very_small_(3_-_5_in)",
    "small": "small_(5_-_9_in)",
    "medium": "medium_(9_-_16_in)",
    "large": "large_(16_-_32_in)",
    "very_large": "very_large_(32_-_72_in)",
}
_BILL_LEN_FULL = {
    "shorter": "shorter_than_head",
    "same": "about_the_same_as_head",
    "longer": "longer_than_head",
}

HEAD_PATTERN_W = _w(plain=34, eyebrow=15, eyering=12, eyeline=10, masked=7, malar=6,
                    striped=6, spotted=3)
HEAD_MARK_COLOUR = {
    "eyebrow": _w(white=50, yellow=20, buff=15, black=5, red=5, orange=5),
    "eyering": _w(white=60, yellow=20, red=5, orange=5, black=5, blue=5),
    "eyeline": _w(black=65, brown=25, grey=10),
    "masked": _w(black=85, brown=10, grey=5),
    "malar": _w(black=55, white=25, brown=10, red=10),
    "striped": _w(black=50, white=40, brown=10),
    "spotted": _w(white=50, black=40, brown=10),
}


def choice_w(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.asarray([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _other(rng: np.random.Generator, weights: dict[str, float], *avoid: str) -> str:
    w = {k: v for k, v in weights.items() if k not in avoid}
    return choice_w(rng, w or weights)


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(lo + (hi - lo) * rng.random())


def make_species(seed: int, class_id: int) -> dict[str, Any]:
    """The prototype of species ``class_id`` (1-based); deterministic in (seed, class_id)."""
    rng = np.random.default_rng([seed, 0, class_id])
    plan_name = choice_w(rng, {k: v["weight"] for k, v in PLANS.items()})
    plan = PLANS[plan_name]
    t: dict[str, Any] = {"shape": plan_name}
    t["size"] = _SIZE_FULL[choice_w(rng, plan["size"])]
    t["bill_shape"] = choice_w(rng, plan["bill"])
    t["bill_length"] = _BILL_LEN_FULL[choice_w(rng, plan["bill_len"])]
    t["tail_shape"] = choice_w(rng, plan["tail"])
    t["wing_shape"] = choice_w(rng, plan["wing"])
    t["geo"] = {k: _u(rng, v) for k, v in plan["geo"].items()}

    # ---- colour scheme -------------------------------------------------------------
    upper = choice_w(rng, UPPER_W)
    under = _other(rng, UNDER_W, upper) if rng.random() < 0.8 else upper
    accent = _other(rng, ACCENT_W, upper, under)
    c: dict[str, str] = {}
    scheme = choice_w(rng, _w(two_tone=40, uniform=14, hooded=16, breasted=16, capped=14))
    for p in ("crown", "forehead", "nape", "back", "wing", "upper_tail"):
        c[p] = upper
    for p in ("throat", "breast", "belly", "under_tail"):
        c[p] = under
    if scheme == "uniform":
        for p in ("throat", "breast", "belly", "under_tail"):
            c[p] = upper
        if rng.random() < 0.5:
            c["crown"] = c["forehead"] = accent
    elif scheme == "hooded":
        for p in ("crown", "forehead", "nape", "throat"):
            c[p] = accent
    elif scheme == "breasted":
        c["breast"] = accent
        c["throat"] = accent if rng.random() < 0.7 else under
    elif scheme == "capped":
        c["crown"] = accent
        c["forehead"] = accent if rng.random() < 0.7 else upper
    if rng.random() < 0.2:
        c["throat"] = _other(rng, ACCENT_W, c["breast"])
    if rng.random() < 0.15:
        c["back"] = _other(rng, UPPER_W, upper)
    if rng.random() < 0.25:
        c["under_tail"] = _other(rng, UNDER_W, under)
    if rng.random() < 0.12:
        c["belly"] = _other(rng, UNDER_W, c["breast"])
    c["bill"] = choice_w(rng, BILL_W)
    if t["bill_shape"] == "spatulate" and rng.random() < 0.5:
        c["bill"] = choice_w(rng, _w(orange=30, yellow=25, grey=20, black=15, pink=10))
    c["leg"] = choice_w(rng, LEG_W)
    c["eye"] = choice_w(rng, EYE_W)
    t["colours"] = c
    t["palette"] = sorted({upper, under, accent})

    # ---- patterns ------------------------------------------------------------------
    wp = choice_w(rng, {"solid": 35, "striped": 30, "spotted": 10, "multi-colored": 25})
    t["wing_pattern"] = wp
    t["wing_pattern_colour"] = _pattern_colour(rng, wp, c["wing"], BAR_W, accent)
    bp = choice_w(rng, {"solid": 58, "striped": 22, "spotted": 12, "multi-colored": 8})
    t["breast_pattern"] = bp
    t["breast_pattern_colour"] = _pattern_colour(rng, bp, c["breast"], STREAK_W, accent)
    if bp in ("striped", "spotted") and rng.random() < 0.7:
        t["belly_pattern"] = bp
        t["belly_pattern_colour"] = t["breast_pattern_colour"]
    else:
        t["belly_pattern"] = choice_w(rng, {"solid": 85, "striped": 8, "spotted": 7})
        t["belly_pattern_colour"] = _pattern_colour(rng, t["belly_pattern"], c["belly"],
                                                    STREAK_W, accent)
    kp = choice_w(rng, {"solid": 60, "striped": 25, "spotted": 8, "multi-colored": 7})
    t["back_pattern"] = kp
    t["back_pattern_colour"] = _pattern_colour(rng, kp, c["back"], STREAK_W, accent)
    tp = choice_w(rng, {"solid": 65, "striped": 10, "spotted": 5, "multi-colored": 20})
    t["tail_pattern"] = tp
    t["tail_pattern_colour"] = _pattern_colour(rng, tp, c["upper_tail"], SPOT_W, accent)

    hp = choice_w(rng, HEAD_PATTERN_W)
    t["head_marking"] = hp  # one of plain/eyebrow/eyering/... (drawn on the head)
    t["head_marking_colour"] = (
        _other(rng, HEAD_MARK_COLOUR[hp], c["crown"], c["nape"]) if hp != "plain" else "none"
    )
    t["crested"] = bool(rng.random() < (0.18 if plan_name in ("perching-like", "upland-ground-like",
                                                              "tree-clinging-like") else 0.05))
    return t


def _pattern_colour(rng, pattern, base, weights, accent) -> str:
    if pattern == "solid":
        return "none"
    if pattern == "multi-colored":
        return accent if accent != base and rng.random() < 0.6 else _other(rng, DARK_W, base)
    return _other(rng, weights, base)


# ---------------------------------------------------------------------------------------
# Individual variation
# ---------------------------------------------------------------------------------------
def make_individual(species: dict[str, Any], rng: np.random.Generator,
                    p: float = RESAMPLE_P) -> dict[str, Any]:
    """A copy of ``species`` with each attribute group resampled with probability ``p``."""
    t = copy.deepcopy(species)
    plan = PLANS[t["shape"]]
    c = t["colours"]
    palette = list(species["palette"])

    def new_colour(weights: dict[str, float], old: str) -> str:
        if rng.random() < 0.6:
            options = [x for x in palette if x != old]
            if options:
                return options[int(rng.integers(len(options)))]
        return _other(rng, weights, old)

    for part in COLOUR_PARTS:
        if rng.random() >= p:
            continue
        if part == "bill":
            c[part] = _other(rng, BILL_W, c[part])
        elif part == "leg":
            c[part] = _other(rng, LEG_W, c[part])
        elif part == "eye":
            c[part] = _other(rng, EYE_W, c[part])
        else:
            c[part] = new_colour(UNDER_W if part in ("throat", "breast", "belly", "under_tail")
                                 else UPPER_W, c[part])
            if part == "crown" and rng.random() < 0.6:
                c["forehead"] = c["crown"]
    if rng.random() < p:
        i = SIZE_ORDER.index(t["size"]) + (1 if rng.random() < 0.5 else -1)
        t["size"] = SIZE_ORDER[min(max(i, 0), len(SIZE_ORDER) - 1)]
    if rng.random() < p:
        t["bill_shape"] = _other(rng, plan["bill"], t["bill_shape"]) if len(plan["bill"]) > 1 \
            else t["bill_shape"]
    if rng.random() < p:
        t["bill_length"] = _BILL_LEN_FULL[choice_w(rng, plan["bill_len"])]
    if rng.random() < p:
        t["tail_shape"] = choice_w(rng, plan["tail"])
    if rng.random() < p:
        t["wing_shape"] = choice_w(rng, plan["wing"])
    for key, w in (("wing_pattern", BAR_W), ("breast_pattern", STREAK_W),
                   ("belly_pattern", STREAK_W), ("back_pattern", STREAK_W),
                   ("tail_pattern", SPOT_W)):
        if rng.random() < p:
            base = c[{"wing_pattern": "wing", "breast_pattern": "breast", "belly_pattern": "belly",
                      "back_pattern": "back", "tail_pattern": "upper_tail"}[key]]
            t[key] = choice_w(rng, {"solid": 50, "striped": 20, "spotted": 15, "multi-colored": 15})
            t[key + "_colour"] = _pattern_colour(rng, t[key], base, w,
                                                 palette[int(rng.integers(len(palette)))])
    if rng.random() < p:
        hp = choice_w(rng, HEAD_PATTERN_W)
        t["head_marking"] = hp
        t["head_marking_colour"] = (
            _other(rng, HEAD_MARK_COLOUR[hp], c["crown"], c["nape"]) if hp != "plain" else "none"
        )
    if rng.random() < p * 0.5:
        t["crested"] = not t["crested"]
    # keep pattern colours distinct from the colour they are drawn on
    for key, part in (("wing_pattern", "wing"), ("breast_pattern", "breast"),
                      ("belly_pattern", "belly"), ("back_pattern", "back"),
                      ("tail_pattern", "upper_tail")):
        if t[key] != "solid" and t[key + "_colour"] == c[part]:
            t[key + "_colour"] = _other(rng, SPOT_W, c[part])
    return t


# ---------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------
def head_patterns(t: dict[str, Any]) -> list[str]:
    """CUB has_head_pattern values shown by the individual."""
    out = []
    if t["head_marking"] != "plain":
        out.append(t["head_marking"])
    if t["crested"]:
        out.append("crested")
    c = t["colours"]
    if c["crown"] != c["nape"] and c["crown"] != c["back"]:
        out.append("capped")
    if not out:
        out.append("plain")
    return out


def primary_colours(t: dict[str, Any]) -> list[str]:
    """The colour(s) covering most of the drawn bird (area-weighted)."""
    c = t["colours"]
    area = {"back": 1.5, "wing": 3.0, "belly": 2.0, "breast": 2.0, "crown": 0.6, "nape": 0.6,
            "throat": 0.5, "upper_tail": 1.2, "forehead": 0.2, "under_tail": 0.3}
    score: dict[str, float] = {}
    for part, a in area.items():
        score[c[part]] = score.get(c[part], 0.0) + a
    best = max(score.values())
    return sorted(k for k, v in score.items() if v >= 0.8 * best)


def attribute_groups(t: dict[str, Any], visible: dict[str, bool] | None = None
                     ) -> dict[str, list[str]]:
    """``{group: [values]}`` of the attributes an individual shows.

    ``visible`` (from the drawing: ``{part: bool}`` with keys crown, forehead, nape, back,
    wing, tail, under_tail, throat, breast, belly, bill, eye, leg; missing keys count as
    visible) switches off groups whose part is not in view, e.g. the legs of a swimming
    or flying bird, the belly under water, a head outside the frame.
    """
    vis = visible or {}
    c = t["colours"]

    def col(part: str, pattern: str | None = None) -> list[str]:
        vals = [c[part]]
        if pattern and t[pattern] != "solid" and t[pattern + "_colour"] != "none":
            vals.append(t[pattern + "_colour"])
        return sorted(set(vals))

    def on(*parts: str) -> bool:
        return any(vis.get(p, True) for p in parts)

    upper = {c[p] for p in ("back", "nape", "wing") if on(p)}
    under = {c[p] for p in ("throat", "breast", "belly") if on(p)}
    g: dict[str, list[str]] = {}

    def add(group: str, values, *parts: str) -> None:
        if values and (not parts or on(*parts)):
            g[group] = sorted(set(values))

    add("has_bill_shape", [t["bill_shape"]], "bill")
    add("has_wing_color", col("wing", "wing_pattern"), "wing")
    add("has_upperparts_color", upper)
    add("has_underparts_color", under)
    add("has_breast_pattern", [t["breast_pattern"]], "breast")
    add("has_back_color", col("back", "back_pattern"), "back")
    add("has_tail_shape", [t["tail_shape"]], "tail")
    add("has_upper_tail_color", col("upper_tail", "tail_pattern"), "tail")
    add("has_head_pattern", head_patterns(t), "crown", "forehead", "eye", "nape")
    add("has_breast_color", col("breast", "breast_pattern"), "breast")
    add("has_throat_color", [c["throat"]], "throat")
    add("has_eye_color", [c["eye"]], "eye")
    add("has_bill_length", [t["bill_length"]], "bill")
    add("has_forehead_color", [c["forehead"]], "forehead")
    add("has_under_tail_color", [c["under_tail"]], "under_tail")
    add("has_nape_color", [c["nape"]], "nape")
    add("has_belly_color", col("belly", "belly_pattern"), "belly")
    add("has_wing_shape", [t["wing_shape"]], "wing")
    add("has_size", [t["size"]])
    add("has_shape", [t["shape"]])
    add("has_back_pattern", [t["back_pattern"]], "back")
    add("has_tail_pattern", [t["tail_pattern"]], "tail")
    add("has_belly_pattern", [t["belly_pattern"]], "belly")
    add("has_primary_color", primary_colours(t))
    add("has_leg_color", [c["leg"]], "leg")
    add("has_bill_color", [c["bill"]], "bill")
    add("has_crown_color", [c["crown"]], "crown")
    add("has_wing_pattern", [t["wing_pattern"]], "wing")
    return g


def present_attributes(t: dict[str, Any], visible: dict[str, bool] | None = None) -> set[int]:
    """1-based CUB attribute ids present (is_present = 1) for the individual as drawn."""
    ids = set()
    for group, values in attribute_groups(t, visible).items():
        for v in values:
            if group == "has_eye_color" and v not in EYE_COLOUR_NAMES:
                continue
            ids.add(attribute_id(f"{group}::{v}"))
    return ids


def attribute_share(species: list[dict[str, Any]]) -> dict[int, float]:
    """Attribute id -> the share of species prototypes that have it (all parts visible)."""
    counts: dict[int, int] = {}
    for t in species:
        for a in present_attributes(t):
            counts[a] = counts.get(a, 0) + 1
    return {a: c / len(species) for a, c in counts.items()}


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------
_COLOUR_WORDS = {
    "red": ("Red", "Crimson", "Scarlet", "Vermilion"),
    "blue": ("Blue", "Azure", "Indigo", "Cerulean"),
    "brown": ("Brown", "Chestnut", "Dusky"),
    "grey": ("Grey", "Slate", "Ashy"),
    "yellow": ("Yellow", "Golden", "Lemon"),
    "olive": ("Olive", "Olivaceous"),
    "green": ("Green", "Emerald"),
    "pink": ("Pink", "Rosy"),
    "orange": ("Orange", "Flame"),
    "black": ("Black", "Sooty"),
    "white": ("White", "Snowy"),
    "rufous": ("Rufous", "Cinnamon"),
    "buff": ("Buff", "Tawny"),
    "purple": ("Purple", "Violet"),
    "iridescent": ("Glossy", "Shining"),
}
_PART_WORDS = {
    "crown": "crowned", "throat": "throated", "breast": "breasted", "belly": "bellied",
    "wing": "winged", "back": "backed", "upper_tail": "tailed", "nape": "naped",
    "bill": "billed", "leg": "legged", "eye": "eyed", "forehead": "fronted",
}
_PREFIXES = ("Western", "Eastern", "Northern", "Southern", "Lesser", "Greater", "Common",
             "Pacific", "Cape", "Mountain", "Island", "Forest", "Desert", "Marsh", "Least",
             "Little", "Great", "Royal", "Elegant", "Plain", "Painted", "Spotted", "Streaked")


def species_base_name(t: dict[str, Any], rng: np.random.Generator) -> str:
    plan = PLANS[t["shape"]]
    noun = plan["nouns"][int(rng.integers(len(plan["nouns"])))]
    c = t["colours"]
    if rng.random() < 0.35:
        colour = primary_colours(t)[0]
        words = _COLOUR_WORDS[colour]
        return f"{words[int(rng.integers(len(words)))]}_{noun}"
    # a distinctive part: prefer one whose colour differs from the body
    prim = set(primary_colours(t))
    parts = [p for p in _PART_WORDS if c.get(p) not in prim] or list(_PART_WORDS)
    part = parts[int(rng.integers(len(parts)))]
    colour_word = _COLOUR_WORDS[c[part]][0]
    return f"{colour_word}_{_PART_WORDS[part]}_{noun}"


def make_all_species(seed: int, n_classes: int) -> list[dict[str, Any]]:
    """Prototypes of species 1..n_classes, each with a unique ``class_name``
    like ``"001.Crimson_Tanager"``."""
    out = []
    used: set[str] = set()
    for cid in range(1, n_classes + 1):
        t = make_species(seed, cid)
        rng = np.random.default_rng([seed, 3, cid])
        name = species_base_name(t, rng)
        k = 0
        while name in used:
            prefix = _PREFIXES[int(rng.integers(len(_PREFIXES)))]
            cand = f"{prefix}_{name}" if k < 20 else f"{prefix}_{name}_{k}"
            if cand not in used:
                name = cand
                break
            k += 1
        used.add(name)
        t["species_name"] = name
        t["class_id"] = cid
        t["class_name"] = f"{cid:03d}.{name}"
        out.append(t)
    return out


__all__ = [
    "COLOUR_NAMES",
    "COLOUR_PARTS",
    "PLANS",
    "RESAMPLE_P",
    "attribute_groups",
    "attribute_share",
    "make_all_species",
    "make_individual",
    "make_species",
    "present_attributes",
    "primary_colours",
]
