import numpy as np
import pytest
import torch

from t2igan.metrics.r_precision import oracle_r_precision, r_precision, sample_negatives


def test_perfect_encoders_score_one_and_random_about_chance():
    g = torch.Generator().manual_seed(0)
    n, d = 2000, 64
    classes = np.arange(n) % 50
    captions = torch.randn(n, d, generator=g)
    # an image code equal to its caption's code: always ranked first
    perfect = r_precision(captions, captions, classes, captions, classes, seed=1)
    assert perfect.mean == 1.0 and perfect.std == 0.0 and len(perfect.folds) == 10
    # image codes unrelated to the captions: the true caption is first 1 time in 100
    noise = torch.randn(n, d, generator=g)
    chance = r_precision(noise, captions, classes, captions, classes, seed=1)
    assert 0.0 <= chance.mean < 0.03


def test_known_answer_on_constructed_codes():
    # 1-d "codes" on a circle: image i points at angle 0; its caption at angle a_i; negatives at 1 rad.
    n = 20
    angles = np.where(np.arange(n) < 15, 0.5, 1.5)  # 15 captions closer than the negatives, 5 farther
    img = torch.tensor([[1.0, 0.0]] * n)
    true = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1), dtype=torch.float32)
    pool = torch.tensor([[np.cos(1.0), np.sin(1.0)]] * 30, dtype=torch.float32)
    res = r_precision(img, true, np.zeros(n, int), pool, np.ones(30, int), candidates=10, folds=2)
    assert res.folds == [1.0, 0.5] and res.mean == 0.75  # items 0-9 all hit; 10-19: 5 of 10


def test_negatives_come_from_other_classes():
    rng = np.random.default_rng(0)
    item = np.array([0, 1, 2, 0])
    pool = np.array([0, 0, 1, 2, 2, 1])
    neg = sample_negatives(item, pool, 50, rng)
    assert neg.shape == (4, 50) and (pool[neg] != item[:, None]).all()
    with pytest.raises(ValueError, match="no negatives"):
        sample_negatives(np.array([3]), np.array([3, 3]), 5, rng)


def test_oracle_counts_wholly_true_negatives_as_ties():
    # 4 classes x 5 captions; attribute c is true of the images of class c and of nothing else.
    # Captions of classes 0-2 name their class's attribute; captions of class 3 name nothing, so
    # they are true of every image: as negatives they tie, while as true captions nothing else
    # is true of a class-3 image (other captions name attributes it lacks).
    classes = np.repeat(np.arange(4), 5)
    attrs = np.zeros((20, 4), bool)
    attrs[np.arange(20), classes] = True
    named = [np.array([c]) if c < 3 else np.array([], np.int64) for c in classes]
    res = oracle_r_precision(attrs, classes, named, candidates=4, folds=2, seed=0)
    negatives = sample_negatives(classes, classes, 3, np.random.default_rng(0))  # the draw it makes
    ties = np.where(classes < 3, (classes[negatives] == 3).sum(1), 0)
    fold_mean = lambda v: np.mean([f.mean() for f in np.array_split(v, 2)])  # noqa: E731
    assert res["strict"] == pytest.approx(fold_mean(ties == 0))
    assert res["random_ties"] == pytest.approx(fold_mean(1.0 / (1 + ties)))
    assert res["consistent_negatives"] == pytest.approx(ties.mean()) and res["facts_per_caption"] == 0.75
    assert 0 < res["strict"] < res["random_ties"] < 1
