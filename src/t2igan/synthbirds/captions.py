"""CUB-style captions from a small grammar.

Each caption names a random subset of the attributes an image really shows (the
attribute groups returned by :func:`species.attribute_groups` after visibility), with
synonyms (bird / it / this bird; bill / beak; breast / chest; belly / abdomen / stomach;
tail / retrices; crown / top of its head; grey / gray ...) and several sentence
structures.  :func:`make_captions` returns the captions and, for each, the CUB attribute
ids it names.

Which facts a caption states: each fact has a salience weight (big parts and striking
patterns are mentioned more), and, given the share of species that have each attribute
(:func:`species.attribute_share`), rare attributes are favoured over common ones, as
annotators name what sets a bird apart ("a red crown") more than what every bird has
("black eyes").  Without that, many captions fit birds of other species equally well: on
the default data, the R-precision of an oracle that knows every true attribute
(``r_precision_oracle`` in reports/damsm/metrics.json) rose from 50 % to 70 % with it, at
the same caption length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from t2igan.data.cub_schema import attribute_id

MIN_WORDS, MAX_WORDS = 8, 25
# how many facts a caption states: 2, 3, 4 or 5 with probabilities .18 .37 .30 .15
_K_CDF = np.cumsum([0.18, 0.37, 0.30])
MIN_SHARE = 0.02  # an attribute of no prototype (an individual's own variation) counts as this rare


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def colour_word(c: str, rng: np.random.Generator) -> str:
    if c == "grey":
        return "grey" if rng.random() < 0.5 else "gray"
    if c == "rufous":
        return _pick(rng, ("rufous", "rufous", "rust colored", "rusty"))
    if c == "olive":
        return _pick(rng, ("olive", "olive", "olive green"))
    if c == "iridescent":
        return _pick(rng, ("iridescent", "iridescent", "glossy iridescent"))
    if c == "buff":
        return _pick(rng, ("buff", "buff", "buff colored"))
    return c


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


# part -> (singular nouns, plural nouns); a noun phrase uses one of them
PART_NOUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crown": (("crown", "crown", "crown"), ()),
    "forehead": (("forehead",), ()),
    "nape": (("nape", "nape"), ()),
    "back": (("back",), ()),
    "wing": ((), ("wings", "wings", "wing feathers", "secondaries")),
    "upper_tail": (("tail", "tail"), ("retrices", "tail feathers")),
    "throat": (("throat",), ()),
    "breast": (("breast", "chest"), ()),
    "belly": (("belly", "abdomen", "stomach"), ()),
    "bill": (("bill", "beak"), ()),
    "leg": (("tarsus",), ("legs", "legs", "feet")),
    "eye": (("eye",), ("eyes", "eyes")),
}
# for parts with a paraphrase (no article): "<colour> on the top of its head"
PART_PARAPHRASE = {
    "crown": "on the top of its head",
    "nape": "on the back of its neck",
}

BILL_SHAPE_WORDS = {
    "cone": ("cone shaped", "cone-shaped", "conical"),
    "dagger": ("dagger shaped", "dagger-like", "straight pointed"),
    "hooked": ("hooked", "curved hooked", "sharply hooked"),
    "hooked_seabird": ("hooked", "hook-tipped", "seabird-like hooked"),
    "needle": ("needle like", "needle-shaped", "thin pointed"),
    "curved_(up_or_down)": ("curved", "downward curved", "curved"),
    "spatulate": ("flat", "wide flat", "spatulate"),
    "all-purpose": ("all-purpose", "all purpose", "multi-purpose"),
    "specialized": ("specialized", "unusual"),
}
BILL_LENGTH_ADJ = {
    "shorter_than_head": ("short", "short", "small", "stubby"),
    "about_the_same_as_head": ("medium length", "medium-length", "medium sized"),
    "longer_than_head": ("long", "long", "very long", "lengthy"),
}
BILL_LENGTH_PRED = {
    "shorter_than_head": "shorter than its head",
    "about_the_same_as_head": "about as long as its head",
    "longer_than_head": "longer than its head",
}
SIZE_WORDS = {
    "very_small_(3_-_5_in)": ("very small", "tiny", "very small"),
    "small_(5_-_9_in)": ("small", "small", "little"),
    "medium_(9_-_16_in)": ("medium sized", "medium-sized", "mid-sized"),
    "large_(16_-_32_in)": ("large", "large", "big"),
    "very_large_(32_-_72_in)": ("very large", "huge", "very large"),
}
TAIL_SHAPE_WORDS = {
    "forked_tail": ("forked",),
    "rounded_tail": ("rounded", "round"),
    "notched_tail": ("notched",),
    "fan-shaped_tail": ("fan-shaped", "fanned", "fan shaped"),
    "pointed_tail": ("pointed",),
    "squared_tail": ("square", "squared", "square-ended"),
}
WING_SHAPE_WORDS = {
    "rounded-wings": ("rounded wings",),
    "pointed-wings": ("pointed wings",),
    "broad-wings": ("broad wings",),
    "tapered-wings": ("tapered wings",),
    "long-wings": ("long wings", "long wings"),
}


@dataclass
class Fact:
    slot: str  # what it talks about; facts of one slot are realised together
    kind: str
    value: str = ""
    colour: str = ""
    attrs: list[int] = field(default_factory=list)  # named whenever the fact is stated
    weight: float = 1.0
    colour_attr: int | None = None  # named only when the pattern colour is put in words


def _aid(group: str, value: str) -> int:
    return attribute_id(f"{group}::{value}")


COLOUR_GROUP = {
    "crown": "has_crown_color", "forehead": "has_forehead_color", "nape": "has_nape_color",
    "back": "has_back_color", "wing": "has_wing_color", "upper_tail": "has_upper_tail_color",
    "throat": "has_throat_color", "breast": "has_breast_color", "belly": "has_belly_color",
    "bill": "has_bill_color", "leg": "has_leg_color", "eye": "has_eye_color",
}
COLOUR_WEIGHT = {
    "crown": 1.4, "forehead": 0.4, "nape": 0.6, "back": 0.9, "wing": 1.6, "upper_tail": 0.8,
    "throat": 1.0, "breast": 1.6, "belly": 1.4, "bill": 0.9, "leg": 0.5, "eye": 0.5,
}


def candidate_facts(t: dict[str, Any], groups: dict[str, list[str]]) -> list[Fact]:
    """All facts a caption may state about individual ``t`` (only true, visible ones)."""
    c = t["colours"]
    facts: list[Fact] = []
    for part, group in COLOUR_GROUP.items():
        if group in groups and c[part] in groups[group]:
            slot = {"bill": "bill", "upper_tail": "tail", "wing": "wing"}.get(part, "c:" + part)
            facts.append(Fact(slot, "colour", part, c[part], [_aid(group, c[part])],
                              COLOUR_WEIGHT[part]))
    if "has_bill_shape" in groups:
        facts.append(Fact("bill", "bill_shape", t["bill_shape"],
                          attrs=[_aid("has_bill_shape", t["bill_shape"])], weight=1.3))
    if "has_bill_length" in groups:
        facts.append(Fact("bill", "bill_length", t["bill_length"],
                          attrs=[_aid("has_bill_length", t["bill_length"])], weight=1.1))
    if "has_size" in groups:
        facts.append(Fact("size", "size", t["size"], attrs=[_aid("has_size", t["size"])],
                          weight=1.0))
    prim = groups.get("has_primary_color", [])
    if prim and len(prim) <= 2:
        facts.append(Fact("primary", "primary", " ".join(prim),
                          attrs=[_aid("has_primary_color", p) for p in prim], weight=0.9))
    if "has_wing_pattern" in groups and t["wing_pattern"] != "solid":
        wp, pc = t["wing_pattern"], t["wing_pattern_colour"]
        ca = _aid("has_wing_color", pc) if pc != "none" and pc in groups.get(
            "has_wing_color", []) else None
        facts.append(Fact("wingpat", "wing_pattern", wp, pc if ca else "",
                          [_aid("has_wing_pattern", wp)], 1.6 if wp == "striped" else 0.8, ca))
    if "has_wing_shape" in groups:
        facts.append(Fact("wingshape", "wing_shape", t["wing_shape"],
                          attrs=[_aid("has_wing_shape", t["wing_shape"])], weight=0.3))
    for part in ("breast", "belly", "back"):
        group = f"has_{part}_pattern"
        pat = t[f"{part}_pattern"]
        if group in groups and pat != "solid":
            pc = t[f"{part}_pattern_colour"]
            ca = _aid(f"has_{part}_color", pc) if pc != "none" and pc in groups.get(
                f"has_{part}_color", []) else None
            facts.append(Fact(f"pat:{part}", "pattern", part + "|" + pat, pc if ca else "",
                              [_aid(group, pat)], {"breast": 1.1, "belly": 0.6, "back": 0.5}[part],
                              ca))
    if "has_tail_shape" in groups:
        facts.append(Fact("tail", "tail_shape", t["tail_shape"],
                          attrs=[_aid("has_tail_shape", t["tail_shape"])], weight=0.7))
    if "has_tail_pattern" in groups and t["tail_pattern"] in ("striped", "multi-colored",
                                                                 "spotted"):
        pc = t["tail_pattern_colour"]
        ca = _aid("has_upper_tail_color", pc) if pc != "none" and pc in groups.get(
            "has_upper_tail_color", []) else None
        facts.append(Fact("tailpat", "tail_pattern", t["tail_pattern"], pc if ca else "",
                          [_aid("has_tail_pattern", t["tail_pattern"])], 0.4, ca))
    hps = groups.get("has_head_pattern", [])
    for hp in hps:
        if hp == "plain":
            continue
        colour = t["head_marking_colour"] if hp == t["head_marking"] else ""
        attrs = [_aid("has_head_pattern", hp)]
        if hp == "capped":
            if "has_crown_color" not in groups:
                continue
            colour = c["crown"]
            attrs.append(_aid("has_crown_color", colour))
        facts.append(Fact("head:" + hp, "head", hp, colour, attrs, 0.9))
    return facts


# ---------------------------------------------------------------------------------------
# Realisation
# ---------------------------------------------------------------------------------------
class Phrase:
    """One thing said about the bird, as a noun phrase and as a clause."""

    def __init__(self, np_: str, clause: str, plural: bool = False):
        self.np = np_
        self.clause = clause
        self.plural = plural
        self.attrs: set[int] = set()

    def named(self, *facts: Fact, colour_named: bool = False) -> "Phrase":
        for f in facts:
            self.attrs.update(f.attrs)
            if colour_named and f.colour_attr is not None:
                self.attrs.add(f.colour_attr)
        return self


def _part_noun(part: str, rng) -> tuple[str, bool]:
    sing, plur = PART_NOUNS[part]
    opts = [(s, False) for s in sing] + [(p, True) for p in plur]
    return opts[int(rng.integers(len(opts)))]


def _colour_phrase(facts: list[Fact], rng) -> Phrase:
    """Colour of one or two parts (facts of one colour): "a white breast and belly"."""
    parts = [f.value for f in facts]
    colour = facts[0].colour
    cw = colour_word(colour, rng)
    if colour in ("red", "yellow", "blue", "orange") and rng.random() < 0.15:
        cw = ("bright " if rng.random() < 0.7 else "vivid ") + cw
    if len(parts) == 1 and parts[0] in PART_PARAPHRASE and rng.random() < 0.3:
        para = PART_PARAPHRASE[parts[0]]
        return Phrase(f"{cw} {para}", f"it is {cw} {para}").named(*facts)
    nouns = [_part_noun(p, rng) for p in parts]
    plural = len(nouns) > 1 or nouns[0][1]
    joined = " and ".join(n for n, _ in nouns)
    np_ = f"{cw} {joined}" if plural else with_article(f"{cw} {joined}")
    verb = "are" if plural else "is"
    own = "its" if rng.random() < 0.6 else "the"
    return Phrase(np_, f"{own} {joined} {verb} {cw}", plural).named(*facts)


def _bill_phrase(facts: list[Fact], rng) -> Phrase:
    shape = next((f.value for f in facts if f.kind == "bill_shape"), None)
    length = next((f.value for f in facts if f.kind == "bill_length"), None)
    colour = next((f.colour for f in facts if f.kind == "colour"), None)
    noun = "bill" if rng.random() < 0.5 else "beak"
    shape_w = _pick(rng, BILL_SHAPE_WORDS[shape]) if shape else ""
    cw = colour_word(colour, rng) if colour else ""
    if length and rng.random() < 0.25:
        # "a black cone shaped bill that is shorter than its head"
        adj = " ".join(w for w in (cw, shape_w) if w)
        head = with_article(f"{adj} {noun}" if adj else noun)
        np_ = f"{head} that is {BILL_LENGTH_PRED[length]}"
        clause = f"its {adj + ' ' if adj else ''}{noun} is {BILL_LENGTH_PRED[length]}"
        return Phrase(np_, clause).named(*facts)
    lw = _pick(rng, BILL_LENGTH_ADJ[length]) if length else ""
    adj = " ".join(w for w in (lw, cw, shape_w) if w)
    np_ = with_article(f"{adj} {noun}")
    preds = [w for w in (lw, shape_w) if w]
    if cw and preds:
        clause = f"its {noun} is {cw}, {' and '.join(preds)}"
    elif preds:
        clause = f"the {noun} is {' and '.join(preds)}"
    else:
        clause = f"its {noun} is {cw}"
    return Phrase(np_, clause).named(*facts)


def _tail_phrase(facts: list[Fact], rng) -> Phrase:
    shape = next((f.value for f in facts if f.kind == "tail_shape"), None)
    colour_facts = [f for f in facts if f.kind == "colour"]
    if not shape:
        return _colour_phrase(colour_facts, rng)
    cw = colour_word(colour_facts[0].colour, rng) if colour_facts else ""
    sw = _pick(rng, TAIL_SHAPE_WORDS[shape])
    noun = "tail" if rng.random() < 0.7 else "tail feathers"
    adj = " ".join(w for w in (cw, sw) if w)
    plural = noun != "tail"
    np_ = f"{adj} {noun}" if plural else with_article(f"{adj} {noun}")
    clause = f"its {noun} {'are' if plural else 'is'} {sw}" + (f" and {cw}" if cw else "")
    return Phrase(np_, clause, plural).named(*facts)


def _wing_phrase(facts: list[Fact], rng) -> Phrase:
    colour_facts = [f for f in facts if f.kind == "colour"]
    pat = next((f for f in facts if f.kind == "wing_pattern"), None)
    if pat is None:
        return _colour_phrase(colour_facts, rng)
    cw = colour_word(colour_facts[0].colour, rng) if colour_facts else ""
    pcw = colour_word(pat.colour, rng) if pat.colour and rng.random() < 0.8 else ""
    named = bool(pcw)
    if pat.value == "striped":
        bars = _pick(rng, ("wing bars", "wingbars", "wing bars", "bars on its wings"))
        if cw:
            core = f"{pcw} bars" if bars == "bars on its wings" else f"{pcw} {bars}"
            core = core.strip()
            p = Phrase(f"{cw} wings with {core}", f"its wings are {cw} with {core}", True)
        else:
            core = f"{pcw} {bars}".strip()
            p = Phrase(core, f"it has {core}", True)
    elif pat.value == "spotted":
        spots = f"{pcw} spots".strip()
        if cw:
            p = Phrase(f"{cw} wings with {spots}", f"its wings are {cw} with {spots}", True)
        elif pcw:
            p = Phrase(f"{spots} on its wings", f"it has {spots} on its wings", True)
        else:
            p = Phrase("spotted wings", "its wings are spotted", True)
    else:  # multi-colored
        if cw and pcw:
            p = Phrase(f"{cw} and {pcw} wings", f"its wings are {cw} and {pcw}", True)
        elif cw:
            p = Phrase(f"multi-colored {cw} wings", f"its wings are multi-colored with {cw}", True)
        else:
            p = Phrase("multi-colored wings", "its wings are multi-colored", True)
    return p.named(*facts, colour_named=named)


def _pattern_phrase(f: Fact, rng) -> Phrase:
    part, pat = f.value.split("|")
    noun, _ = _part_noun(part, rng)
    pcw = colour_word(f.colour, rng) if f.colour and rng.random() < 0.6 else ""
    if pat == "striped":
        if pcw:
            s = _pick(rng, ("streaks", "stripes"))
            p = Phrase(f"{pcw} {s} on its {noun}", f"its {noun} has {pcw} {s}", True)
        else:
            adj = _pick(rng, ("streaked", "striped"))
            p = Phrase(with_article(f"{adj} {noun}"), f"its {noun} is {adj}")
    elif pat == "spotted":
        if pcw:
            p = Phrase(f"{pcw} spots on its {noun}", f"its {noun} has {pcw} spots", True)
        else:
            p = Phrase(with_article(f"spotted {noun}"), f"its {noun} is spotted")
    else:
        pcw = ""
        p = Phrase(with_article(f"multi-colored {noun}"), f"its {noun} is multi-colored")
    return p.named(f, colour_named=bool(pcw))


def _tail_pattern_phrase(f: Fact, rng) -> Phrase:
    cw = colour_word(f.colour, rng) if f.colour else ""
    if f.value == "striped":
        w = _pick(rng, ("a banded tail", "a striped tail"))
        cw = ""
    elif f.value == "spotted":
        w = "a spotted tail"
        cw = ""
    else:
        w = with_article(f"{cw} tipped tail") if cw else "a multi-colored tail"
    return Phrase(w, f"it has {w}").named(f, colour_named=bool(cw))


def _head_phrase(f: Fact, rng) -> Phrase:
    hp = f.value
    cw = colour_word(f.colour, rng) if f.colour else ""
    forms = {
        "eyebrow": ("eyebrow", "superciliary", "stripe above its eye"),
        "eyering": ("eyering", "eye ring", "ring around its eye"),
        "eyeline": ("eyeline", "stripe through its eye", "eye stripe"),
        "masked": ("mask", "face mask", "mask around its eyes"),
        "malar": ("malar stripe", "moustache stripe", "malar"),
        "capped": ("cap", "cap on its head"),
    }
    if hp == "crested":
        w = _pick(rng, ("a crest", "a crested head", "a pointed crest", "a small crest"))
        return Phrase(w, "it has " + w.replace("a crested head", "a crest")).named(f)
    if hp == "striped":
        w = _pick(rng, ("a striped crown", "stripes on its head", "a striped head"))
        return Phrase(w, f"it has {w}", w.startswith("stripes")).named(f)
    if hp == "spotted":
        w = _pick(rng, ("a spotted head", "spots on its head"))
        return Phrase(w, f"it has {w}", w.startswith("spots")).named(f)
    noun = _pick(rng, forms[hp])
    np_ = with_article(f"{cw} {noun}" if cw else noun)
    return Phrase(np_, f"it has {np_}").named(f)


def _join(items: list[str], rng) -> str:
    if len(items) == 1:
        return items[0]
    comma = "," if (len(items) > 2 and rng.random() < 0.5) else ""
    return ", ".join(items[:-1]) + f"{comma} and " + items[-1]


def realise(facts: list[Fact], rng: np.random.Generator) -> tuple[str, list[int]]:
    """One caption stating ``facts``, and the attribute ids it names."""
    by_slot: dict[str, list[Fact]] = {}
    for f in facts:
        by_slot.setdefault(f.slot, []).append(f)
    size = by_slot.pop("size", [None])[0]
    prim = by_slot.pop("primary", [None])[0]
    named: set[int] = set()
    phrases: list[Phrase] = []
    # colour facts on body parts; merge parts of one colour ("a white breast and belly")
    by_colour: dict[str, list[Fact]] = {}
    for slot in list(by_slot):
        if slot.startswith("c:"):
            f = by_slot.pop(slot)[0]
            by_colour.setdefault(f.colour, []).append(f)
    for fs in by_colour.values():
        if len(fs) > 1 and rng.random() < 0.7:
            phrases.append(_colour_phrase(fs[:2], rng))
            fs = fs[2:]
        for f in fs:
            phrases.append(_colour_phrase([f], rng))
    for slot, fs in by_slot.items():
        if slot == "bill":
            phrases.append(_bill_phrase(fs, rng))
        elif slot == "tail":
            phrases.append(_tail_phrase(fs, rng))
        elif slot == "wing":
            phrases.append(_wing_phrase(fs + by_slot.get("wingpat", []), rng))
        elif slot == "wingpat":
            if "wing" not in by_slot:
                phrases.append(_wing_phrase(fs, rng))
        elif slot == "wingshape":
            w = _pick(rng, WING_SHAPE_WORDS[fs[0].value])
            phrases.append(Phrase(w, f"its wings are {w.split()[0]}", True).named(fs[0]))
        elif slot == "tailpat":
            phrases.append(_tail_pattern_phrase(fs[0], rng))
        elif slot.startswith("pat:"):
            phrases.append(_pattern_phrase(fs[0], rng))
        elif slot.startswith("head:"):
            phrases.append(_head_phrase(fs[0], rng))
    order = rng.permutation(len(phrases))
    phrases = [phrases[i] for i in order]
    for p in phrases:
        named |= p.attrs

    size_w = _pick(rng, SIZE_WORDS[size.value]) if size else ""
    prim_w = ""
    if size:
        named.update(size.attrs)
    if prim:
        prim_w = " and ".join(colour_word(c, rng) for c in prim.value.split())
        named.update(prim.attrs)
    bird = "bird"
    nps = [p.np for p in phrases]
    clauses = [p.clause for p in phrases]
    adjs = " ".join(w for w in (size_w, prim_w) if w)
    r = rng.random()
    if not phrases:
        text = f"this is {with_article(adjs)} {bird}" if adjs else "this is a bird"
    elif prim and not size and r < 0.35:
        lead = _pick(rng, ("this bird is", "the bird is", "this is a", "a"))
        mostly = _pick(rng, ("mostly ", "mostly ", "primarily ", "predominantly ", ""))
        if lead == "a":
            text = f"{with_article(prim_w)} {bird} with {_join(nps, rng)}"
        elif lead == "this is a":
            text = f"this is {with_article(prim_w)} {bird} with {_join(nps, rng)}"
        else:
            text = f"{lead} {mostly}{prim_w} with {_join(nps, rng)}"
    elif r < 0.45:
        if adjs:
            subj = _pick(rng, (f"this {adjs} {bird} has", f"the {adjs} {bird} has",
                               f"this is {with_article(adjs)} {bird} with",
                               f"{with_article(adjs)} {bird} with",
                               f"{with_article(adjs)} {bird} that has"))
        else:
            subj = _pick(rng, ("this bird has", "the bird has", "this particular bird has",
                               "this is a bird with", "a bird with", "bird with",
                               "this bird features", "this bird sports", "this bird has"))
        text = f"{subj} {_join(nps, rng)}"
    elif r < 0.7 and len(phrases) >= 2:
        k = int(rng.integers(1, len(phrases)))
        subj = f"this {adjs} {bird}" if adjs else _pick(rng, ("this bird", "the bird"))
        first = f"{subj} has {_join(nps[:k], rng)}"
        rest = clauses[k:]
        tail = _join(rest, rng) if rng.random() < 0.6 else ", ".join(rest)
        text = f"{first}, and {tail}" if rng.random() < 0.5 else f"{first}; {tail}"
    elif r < 0.85:
        if adjs:
            lead = _pick(rng, (f"this {bird} is {adjs}, ", f"this is {with_article(adjs)} {bird}, ",
                               f"{with_article(adjs)} {bird}; "))
        else:
            lead = ""
        cl = [c.replace("its ", "the ", 1) if rng.random() < 0.3 else c for c in clauses]
        body = _join(cl, rng)
        if not lead and body.startswith("its "):
            body = "this bird's " + body[4:]
        text = f"{lead}{body}"
    else:
        # NP list first, subject last: "a red crown and white belly on this small bird"
        tail_subj = f"this {adjs} {bird}" if adjs else _pick(rng, ("this bird", "the bird"))
        if rng.random() < 0.5:
            text = f"{_join(nps, rng)} on {tail_subj}"
        else:
            text = f"{_join(nps, rng)} can be seen on {tail_subj}"
    return text, sorted(named)


def _finish(text: str, rng) -> str:
    text = " ".join(text.split())
    if rng.random() < 0.85:
        text += "."
    return text


def word_count(text: str) -> int:
    return len(text.replace(",", " ").replace(";", " ").replace(".", " ").split())


def fact_weights(facts: list[Fact], share: dict[int, float] | None) -> np.ndarray:
    """Salience weight of each fact, divided by the share of species having what it names."""
    w = np.asarray([f.weight for f in facts], dtype=float)
    if share is not None:
        common = [np.mean([share.get(a, 0.0) for a in f.attrs]) if f.attrs else 1.0 for f in facts]
        w /= np.maximum(common, MIN_SHARE)
    return w


def make_captions(t: dict[str, Any], groups: dict[str, list[str]], rng: np.random.Generator,
                  n: int = 10, share: dict[int, float] | None = None) -> list[tuple[str, list[int]]]:
    """``n`` captions, each with the sorted CUB attribute ids it names.

    ``share``: attribute id -> share of species that have it (rare ones are named more often).
    """
    facts = candidate_facts(t, groups)
    inv_w = 1.0 / fact_weights(facts, share)
    out: list[tuple[str, list[int]]] = []
    for _ in range(n):
        best = None
        k = 2 + int(np.searchsorted(_K_CDF, rng.random(), side="right"))
        for _attempt in range(40):
            k = max(1, min(k, len(facts)))
            # weighted sampling without replacement (Efraimidis & Spirakis)
            keys = rng.random(len(facts)) ** inv_w
            idx = np.argpartition(-keys, k - 1)[:k] if k < len(facts) else np.arange(len(facts))
            chosen = [facts[i] for i in sorted(idx)]
            text, attrs = realise(chosen, rng)
            text = _finish(text, rng)
            wc = word_count(text)
            if best is None or abs(wc - 15) < abs(word_count(best[0]) - 15):
                best = (text, attrs)
            if MIN_WORDS <= wc <= MAX_WORDS:
                best = (text, attrs)
                break
            k += 1 if wc < MIN_WORDS else -1
        assert best is not None
        text, attrs = best
        for pad in ("in this picture, ", "as you can see, ", "we can see that "):
            if word_count(text) >= MIN_WORDS:
                break
            text = pad + text  # names no attribute
        out.append((text, attrs))
    return out
