"""Tests of the procedural "synthetic birds" data set (CUB-200-2011 on-disk format)."""
from __future__ import annotations

import filecmp
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from t2igan.data import cub_schema
from t2igan.data.cub_schema import ATTRIBUTE_NAMES, COLOUR_NAMES, PART_NAMES, attribute_id
from t2igan.synthbirds import captions, draw, generate, species

N_IMAGES, N_CLASSES = 40, 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "birds"
    stats = generate(out, n_images=N_IMAGES, n_classes=N_CLASSES, seed=0, workers=1,
                     progress=False)
    return out, stats


def _lines(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    return [ln.split(" ") for ln in text.splitlines()]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------
# schema
# ------------------------------------------------------------------------------------------
def test_schema_constants():
    assert len(PART_NAMES) == 15 and PART_NAMES[6] == "left eye" and PART_NAMES[14] == "throat"
    assert len(COLOUR_NAMES) == 15 and COLOUR_NAMES[0] == "blue" and COLOUR_NAMES[-1] == "buff"
    assert len(ATTRIBUTE_NAMES) == 312 == len(set(ATTRIBUTE_NAMES))
    assert len(cub_schema.ATTRIBUTE_GROUPS) == 28
    assert attribute_id("has_bill_shape::curved_(up_or_down)") == 1
    assert attribute_id("has_bill_shape::cone") == 8
    assert attribute_id("has_wing_color::blue") == 10
    assert attribute_id("has_eye_color::blue") == 136
    assert attribute_id("has_eye_color::buff") == 149
    assert attribute_id("has_size::very_small_(3_-_5_in)") == 222
    assert attribute_id("has_shape::perching-like") == 236
    assert attribute_id("has_wing_pattern::multi-colored") == 312
    with pytest.raises(KeyError):
        attribute_id("has_eye_color::iridescent")


# ------------------------------------------------------------------------------------------
# layout and formats
# ------------------------------------------------------------------------------------------
def test_layout_counts_and_formats(dataset):
    out, stats = dataset
    cub = out / "CUB_200_2011"
    assert stats["n_images"] == N_IMAGES and stats["n_classes"] == N_CLASSES

    classes = _lines(cub / "classes.txt")
    assert [int(c[0]) for c in classes] == list(range(1, N_CLASSES + 1))
    class_names = [c[1] for c in classes]
    assert all(len(c) == 2 for c in classes)
    assert len(set(class_names)) == N_CLASSES
    for cid, name in enumerate(class_names, 1):
        assert name.startswith(f"{cid:03d}.") and " " not in name

    images = _lines(cub / "images.txt")
    assert [int(r[0]) for r in images] == list(range(1, N_IMAGES + 1))
    labels = _lines(cub / "image_class_labels.txt")
    assert [int(r[0]) for r in labels] == list(range(1, N_IMAGES + 1))
    sizes = {}
    per_class = np.zeros(N_CLASSES, int)
    for (iid, rel), (_, cid) in zip(images, labels):
        cls, fname = rel.split("/")
        assert cls == class_names[int(cid) - 1] and fname.endswith(".jpg")
        per_class[int(cid) - 1] += 1
        with Image.open(cub / "images" / rel) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            sizes[int(iid)] = im.size
    assert per_class.min() >= N_IMAGES // N_CLASSES and per_class.sum() == N_IMAGES

    split = _lines(cub / "train_test_split.txt")
    assert [int(r[0]) for r in split] == list(range(1, N_IMAGES + 1))
    flags = [int(r[1]) for r in split]
    assert set(flags) == {0, 1} and 0.3 < np.mean(flags) < 0.7

    assert [" ".join(r) for r in _lines(cub / "parts" / "parts.txt")] == [
        f"{i} {n}" for i, n in enumerate(PART_NAMES, 1)]
    assert [" ".join(r) for r in _lines(cub / "attributes" / "attributes.txt")] == [
        f"{i} {n}" for i, n in enumerate(ATTRIBUTE_NAMES, 1)]

    labels_rows = _lines(cub / "attributes" / "image_attribute_labels.txt")
    assert len(labels_rows) == 312 * N_IMAGES
    for k, row in enumerate(labels_rows):
        assert len(row) == 5
        assert int(row[0]) == k // 312 + 1 and int(row[1]) == k % 312 + 1
        assert row[2] in ("0", "1") and row[3] in ("1", "2", "3", "4")
        float(row[4])

    # Reed et al.'s class-disjoint split
    tv = (out / "trainvalclasses.txt").read_text().splitlines()
    te = (out / "testclasses.txt").read_text().splitlines()
    al = (out / "allclasses.txt").read_text().splitlines()
    assert al == class_names
    assert len(tv) == N_CLASSES * 3 // 4 and len(te) == N_CLASSES - len(tv)
    assert not set(tv) & set(te) and sorted(tv + te) == sorted(al)


def test_bboxes_and_parts(dataset):
    out, _ = dataset
    cub = out / "CUB_200_2011"
    images = {int(r[0]): r[1] for r in _lines(cub / "images.txt")}
    boxes = {}
    for r in _lines(cub / "bounding_boxes.txt"):
        assert len(r) == 5
        boxes[int(r[0])] = tuple(float(v) for v in r[1:])
    assert sorted(boxes) == list(range(1, N_IMAGES + 1))
    locs = _lines(cub / "parts" / "part_locs.txt")
    assert len(locs) == 15 * N_IMAGES
    n_visible = 0
    for iid, rel in images.items():
        with Image.open(cub / "images" / rel) as im:
            W, H = im.size
        x, y, w, h = boxes[iid]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= W and y + h <= H
        assert w * h >= 0.01 * W * H  # the bird is not a speck
        rows = locs[(iid - 1) * 15: iid * 15]
        assert [int(r[0]) for r in rows] == [iid] * 15
        assert [int(r[1]) for r in rows] == list(range(1, 16))
        vis = {}
        for r in rows:
            px, py, v = float(r[2]), float(r[3]), int(r[4])
            vis[PART_NAMES[int(r[1]) - 1]] = v
            if v:
                n_visible += 1
                assert 0 <= px < W and 0 <= py < H
                tol = 3.0
                assert x - tol <= px <= x + w + tol and y - tol <= py <= y + h + tol
            else:
                assert r[2] == "0.0" and r[3] == "0.0"
        # a side view: never both eyes, never both wings unless flying
        assert not (vis["left eye"] and vis["right eye"])
    assert n_visible > 8 * N_IMAGES  # most parts of most birds are visible


def test_captions_and_caption_attributes(dataset):
    out, stats = dataset
    cub = out / "CUB_200_2011"
    images = {int(r[0]): r[1] for r in _lines(cub / "images.txt")}
    present: dict[int, set[int]] = {i: set() for i in images}
    for r in _lines(cub / "attributes" / "image_attribute_labels.txt"):
        if r[2] == "1":
            present[int(r[0])].add(int(r[1]))
    words = []
    for iid, rel in images.items():
        path = out / "text_c10" / (rel[:-4] + ".txt")
        caps = path.read_text(encoding="utf-8").splitlines()
        assert len(caps) == 10 and all(c.strip() for c in caps)
        for c in caps:
            n = captions.word_count(c)
            assert 8 <= n <= 25, c
            assert c == c.lower()
            words.append(n)
        assert len(present[iid]) >= 20
    assert 12 <= np.mean(words) <= 18
    rows = _lines(out / "caption_attributes.txt")
    assert len(rows) == 10 * N_IMAGES
    for k, r in enumerate(rows):
        iid, cap_no = int(r[0]), int(r[1])
        assert iid == k // 10 + 1 and cap_no == k % 10 + 1
        ids = [int(a) for a in r[2:]]
        assert ids, "every caption names at least one attribute"
        assert set(ids) <= present[iid], (iid, cap_no, set(ids) - present[iid])
    assert stats["caption_words_min"] >= 8 and stats["caption_words_max"] <= 25


def test_image_sizes_vary(dataset):
    out, _ = dataset
    sizes = {Image.open(p).size for p in (out / "CUB_200_2011" / "images").rglob("*.jpg")}
    widths = {w for w, _ in sizes}
    ratios = {round(h / w, 2) for w, h in sizes}
    assert len(sizes) >= 5 and len(ratios) >= 3
    assert all(64 <= w <= 500 and 64 <= h <= 500 for w, h in sizes)
    # like CUB: widths up to 500, most images at 500 on their long side
    assert max(widths) == 500


# ------------------------------------------------------------------------------------------
# determinism and atomic output
# ------------------------------------------------------------------------------------------
def test_deterministic_across_workers_and_seeds(dataset, tmp_path):
    out, _ = dataset
    again = tmp_path / "again"
    generate(again, n_images=N_IMAGES, n_classes=N_CLASSES, seed=0, workers=2, progress=False)
    a, b = _tree(out), _tree(again)
    assert sorted(a) == sorted(b)
    diff = [k for k in a if a[k] != b[k]]
    assert not diff, diff[:5]
    other = tmp_path / "other"
    generate(other, n_images=N_IMAGES, n_classes=N_CLASSES, seed=1, workers=1, progress=False)
    for name in ("CUB_200_2011/bounding_boxes.txt", "CUB_200_2011/classes.txt",
                 "caption_attributes.txt"):
        assert not filecmp.cmp(out / name, other / name, shallow=False)


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = draw.render_image

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("boom while drawing")
        return real(*args, **kwargs)

    monkeypatch.setattr(draw, "render_image", flaky)
    out = tmp_path / "birds"
    with pytest.raises(RuntimeError, match="boom"):
        generate(out, n_images=16, n_classes=4, workers=1, progress=False)
    assert calls["n"] == 6
    assert not out.exists()
    assert os.listdir(tmp_path) == []

    # an existing data set survives a failed regeneration untouched
    out.mkdir()
    (out / "keep.txt").write_text("old")
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        generate(out, n_images=16, n_classes=4, workers=1, progress=False)
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["birds"]


def test_replaces_existing_output(tmp_path):
    out = tmp_path / "birds"
    out.mkdir()
    (out / "stale.txt").write_text("stale")
    stats = generate(out, n_images=8, n_classes=2, workers=1, progress=False)
    assert stats["n_images"] == 8
    assert not (out / "stale.txt").exists()
    assert (out / "CUB_200_2011" / "images.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["birds"]


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path / "x", n_images=3, n_classes=8, progress=False)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", n_images=10, n_classes=1, progress=False)
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------
# species, drawing and captions (unit level)
# ------------------------------------------------------------------------------------------
def test_species_vary_and_individuals_vary():
    sp = species.make_all_species(0, 60)
    assert len({s["class_name"] for s in sp}) == 60
    assert len({s["shape"] for s in sp}) >= 5
    assert len({s["bill_shape"] for s in sp}) >= 5
    colours = {c for s in sp for c in s["colours"].values()}
    assert len(colours) >= 12
    rng = np.random.default_rng(0)
    inds = [species.make_individual(sp[0], rng) for _ in range(200)]
    changed = [sum(i["colours"][k] != sp[0]["colours"][k] for k in sp[0]["colours"])
               for i in inds]
    assert 0.5 < np.mean(changed) < 3.0  # ~10% of 13 colour groups resampled
    assert species.make_species(0, 3) == species.make_species(0, 3)


def test_render_parts_follow_flip():
    sp = species.make_all_species(0, 30)
    seen_sides = set()
    for i in range(30):
        rng = np.random.default_rng([0, 9, i])
        ind = species.make_individual(sp[i], rng)
        res = draw.render_image(ind, rng, size=(300, 240))
        assert res["image"].size == (300, 240)
        parts = res["parts"]
        left, right = parts[PART_NAMES.index("left eye")], parts[PART_NAMES.index("right eye")]
        if res["flip"]:  # facing left: the left side is shown
            assert right[2] == 0
        else:
            assert left[2] == 0
        if left[2] or right[2]:
            seen_sides.add(bool(res["flip"]))
            beak = parts[PART_NAMES.index("beak")]
            eye = left if left[2] else right
            if beak[2]:  # the bill points the way the bird faces
                assert (beak[0] < eye[0]) == bool(res["flip"])
    assert seen_sides == {True, False}


def test_captions_only_name_present_attributes():
    sp = species.make_all_species(3, 40)
    for i in range(80):
        rng = np.random.default_rng([3, 1, i])
        ind = species.make_individual(sp[i % 40], rng)
        groups = species.attribute_groups(ind)
        present = species.present_attributes(ind)
        caps = captions.make_captions(ind, groups, rng)
        assert len(caps) == 10
        for text, ids in caps:
            assert ids and set(ids) <= present
            assert 8 <= captions.word_count(text) <= 25


def test_attribute_share_counts_species_prototypes():
    sp = species.make_all_species(3, 40)
    share = species.attribute_share(sp)
    for a in list(share)[:20]:
        assert share[a] == sum(a in species.present_attributes(t) for t in sp) / 40
    assert all(0 < v <= 1 for v in share.values())


def test_rare_attributes_are_named_more_often_than_common_ones():
    facts = [captions.Fact("a", "colour", attrs=[1]), captions.Fact("b", "colour", attrs=[2], weight=2.0),
             captions.Fact("c", "size", attrs=[])]
    share = {1: 0.5, 2: 0.01}
    # salience / max(share, MIN_SHARE); a fact naming no attribute counts as common as can be
    np.testing.assert_allclose(captions.fact_weights(facts, share), [2.0, 2.0 / captions.MIN_SHARE, 1.0])
    np.testing.assert_allclose(captions.fact_weights(facts, None), [1.0, 2.0, 1.0])
    sp = species.make_all_species(3, 40)
    share = species.attribute_share(sp)
    named_with, named_without = [], []
    for i in range(60):
        ind = species.make_individual(sp[i % 40], np.random.default_rng([3, 1, i]))
        groups = species.attribute_groups(ind)
        for out, sh in ((named_with, share), (named_without, None)):
            for _, ids in captions.make_captions(ind, groups, np.random.default_rng(i), share=sh):
                out.extend(ids)
    mean_share = lambda ids: np.mean([share.get(a, 0.0) for a in ids])  # noqa: E731
    assert mean_share(named_with) < 0.8 * mean_share(named_without)
