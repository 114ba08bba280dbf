"""Writing the synthetic birds data set in the CUB-200-2011 on-disk format.

Everything is built inside a hidden temporary sibling directory
(``.<name>.tmp-<pid>``) which replaces ``out_dir`` only when complete, so a crash never
leaves a half-written data set.  Images are rendered by a pool of worker processes over
chunks of image ids; the main process writes the index files.  Each species is seeded
with ``(seed, class_id)`` and each image with ``(seed, image_id)``, so the output is
byte-identical for a given seed whatever the number of workers.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from t2igan.data.cub_schema import (
    ATTRIBUTE_GROUPS,
    ATTRIBUTE_NAMES,
    CERTAINTY_NAMES,
    N_ATTRIBUTES,
    PART_NAMES,
    attribute_id,
)
from t2igan.io import write_text
from t2igan.synthbirds import captions as capmod
from t2igan.synthbirds import draw
from t2igan.synthbirds.species import attribute_groups, attribute_share, make_all_species, make_individual

JPEG_QUALITY = 90
CHUNK = 24
TRAIN_FRACTION = 5994 / 11788  # CUB's own split
TRAINVAL_CLASS_FRACTION = 0.75  # Reed et al.: 150 of 200 classes

# group index of every attribute (0-based), for per-group annotation times / certainty
_GROUP_OF = np.repeat(np.arange(len(ATTRIBUTE_GROUPS)),
                      [len(v) for _, v in ATTRIBUTE_GROUPS])
_GROUP_NAMES = [g for g, _ in ATTRIBUTE_GROUPS]

# state of a worker process (set by _init_worker)
_STATE: dict[str, Any] = {}


def _init_worker(species: list[dict[str, Any]], seed: int, root: str) -> None:
    _STATE["species"] = species
    _STATE["share"] = attribute_share(species)
    _STATE["seed"] = seed
    _STATE["root"] = Path(root)


def plan_dataset(seed: int, n_images: int, n_classes: int,
                 species: list[dict[str, Any]]) -> dict[str, Any]:
    """Which image belongs to which class, image names, the train/test and class splits."""
    rng = np.random.default_rng([seed, 2])
    counts = np.full(n_classes, n_images // n_classes, dtype=int)
    extra = n_images - counts.sum()
    if extra:
        counts[rng.choice(n_classes, size=int(extra), replace=False)] += 1
    images = []  # (image_id, class_index, relative name without extension)
    is_train = []
    iid = 0
    for ci, cnt in enumerate(counts):
        name = species[ci]["species_name"]
        n_train = int(min(cnt, max(1, round(cnt * TRAIN_FRACTION)))) if cnt else 0
        train = np.zeros(cnt, dtype=bool)
        train[rng.choice(cnt, size=n_train, replace=False)] = True
        for j in range(cnt):
            iid += 1
            images.append((iid, ci, f"{species[ci]['class_name']}/{name}_{j + 1:04d}_{iid}"))
            is_train.append(bool(train[j]))
    n_tv = int(round(n_classes * TRAINVAL_CLASS_FRACTION))
    n_tv = min(max(n_tv, 1), n_classes - 1)
    tv = np.sort(rng.choice(n_classes, size=n_tv, replace=False))
    tv_set = set(int(x) for x in tv)
    return dict(counts=counts, images=images, is_train=is_train,
                trainval_classes=[i for i in range(n_classes) if i in tv_set],
                test_classes=[i for i in range(n_classes) if i not in tv_set])


_AID_PREFIX = [f" {a + 1} " for a in range(N_ATTRIBUTES)]


def _attribute_lines(image_id: int, present: set[int], shown_groups: set[str],
                     rng: np.random.Generator) -> str:
    """312 lines "<image_id> <attribute_id> <is_present> <certainty_id> <time>"."""
    n = N_ATTRIBUTES
    gtimes = [f" {v:.3f}\n" for v in rng.lognormal(1.6, 0.6, len(ATTRIBUTE_GROUPS))]
    u = rng.random(n)
    is_p = np.zeros(n, dtype=np.int64)
    if present:
        is_p[np.asarray(sorted(present)) - 1] = 1
    # certainty: 4 definitely, 3 probably, 2 guessing; 1 (not visible) for hidden parts
    cert = np.where(is_p == 1, np.where(u < 0.7, 4, np.where(u < 0.95, 3, 2)),
                    np.where(u < 0.5, 4, np.where(u < 0.85, 3, 2)))
    shown = np.array([_GROUP_NAMES[g] in shown_groups for g in range(len(_GROUP_NAMES))])
    cert = np.where(shown[_GROUP_OF], cert, 1)
    pc = [f"{p} {c}" for p, c in zip(is_p.tolist(), cert.tolist())]
    iid = str(image_id)
    groups = _GROUP_OF.tolist()
    return "".join([iid + _AID_PREFIX[a] + pc[a] + gtimes[groups[a]] for a in range(n)])


def render_one(image_id: int, class_index: int, rel: str) -> dict[str, Any]:
    """Render, save the JPEG and captions of one image; return its index records."""
    species = _STATE["species"]
    root: Path = _STATE["root"]
    rng = np.random.default_rng([_STATE["seed"], 1, image_id])
    ind = make_individual(species[class_index], rng)
    res = draw.render_image(ind, rng)
    groups = attribute_groups(ind, res["visible"])
    present = set()
    for g, values in groups.items():
        for v in values:
            present.add(attribute_id(f"{g}::{v}"))
    caps = capmod.make_captions(ind, groups, rng, n=10, share=_STATE["share"])
    attr_text = _attribute_lines(image_id, present, set(groups), rng)

    img_path = root / "CUB_200_2011" / "images" / f"{rel}.jpg"
    res["image"].save(img_path, format="JPEG", quality=JPEG_QUALITY)
    cap_path = root / "text_c10" / f"{rel}.txt"
    with open(cap_path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(c + "\n" for c, _ in caps))

    parts = res["parts"]
    part_text = "".join(
        f"{image_id} {k + 1} {parts[k, 0]:.1f} {parts[k, 1]:.1f} {int(parts[k, 2])}\n"
        for k in range(len(PART_NAMES))
    )
    cap_attr_text = "".join(
        f"{image_id} {n + 1}" + "".join(f" {a}" for a in attrs) + "\n"
        for n, (_, attrs) in enumerate(caps)
    )
    x, y, w, h = res["bbox"]
    return dict(
        image_id=image_id,
        bbox=f"{image_id} {x:.1f} {y:.1f} {w:.1f} {h:.1f}\n",
        parts=part_text,
        attrs=attr_text,
        cap_attrs=cap_attr_text,
        words=[capmod.word_count(c) for c, _ in caps],
        size=res["size"],
    )


def _render_chunk(chunk: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
    return [render_one(*job) for job in chunk]


def _tmp_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"


def generate(out_dir: Path, *, n_images: int = 11788, n_classes: int = 200, seed: int = 0,
             workers: int = 2, progress: bool = True) -> dict[str, Any]:
    """Generate the synthetic birds data set into ``out_dir`` (replacing it atomically).

    Returns a small dict of statistics (counts, seconds, caption lengths...).
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2 (got {n_classes})")
    if n_images < n_classes:
        raise ValueError(f"n_images ({n_images}) must be >= n_classes ({n_classes})")
    workers = max(1, int(workers))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_dir(out_dir)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        stats = _generate_into(tmp, n_images=n_images, n_classes=n_classes, seed=seed,
                               workers=workers, progress=progress)
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        if out_dir.exists() or out_dir.is_symlink():
            if old.exists():
                shutil.rmtree(old)
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    stats["images_per_second"] = round(n_images / max(stats["seconds"], 1e-9), 1)
    stats["out_dir"] = str(out_dir)
    return stats


