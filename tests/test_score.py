"""The scoring glue: caption rows reach the right codes, attributes the right logits."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from t2igan import score
from t2igan.errors import T2IGANError
from t2igan.models import ragan


class StubPrepared:
    """Two test images of classes 1 and 2 (rows 0, 1), 10 captions each; 3 attributes in 2 groups."""

    index = {"class_ids": np.array([1, 2, 3, 4])}
    meta = {"attribute_names": ["has_a::x", "has_a::y", "has_b::z"]}

    def split_indices(self, split):
        return np.array([0, 1, 2, 3])

    def caption_attributes(self, row):
        return np.array([1]) if row < 10 else np.array([2, 3])  # 1-based ids


def test_r_precision_reads_each_images_own_caption():
    prepared = StubPrepared()
    pool_rows = score.test_caption_rows(prepared)
    codes = torch.nn.functional.normalize(torch.randn(len(pool_rows), 64, generator=torch.Generator().manual_seed(0)))
    rows = np.array([3, 17, 25, 38, 5, 12, 29, 31, 0, 19])  # images of all four classes, shuffled
    # a perfect judge: each image's code is its own caption's code
    perfect = score.judge_r_precision(codes[torch.as_tensor(rows)], codes[torch.as_tensor(pool_rows)],
                                      rows, prepared, seed=0, candidates=5, folds=2)
    assert perfect["mean"] == 1.0
    # a judge that sees another class's caption in every image: never ranks the true one first
    shifted = (rows + 10) % 40
    wrong = score.judge_r_precision(codes[torch.as_tensor(shifted)], codes[torch.as_tensor(pool_rows)],
                                    rows, prepared, seed=0, candidates=5, folds=2)
    assert wrong["mean"] < 0.5


def test_attribute_reading_uses_each_captions_attributes():
    logits = np.array([[0.0, 1.0, 5.0],    # group a -> y (id 2), group b -> z (id 3)
                       [2.0, 1.0, 5.0]])   # group a -> x (id 1)
    # image 0 with a caption naming x (miss), image 1 with one naming y and z (miss, hit)
    out = score.read_attributes(logits, np.array([3, 12]), StubPrepared())
    assert out == {"accuracy": 1 / 3, "pairs": 3}


def test_real_crops_are_centre_crops():
    class P:
        meta = {"stored_size": 6}
        images = np.arange(2 * 6 * 6 * 3, dtype=np.uint8).reshape(2, 6, 6, 3)

        def split_indices(self, split):
            return np.array([1])

    crops = score.real_crops(P(), 4)
    assert crops.shape == (1, 4, 4, 3) and np.array_equal(crops[0], P.images[1, 1:5, 1:5])


def test_mean_abs_difference_by_hand():
    a = np.zeros((3, 2, 2, 3), np.uint8)
    b = a.copy()
    b[0] = 255                      # one image of three entirely changed
    b[1, 0, 0, 0] = 51              # one channel of one pixel by 0.2
    expect = (12 * 255 + 51) / (a.size * 255)
    assert score.mean_abs_difference(a, b, chunk=2) == pytest.approx(expect)
    assert score.mean_abs_difference(b, a) == pytest.approx(expect)   # no uint8 wrap-around
    with pytest.raises(ValueError, match="differ in shape"):
        score.mean_abs_difference(a, b[:2])


def test_ragans_input_similarity_of_an_image_with_itself_is_one():
    """Every patch region matches itself exactly; unrelated noise matches less."""
    from t2igan.models.damsm import ImageEncoder

    torch.manual_seed(0)
    judge = score.InputJudge(SimpleNamespace(image=ImageEncoder("cnn", cnn_width=4, cnn_input=32).eval()),
                             ragan.reference_similarity)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert score.input_similarity(judge, images, images, batch_size=2) == pytest.approx(1.0, abs=1e-5)
    others = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert score.input_similarity(judge, images, others) < 1.0 - 1e-3


def test_real_row_takes_each_captions_own_image_features():
    """The `real` row of a set is the reference features of each caption row's image: computed once
    per image, repeated for each of its captions."""
    prepared = StubPrepared()
    feats = score.SetFeatures({"features": torch.arange(4.0)[:, None], "logits": torch.zeros(4, 2),
                               "attributes": torch.zeros(4, 3)}, {"damsm": torch.arange(4.0)[:, None] * 10})
    reference = score.Reference(feats, {}, image_size=4)
    rows = np.array([31, 30, 5, 12, 19])   # images 3, 3, 0, 1, 1
    real = reference.for_rows(prepared, rows)
    assert real.evaluator["features"][:, 0].tolist() == [3, 3, 0, 1, 1]
    assert real.codes["damsm"][:, 0].tolist() == [30, 30, 0, 10, 10] and len(real) == 5


def test_reference_round_trip(tmp_path):
    feats = score.SetFeatures({"features": torch.randn(3, 2), "logits": torch.randn(3, 5),
                               "attributes": torch.randn(3, 4)}, {"damsm": torch.randn(3, 6)})
    pool = torch.randn(7, 6)
    score.Reference(feats, {"damsm": pool}, image_size=8).save(tmp_path / "ref")
    back = score.Reference.load(tmp_path / "ref")
    assert back.image_size == 8 and torch.equal(back.pools["damsm"], pool)
    assert torch.equal(back.features.codes["damsm"], feats.codes["damsm"])
    assert all(torch.equal(back.features.evaluator[k], v) for k, v in feats.evaluator.items())
    with pytest.raises(T2IGANError, match="score_reference"):
        score.Reference.load(tmp_path / "missing")


def _evaluator_file(tmp_path) -> str:
    from t2igan.models.evaluator import Evaluator
    from t2igan.train import checkpoint

    torch.manual_seed(0)
    model = Evaluator(4, 3, 4)
    path = tmp_path / "evaluator.pt"
    checkpoint.save(path, {"state": model.state_dict(), "settings": {"width": 4}, "n_classes": 4, "n_attributes": 3})
    return str(path)


def test_batches_regroup_a_stream_into_the_stored_sets_batches():
    x = np.arange(23 * 2 * 2 * 3, dtype=np.int64).astype(np.uint8).reshape(23, 2, 2, 3)
    stream = (x[i:i + 3] for i in range(0, 23, 3))
    got = list(score.batches(stream, batch_size=10))
    assert [len(b) for b in got] == [10, 10, 3]
    assert all(np.array_equal(b, x[i * 10:i * 10 + 10]) for i, b in enumerate(got))
    assert [len(b) for b in score.batches(x, batch_size=10)] == [10, 10, 3]
    with pytest.raises(ValueError, match="uint8"):
        list(score.batches(x.astype(np.float32)))


def test_features_of_a_stream_equal_those_of_the_stored_set(tmp_path):
    """A set scored straight from a generator, a batch at a time, gets exactly the features of the
    same images stored and read back (so the floor and the snapshots need not be stored)."""
    from t2igan import io
    from t2igan.models.damsm import ImageEncoder

    torch.manual_seed(0)
    judge = SimpleNamespace(image=ImageEncoder("cnn", cnn_width=4, cnn_input=16).eval())
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (23, 16, 16, 3), dtype=np.uint8)
    patches = rng.integers(0, 256, (23, 16, 16, 3), dtype=np.uint8)
    io.write_image_set(tmp_path / "set", np.arange(23), 16, {}, lambda out: out.__setitem__(slice(None), images))
    kw = dict(evaluator_path=_evaluator_file(tmp_path), judges={"j": judge}, batch_size=10, inputs=patches,
              input_judge=score.InputJudge(judge, ragan.reference_similarity))
    stored = score.set_features(io.StoredImages(tmp_path / "set" / "images.npy"), **kw)
    streamed = score.set_features((images[i:i + 4] for i in range(0, 23, 4)), count=23, **kw)
    in_memory = score.set_features(images, **kw)
    for f in (streamed, in_memory):
        assert all(torch.equal(f.evaluator[k], stored.evaluator[k]) for k in score.EVALUATOR_LAYERS)
        assert torch.equal(f.codes["j"], stored.codes["j"]) and torch.equal(f.similarity, stored.similarity)
    assert stored.codes["j"].shape == (23, 256) and stored.similarity.shape == (23,)
    assert float(stored.similarity.mean()) == pytest.approx(score.input_similarity(kw["input_judge"], images, patches))
    assert torch.equal(stored.take([2, 2]).similarity, stored.similarity[[2, 2]])
    with pytest.raises(ValueError, match="23 images but 22 inputs"):
        score.set_features(images, **{**kw, "inputs": patches[:22], "input_judge": None})
    with pytest.raises(ValueError, match="a set of 1 image"):
        score.set_features(iter([images[:1]]), count=1, **{**kw, "inputs": None, "input_judge": None})
    with pytest.raises(ValueError, match="3 images given but 5 announced"):
        score.set_features(iter([images[:3]]), count=5, **{**kw, "inputs": None, "input_judge": None})
