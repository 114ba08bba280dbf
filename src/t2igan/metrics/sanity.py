"""Is FID telling the truth here?  Three checks on real images alone (seed 002, chapter 2).

- halves: FID between two random halves of the real test set (the noise floor of FID at
  this N: no generator can be told apart from real by less);
- noise: FID between uniform-noise images and real ones (far off the scale of any model);
- repeated: a set of n real images in which one image replaces k others (k = 1 .. n),
  against the other half: FID must grow as diversity collapses (mode collapse in miniature).
"""
from __future__ import annotations

import numpy as np

from t2igan.metrics import fidelity


def repeat_counts(n: int, steps: int) -> list[int]:
    """About ``steps`` values of k from 1 to n, spaced geometrically (1 and n included)."""
    return sorted({int(k) for k in np.geomspace(1, n, num=max(2, steps)).round()})


def fid_sanity(real: np.ndarray, *, extractor: str, weights_path: str | None, seed: int, steps: int = 8,
               kid_subset_size: int = 1000) -> dict:
    """The three checks on ``real`` (uint8 [N, s, s, 3], N >= 4); FIDs with the given extractor."""
    real = fidelity.check_images(real, "real")
    if len(real) < 4:
        raise ValueError(f"the FID sanity study needs at least 4 real images, got {len(real)}")
    rng = np.random.default_rng([seed, 2])
    order = rng.permutation(len(real))
    n = len(real) // 2
    a, b = real[np.sort(order[:n])], real[np.sort(order[n:2 * n])]

    def fid(images: np.ndarray) -> tuple[float, dict]:
        out = fidelity.score(images, b, extractor=extractor, weights_path=weights_path, seed=seed,
                             kid_subset_size=kid_subset_size)
        return out["fid"], out

    halves, record = fid(a)
    noise, _ = fid(rng.integers(0, 256, size=a.shape, dtype=np.uint8))
    repeated = []
    for k in repeat_counts(n, steps):
        images = a.copy()
        images[:k] = a[0]  # image 0 stands in for k images (k = 1: the set is unchanged)
        repeated.append({"k": k, "fid": fid(images)[0]})
    return {"fid_halves": halves, "fid_noise": noise, "repeated": repeated, "images_per_set": n,
            "protocol": {key: record[key] for key in ("extractor", "weights_file", "weights_sha256", "resize", "seed",
                                                      "notes")}}