def _generate_into(root: Path, *, n_images: int, n_classes: int, seed: int, workers: int,
                   progress: bool) -> dict[str, Any]:
    species = make_all_species(seed, n_classes)
    plan = plan_dataset(seed, n_images, n_classes, species)
    cub = root / "CUB_200_2011"
    for sub in ("parts", "attributes"):
        (cub / sub).mkdir(parents=True, exist_ok=True)
    for sp in species:
        (cub / "images" / sp["class_name"]).mkdir(parents=True, exist_ok=True)
        (root / "text_c10" / sp["class_name"]).mkdir(parents=True, exist_ok=True)

    jobs = plan["images"]
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    records: list[dict[str, Any]] = []
    bar = tqdm(total=len(jobs), disable=not progress, desc="synthetic birds", unit="img",
               dynamic_ncols=True)
    try:
        if workers == 1:
            _init_worker(species, seed, str(root))
            try:
                for chunk in chunks:
                    recs = _render_chunk(chunk)
                    records.extend(recs)
                    bar.update(len(recs))
            finally:
                _STATE.clear()
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker,
                          initargs=(species, seed, str(root))) as pool:
                for recs in pool.imap(_render_chunk, chunks):
                    records.extend(recs)
                    bar.update(len(recs))
    finally:
        bar.close()

    # ---------------- index files -------------------------------------------------------
    names = [sp["class_name"] for sp in species]
    write_text(cub / "classes.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    write_text(cub / "images.txt", "".join(f"{iid} {rel}.jpg\n" for iid, _, rel in jobs))
    write_text(cub / "image_class_labels.txt",
               "".join(f"{iid} {ci + 1}\n" for iid, ci, _ in jobs))
    write_text(cub / "train_test_split.txt",
               "".join(f"{iid} {int(tr)}\n" for (iid, _, _), tr in zip(jobs, plan["is_train"])))
    write_text(cub / "bounding_boxes.txt", "".join(r["bbox"] for r in records))
    write_text(cub / "parts" / "parts.txt",
               "".join(f"{i + 1} {n}\n" for i, n in enumerate(PART_NAMES)))
    write_text(cub / "parts" / "part_locs.txt", "".join(r["parts"] for r in records))
    write_text(cub / "attributes" / "attributes.txt",
               "".join(f"{i + 1} {n}\n" for i, n in enumerate(ATTRIBUTE_NAMES)))
    write_text(cub / "attributes" / "certainties.txt",
               "".join(f"{i + 1} {n}\n" for i, n in enumerate(CERTAINTY_NAMES)))
    write_text(cub / "attributes" / "image_attribute_labels.txt",
               "".join(r["attrs"] for r in records))
    write_text(root / "caption_attributes.txt", "".join(r["cap_attrs"] for r in records))
    write_text(root / "trainvalclasses.txt",
               "".join(names[i] + "\n" for i in plan["trainval_classes"]))
    write_text(root / "testclasses.txt", "".join(names[i] + "\n" for i in plan["test_classes"]))
    write_text(root / "allclasses.txt", "".join(n + "\n" for n in names))

    words = np.asarray([w for r in records for w in r["words"]], dtype=float)
    widths = np.asarray([r["size"][0] for r in records])
    heights = np.asarray([r["size"][1] for r in records])
    return dict(
        n_images=len(records),
        n_classes=n_classes,
        seed=seed,
        workers=workers,
        n_train_images=int(sum(plan["is_train"])),
        n_test_images=int(len(jobs) - sum(plan["is_train"])),
        n_trainval_classes=len(plan["trainval_classes"]),
        n_test_classes=len(plan["test_classes"]),
        caption_words_mean=round(float(words.mean()), 2) if len(words) else math.nan,
        caption_words_min=int(words.min()) if len(words) else 0,
        caption_words_max=int(words.max()) if len(words) else 0,
        image_width_mean=round(float(widths.mean()), 1),
        image_height_mean=round(float(heights.mean()), 1),
    )

