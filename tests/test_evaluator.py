"""The evaluator classifier: attribute reading by hand, the held-out split, training and its gate."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import settings

from t2igan.config import load_params
from t2igan.data.preprocess import Prepared, preprocess
from t2igan.models.evaluator import attribute_accuracy, attribute_groups
from t2igan.train import evaluator

ROOT = Path(__file__).resolve().parents[1]


def test_attribute_groups_follow_the_names():
    names = ["has_bill_shape::cone", "has_bill_shape::hooked", "has_wing_color::blue", "has_size::small"]
    assert attribute_groups(names).tolist() == [0, 0, 1, 2]


def test_attribute_accuracy_by_hand():
    groups = np.array([0, 0, 0, 1, 1])
    logits = np.array([[0.1, 2.0, 0.3, 5.0, -1.0],    # group 0 -> column 1, group 1 -> column 3
                       [3.0, 0.0, 0.0, 0.0, 0.5]])   # group 0 -> column 0, group 1 -> column 4
    named = [np.array([1, 4]), np.array([0, 4])]     # hit, miss | hit, hit
    assert attribute_accuracy(logits, named, groups) == {"accuracy": 0.75, "pairs": 4}
    with pytest.raises(ValueError, match="1 captions for 2 images"):
        attribute_accuracy(logits, named[:1], groups)


def test_holdout_keeps_every_class_in_training():
    classes = np.repeat(np.arange(4), [1, 2, 10, 30])
    held = evaluator.holdout_mask(classes, 0.1, seed=0)
    assert held[classes == 0].sum() == 0 and held[classes == 1].sum() == 1
    assert held[classes == 2].sum() == 1 and held[classes == 3].sum() == 3
    assert np.array_equal(held, evaluator.holdout_mask(classes, 0.1, seed=0))


@pytest.fixture
def prepared(cub_root, tmp_path):
    preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    return Prepared(tmp_path / "prep")


def test_train_predict_and_resume(prepared, tmp_path):
    s = settings.evaluator(holdout=0.34)
    model = evaluator.train(prepared, tmp_path / "ev", s, progress=False)
    assert (tmp_path / "ev" / "evaluator.pt").is_file()
    out = evaluator.predict(model, np.zeros((3, 32, 32, 3), np.uint8))
    assert out["features"].shape == (3, 32) and out["species"].shape == (3, 4) and out["attributes"].shape == (3, 5)
    acc = evaluator.held_out_accuracy(model, prepared, s)
    assert 0.0 <= acc["species_accuracy"] <= 1.0 and acc["held_out_images"] == 4  # one of each class's 3
    evaluator.train(prepared, tmp_path / "ev", evaluator.EvaluatorSettings(**{**s.__dict__, "epochs": 2}),
                    progress=False)
    from t2igan.train import checkpoint

    assert [h["epoch"] for h in checkpoint.load(tmp_path / "ev" / "checkpoint.pt")["history"]] == [1, 2]


def test_fewer_images_than_a_batch_is_a_clear_error(prepared, tmp_path):
    # the fixture's 12 images (4 species of 3), one of each species held out: 8 left, a batch of 9
    s = settings.evaluator(batch_size=9, holdout=0.1)
    with pytest.raises(evaluator.EvaluatorError, match=r"8 images to train the evaluator on \(of 12.*batch_size = 9"):
        evaluator.train(prepared, tmp_path / "ev", s, progress=False)
    assert not (tmp_path / "ev" / "evaluator.pt").exists()


def test_stage_fails_below_the_accuracy_gate(prepared, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "stages"))
    import train_evaluator

    p = load_params(ROOT / "params.yaml", {"scale": "tiny", "preprocess.out_dir": str(prepared.root),
                                           "evaluator.out_dir": str(tmp_path / "ev"), "evaluator.width": 4,
                                           "tiny.evaluator_batch_size": 4, "tiny.evaluator_min_accuracy": 1.0})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(evaluator.EvaluatorError, match=r"below tiny.evaluator_min_accuracy = 100%"):
        train_evaluator.main(p)
    metrics = json.loads((tmp_path / "reports/evaluator/metrics.json").read_text())
    assert metrics["min_species_accuracy"] == 1.0 and "species_accuracy" in metrics
