"""The metric registry: every score is declared once (t2igan.metrics.registry), scoring computes each
entry by its own rule, and the headline metrics file, the report's tables, the curves and `t2igan
info` follow the list, so a new metric is one entry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from t2igan import score
from t2igan.metrics import fidelity, registry
from t2igan.models.evaluator import Evaluator
from t2igan.report import document
from t2igan.train import checkpoint

N_CLASSES, N_ATTRIBUTES = 4, 3


class Prepared:
    """Eight test images of four classes, 10 captions each; three attributes in two groups."""

    index = {"class_ids": np.array([1, 1, 2, 2, 3, 3, 4, 4])}
    meta = {"attribute_names": ["has_a::x", "has_a::y", "has_b::z"]}

    def split_indices(self, split):
        return np.arange(8)

    def caption_attributes(self, row):
        return np.array([1, 3]) if row % 2 else np.array([2])


@pytest.fixture()
def scored(tmp_path):
    torch.manual_seed(0)
    evaluator = tmp_path / "evaluator.pt"
    checkpoint.save(evaluator, {"state": Evaluator(N_CLASSES, N_ATTRIBUTES, 4).state_dict(),
                                "settings": {"width": 4}, "n_classes": N_CLASSES, "n_attributes": N_ATTRIBUTES})
    g = torch.Generator().manual_seed(1)

    def features(n):
        return score.SetFeatures({"features": torch.randn(n, 16, generator=g, dtype=torch.float64),
                                  "logits": torch.randn(n, N_CLASSES, generator=g, dtype=torch.float64),
                                  "attributes": torch.randn(n, N_ATTRIBUTES, generator=g)},
                                 {j: torch.randn(n, 8, generator=g) for j in ("damsm", "evaluator_damsm")})

    prepared = Prepared()
    pool_rows = score.test_caption_rows(prepared)
    reference = score.Reference(features(8), {j: torch.randn(len(pool_rows), 8, generator=g)
                                              for j in ("damsm", "evaluator_damsm")}, image_size=16)
    rows = np.arange(0, 80, 5)  # 16 captions: two of each image
    kw = dict(reference=reference, prepared=prepared, evaluator_path=str(evaluator), seed=0, candidates=4,
              folds=2, isc_splits=2, kid_subset_size=8, kid_subsets=3)
    return features(len(rows)), rows, kw


def test_each_metric_is_computed_by_its_rule(scored):
    f, rows, kw = scored
    row = score.score_features(f, rows, **kw)
    real = kw["reference"].for_rows(kw["prepared"], rows)
    fid = fidelity.metrics(f.evaluator, kw["reference"].features.evaluator, extractor="evaluator", isc_splits=2,
                           kid_subset_size=8, kid_subsets=3, seed=0, weights=Path(kw["evaluator_path"]),
                           sizes=([16, 16], [16, 16]))
    assert (row["is"], row["is_std"], row["fid"], row["kid"], row["kid_std"]) == (
        fid["is_mean"], fid["is_std"], fid["fid"], fid["kid_mean"], fid["kid_std"])
    for judge in ("damsm", "evaluator_damsm"):
        rp = score.judge_r_precision(f.codes[judge], kw["reference"].pools[judge], rows, kw["prepared"], seed=0,
                                     candidates=4, folds=2)
        assert (row[f"r_precision_{judge}"], row[f"r_precision_{judge}_std"]) == (rp["mean"], rp["std"])
    assert row["attribute_accuracy"] == score.read_attributes(f.evaluator["attributes"], rows,
                                                               kw["prepared"])["accuracy"]
    assert "is_inception" not in row  # the scale listed no FID Inception
    assert row["images"] == 16 and len(real) == 16
    assert list(row) == ["is", "is_std", "fid", "kid", "kid_std", "r_precision_damsm", "r_precision_damsm_std",
                         "r_precision_evaluator_damsm", "r_precision_evaluator_damsm_std", "attribute_accuracy",
                         "images", "protocol"]
    # a model that never reads a caption: its text metrics are "n/a", and the headline leaves them out
    blind = score.score_features(f, rows, text=False, **kw)
    assert [k for k, v in blind.items() if v == "n/a"] == [
        "r_precision_damsm", "r_precision_damsm_std", "r_precision_evaluator_damsm",
        "r_precision_evaluator_damsm_std", "attribute_accuracy"]
    assert registry.headline(blind) == {"is": row["is"], "fid": row["fid"], "kid": row["kid"]}
    assert registry.headline(row) == {m.key: row[m.key] for m in registry.METRICS if m.key in row}


def test_adding_a_metric_is_one_registry_entry(scored, monkeypatch):
    f, rows, kw = scored
    toy = registry.Metric("species_confidence", "species conf.", "higher", 2, percent=True,
                          compute=lambda s: {"species_confidence": float(
                              torch.softmax(s.f.evaluator["logits"], 1).max(1).values.mean())})
    monkeypatch.setattr(registry, "METRICS", [*registry.METRICS, toy])
    row = score.score_features(f, rows, **kw)
    expected = float(torch.softmax(f.evaluator["logits"], 1).max(1).values.mean())
    assert row["species_confidence"] == expected
    assert registry.headline(row)["species_confidence"] == expected         # dvc metrics show / diff
    assert "species_confidence" in registry.curve_keys()                    # every snapshot's curve
    model = document.Model("toy", "attngan", False, {"final": row, "real": row, "untrained": row},
                           {"seconds": 60.0, "epochs": 1, "images_per_s": 10.0}, parameters=1000)
    table = document.main_table([model]).splitlines()
    assert "species conf." in table[0]                                      # the report's column
    assert f"{100 * expected:.2f} %" in table[2]
    assert "species conf." in document.floor_table([model]).splitlines()[0]
