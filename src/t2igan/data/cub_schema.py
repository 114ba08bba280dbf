"""Constants of the CUB-200-2011 on-disk format (parts, attributes, colour values).

The lists reproduce the order of CUB's ``parts/parts.txt`` and
``attributes/attributes.txt`` so that ids (1-based, as in CUB) can be computed from
positions: ``PART_NAMES[i]`` has part id ``i + 1`` and ``ATTRIBUTE_NAMES[i]`` has
attribute id ``i + 1``.
"""
from __future__ import annotations

from functools import lru_cache

# parts/parts.txt: "<part_id> <part name>", ids 1..15
PART_NAMES: tuple[str, ...] = (
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left eye",
    "left leg",
    "left wing",
    "nape",
    "right eye",
    "right leg",
    "right wing",
    "tail",
    "throat",
)

# The 15 colour values CUB uses for every "has_*_color" group, in CUB's order.
COLOUR_NAMES: tuple[str, ...] = (
    "blue",
    "brown",
    "iridescent",
    "purple",
    "rufous",
    "grey",
    "yellow",
    "olive",
    "green",
    "pink",
    "orange",
    "black",
    "white",
    "red",
    "buff",
)

# has_eye_color has 14 values: the colour list without "iridescent".
EYE_COLOUR_NAMES: tuple[str, ...] = tuple(c for c in COLOUR_NAMES if c != "iridescent")

BILL_SHAPES: tuple[str, ...] = (
    "curved_(up_or_down)",
    "dagger",
    "hooked",
    "needle",
    "hooked_seabird",
    "spatulate",
    "all-purpose",
    "cone",
    "specialized",
)
PATTERNS: tuple[str, ...] = ("solid", "spotted", "striped", "multi-colored")
TAIL_SHAPES: tuple[str, ...] = (
    "forked_tail",
    "rounded_tail",
    "notched_tail",
    "fan-shaped_tail",
    "pointed_tail",
    "squared_tail",
)
HEAD_PATTERNS: tuple[str, ...] = (
    "spotted",
    "malar",
    "crested",
    "masked",
    "unique_pattern",
    "eyebrow",
    "eyering",
    "plain",
    "eyeline",
    "striped",
    "capped",
)
BILL_LENGTHS: tuple[str, ...] = (
    "about_the_same_as_head",
    "longer_than_head",
    "shorter_than_head",
)
WING_SHAPES: tuple[str, ...] = (
    "rounded-wings",
    "pointed-wings",
    "broad-wings",
    "tapered-wings",
    "long-wings",
)
SIZES: tuple[str, ...] = (
    "large_(16_-_32_in)",
    "small_(5_-_9_in)",
    "very_large_(32_-_72_in)",
    "medium_(9_-_16_in)",
    "very_small_(3_-_5_in)",
)
SHAPES: tuple[str, ...] = (
    "upright-perching_water-like",
    "chicken-like-marsh",
    "long-legged-like",
    "duck-like",
    "owl-like",
    "gull-like",
    "hummingbird-like",
    "pigeon-like",
    "tree-clinging-like",
    "hawk-like",
    "sandpiper-like",
    "upland-ground-like",
    "swallow-like",
    "perching-like",
)

# The 28 attribute groups in CUB's order with their values.
ATTRIBUTE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("has_bill_shape", BILL_SHAPES),
    ("has_wing_color", COLOUR_NAMES),
    ("has_upperparts_color", COLOUR_NAMES),
    ("has_underparts_color", COLOUR_NAMES),
    ("has_breast_pattern", PATTERNS),
    ("has_back_color", COLOUR_NAMES),
    ("has_tail_shape", TAIL_SHAPES),
    ("has_upper_tail_color", COLOUR_NAMES),
    ("has_head_pattern", HEAD_PATTERNS),
    ("has_breast_color", COLOUR_NAMES),
    ("has_throat_color", COLOUR_NAMES),
    ("has_eye_color", EYE_COLOUR_NAMES),
    ("has_bill_length", BILL_LENGTHS),
    ("has_forehead_color", COLOUR_NAMES),
    ("has_under_tail_color", COLOUR_NAMES),
    ("has_nape_color", COLOUR_NAMES),
    ("has_belly_color", COLOUR_NAMES),
    ("has_wing_shape", WING_SHAPES),
    ("has_size", SIZES),
    ("has_shape", SHAPES),
    ("has_back_pattern", PATTERNS),
    ("has_tail_pattern", PATTERNS),
    ("has_belly_pattern", PATTERNS),
    ("has_primary_color", COLOUR_NAMES),
    ("has_leg_color", COLOUR_NAMES),
    ("has_bill_color", COLOUR_NAMES),
    ("has_crown_color", COLOUR_NAMES),
    ("has_wing_pattern", PATTERNS),
)

# attributes/attributes.txt: "<attribute_id> <attribute_name>", ids 1..312
ATTRIBUTE_NAMES: tuple[str, ...] = tuple(
    f"{group}::{value}" for group, values in ATTRIBUTE_GROUPS for value in values
)

N_PARTS = len(PART_NAMES)
N_ATTRIBUTES = len(ATTRIBUTE_NAMES)

# CUB's certainties (attributes/certainties.txt): 1 not visible, 2 guessing,
# 3 probably, 4 definitely.
CERTAINTY_NAMES: tuple[str, ...] = ("not visible", "guessing", "probably", "definitely")

assert N_PARTS == 15
assert N_ATTRIBUTES == 312, N_ATTRIBUTES
assert len(ATTRIBUTE_GROUPS) == 28


@lru_cache(maxsize=None)
def _attribute_index() -> dict[str, int]:
    return {name: i + 1 for i, name in enumerate(ATTRIBUTE_NAMES)}


def attribute_id(name: str) -> int:
    """1-based CUB attribute id of ``name`` (e.g. ``"has_bill_shape::cone"`` -> 8)."""
    try:
        return _attribute_index()[name]
    except KeyError:
        raise KeyError(f"unknown CUB attribute name: {name!r}") from None


def part_id(name: str) -> int:
    """1-based CUB part id of ``name`` (e.g. ``"left eye"`` -> 7)."""
    try:
        return PART_NAMES.index(name) + 1
    except ValueError:
        raise KeyError(f"unknown CUB part name: {name!r}") from None


def group_of(attr_id: int) -> str:
    """Group name (e.g. ``"has_bill_shape"``) of a 1-based attribute id."""
    return ATTRIBUTE_NAMES[attr_id - 1].split("::", 1)[0]
