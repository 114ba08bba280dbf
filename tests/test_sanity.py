"""The FID sanity study on a tiny set with a randomly initialised evaluator."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import settings

from t2igan.metrics import evaluator_features
from t2igan.metrics.sanity import fid_sanity, repeat_counts
from t2igan.models.evaluator import Evaluator
from t2igan.train import checkpoint


def test_repeat_counts_span_one_to_n():
    assert repeat_counts(100, 5) == [1, 3, 10, 32, 100]
    assert repeat_counts(2, 8) == [1, 2]


def test_fid_sanity_orders_halves_noise_and_collapse(tmp_path):
    import torch

    torch.manual_seed(0)
    model = Evaluator(3, 5, width=4)
    s = settings.evaluator(batch_size=2, image_size=16)
    checkpoint.save(tmp_path / "evaluator.pt", {"state": model.state_dict(), "settings": dataclasses.asdict(s),
                                                "n_classes": 3, "n_attributes": 5})
    rng = np.random.default_rng(0)
    # smooth "real" images: a few colours in blocks, so noise is far from them
    base = rng.integers(60, 200, size=(80, 4, 4, 3)).astype(np.uint8)
    real = base.repeat(4, axis=1).repeat(4, axis=2)
    out = fid_sanity(real, extractor=evaluator_features.NAME, weights_path=str(tmp_path / "evaluator.pt"),
                     seed=0, steps=4, kid_subset_size=10)
    assert out["images_per_set"] == 40 and [r["k"] for r in out["repeated"]] == [1, 3, 12, 40]
    assert out["fid_halves"] < out["fid_noise"]
    assert out["repeated"][0]["fid"] == pytest.approx(out["fid_halves"])  # k = 1 changes nothing
    assert out["repeated"][-1]["fid"] > out["fid_halves"]               # one image 40 times
    assert out["protocol"]["extractor"] == "evaluator" and out["protocol"]["weights_sha256"]
    with pytest.raises(ValueError, match="at least 4 real images"):
        fid_sanity(real[:3], extractor=evaluator_features.NAME, weights_path=str(tmp_path / "evaluator.pt"), seed=0)
