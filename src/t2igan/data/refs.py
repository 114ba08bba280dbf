"""Stage ``crop_refs``: RaGAN's reference patches, and which patch goes with which caption.

A patch is a ``patch_size`` square of the original image centred on a visible part
location; where the square leaves the image the patch is black.  Outputs
(``data/refs/``): ``patches.npy`` uint8 [P, s, s, 3] and ``refs.npz`` with, per patch,
the prepared image row, CUB part id and class id, and two assignments [N * 10], the patch
given to caption row 10 * i + k: ``assignment_same`` from the caption's own species,
``assignment_any`` from any species.  A caption's patch comes from its own split, and never
from its own image when another is available.  Both are always written, so a variant's
``reference_species`` option picks one without re-running this stage (or the other variants).
RaGAN reads them (``t2igan.variants.ragan.References``): its stages alone depend on that reader.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from t2igan import io
from t2igan.data import cub
from t2igan.data.preprocess import Prepared
from t2igan.errors import DataFormatError
from t2igan.parallel import ordered_map


def visible_parts(locs: np.ndarray, width: int, height: int) -> np.ndarray:
    """Indices of parts marked visible whose location lies inside the image."""
    x, y, vis = locs[:, 0], locs[:, 1], locs[:, 2]
    return np.flatnonzero((vis > 0) & (x >= 0) & (y >= 0) & (x < width) & (y < height))


def patch_at(img: np.ndarray, x: float, y: float, size: int) -> np.ndarray:
    """The ``size`` square centred on (x, y), zero (black) where it leaves ``img``."""
    h, w = img.shape[:2]
    left, top = int(round(x)) - size // 2, int(round(y)) - size // 2
    out = np.zeros((size, size, 3), np.uint8)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + size, w), min(top + size, h)
    if x1 > x0 and y1 > y0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = img[y0:y1, x0:x1]
    return out


def _patches_task(task: tuple[str, np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray] | str:
    path, locs = task
    try:
        img = np.asarray(cub.load_rgb(Path(path)))
    except DataFormatError as exc:
        return str(exc)
    parts = visible_parts(locs, img.shape[1], img.shape[0])
    patches = np.stack([patch_at(img, *locs[p, :2], size) for p in parts]) if len(parts) else \
        np.zeros((0, size, size, 3), np.uint8)
    return patches, parts + 1


def assign(patch_image: np.ndarray, patch_class: np.ndarray, image_class: np.ndarray, is_test: np.ndarray,
           n_captions: int, same_species: bool, rng: np.random.Generator) -> np.ndarray:
    """One patch per caption row; see the module docstring for the rules."""
    out = np.empty(len(image_class) * n_captions, np.int64)
    patch_split = is_test[patch_image]
    pools: dict[tuple, np.ndarray] = {}
    for i in range(len(image_class)):
        key = (int(image_class[i]) if same_species else None, bool(is_test[i]))
        if key not in pools:
            mask = patch_split == key[1]
            if same_species:
                mask &= patch_class == key[0]
            pools[key] = np.flatnonzero(mask)
        pool = pools[key]
        others = pool[patch_image[pool] != i]
        choices = others if len(others) else pool
        if len(choices) == 0:
            raise DataFormatError("parts/part_locs.txt", f"no visible part to take a reference from for "
                                  f"{'class ' + str(key[0]) if same_species else 'the split'} of prepared image {i}")
        out[i * n_captions:(i + 1) * n_captions] = rng.choice(choices, size=n_captions)
    return out


SPECIES = ("same", "any")


def crop_refs(data_root: str | Path, prepared_dir: str | Path, out_dir: str | Path, *, patch_size: int = 50,
              seed: int = 0, workers: int = 1, progress: bool = True) -> dict:
    index = cub.load_index(data_root)
    prepared = Prepared(prepared_dir)
    row_of = {int(i): r for r, i in enumerate(index.image_ids)}
    rows = [row_of[int(i)] for i in prepared.index["image_ids"]]  # prepared order (skips removed)
    tasks = [(str(index.image_path(r)), index.part_locs[r]) for r in rows]

    patches, parts, owners = [], [], []
    for i, result in enumerate(ordered_map(partial(_patches_task, size=patch_size), tasks, workers=workers,
                                           desc="patches", progress=progress)):
        if isinstance(result, str):
            raise DataFormatError(tasks[i][0], result)
        patches.append(result[0])
        parts.append(result[1])
        owners.append(np.full(len(result[1]), i))
    patch_image = np.concatenate(owners).astype(np.int64)
    patch_class = prepared.index["class_ids"][patch_image]
    assignments = {f"assignment_{species}": assign(
        patch_image, patch_class, prepared.index["class_ids"], prepared.index["is_test"], cub.N_CAPTIONS,
        species == "same", np.random.default_rng([seed, 50, k])) for k, species in enumerate(SPECIES)}
    all_patches = np.concatenate(patches)
    with io.atomic_dir(out_dir) as tmp:
        io.save_npy(tmp / "patches.npy", all_patches)
        io.save_npz(tmp / "refs.npz", patch_image=patch_image, patch_part=np.concatenate(parts).astype(np.int64),
                    patch_class=patch_class, **assignments)
        io.write_json(tmp / "meta.json", {"patch_size": patch_size, "part_names": index.part_names, "seed": seed})
    per_part = np.bincount(np.concatenate(parts), minlength=len(index.part_names) + 1)[1:]
    return {
        "patches": int(len(all_patches)),
        "patches_per_image_mean": round(len(all_patches) / max(1, len(rows)), 3),
        "patches_per_part": {name: int(n) for name, n in zip(index.part_names, per_part)},
        "patch_size": patch_size,
    }
