"""preprocess outputs, the Dataset's transform and the reference patches, on a hand-built CUB."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from t2igan.data import cub, refs
from t2igan.data.dataset import TextImageDataset, branch_sizes, collate, to_branches
from t2igan.data.preprocess import Prepared, preprocess, square_crop, stored_size
from t2igan.errors import DataFormatError
from t2igan.variants.ragan import References


def test_square_crop_matches_the_rule():
    # A distinct colour per pixel column lets us check which pixels were kept.
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :, 0] = np.arange(200)[None, :] % 256
    out = square_crop(Image.fromarray(img), np.array([40, 20, 60, 40.0]), 45)
    # crop box: centre (70, 40), r = 45 -> x 25..115, y 0..85 (clipped): 90 x 85 px, resized to
    # 48 x 45 (short side 45), centre-cropped from column 1 to 45.  Resized column j samples the
    # original at x = 25 + (j + 0.5) * 90 / 48 - 0.5: column 1 -> 27.3, column 45 -> 109.8.
    assert out.shape == (45, 45, 3) and out.dtype == np.uint8
    assert abs(int(out[:, 0, 0].mean()) - 27) <= 1 and abs(int(out[:, -1, 0].mean()) - 110) <= 1


def test_preprocess_outputs(cub_root, tmp_path):
    stats = preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    prep = Prepared(tmp_path / "prep")
    s = stored_size(32)
    assert s == 38 and prep.images.shape == (12, s, s, 3) and prep.images.dtype == np.uint8
    assert stats["images"] == 12 and stats["images_test"] == 3 and stats["classes_train"] == 3
    assert prep.vocab[0] == "<end>" and len(prep.vocab) == stats["vocab_size"]
    # caption 2 of image 0 decodes back to the tokenised text
    assert prep.decode(prep.caption_ids(2)) == "the bird is mostly red with black wingbars"
    assert prep.captions["offsets"].shape == (121,)
    assert prep.index["attributes"].shape == (12, 5)
    assert prep.split_indices("test").tolist() == [9, 10, 11]
    assert prep.meta["resize"].startswith("bicubic")


def test_bad_image_error_or_skip(cub_root, tmp_path):
    idx = cub.load_index(cub_root)
    idx.image_path(4).write_bytes(b"not a jpeg at all")
    with pytest.raises(DataFormatError, match=idx.paths[4].split("/")[-1]):
        preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    assert not (tmp_path / "prep").exists() and list(tmp_path.iterdir()) == [cub_root]  # nothing half-written
    with pytest.warns(UserWarning, match="skipping"):
        stats = preprocess(cub_root, tmp_path / "prep", image_size=32, on_bad_image="skip", progress=False)
    prep = Prepared(tmp_path / "prep")
    assert stats["skipped_images"] == 1 and len(prep) == 11 and 5 not in prep.index["image_ids"].tolist()
    assert len(prep.captions["offsets"]) == 11 * 10 + 1
    assert prep.meta["skipped"][0]["image_id"] == 5


def test_bad_caption_fails_before_image_work(cub_root, tmp_path):
    path = cub.load_index(cub_root).caption_path(7)
    path.write_text("only one caption\n")
    with pytest.raises(DataFormatError, match=f"{path.name}: has 1 non-blank captions"):
        preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)


def test_dataset_transform_and_determinism(cub_root, tmp_path):
    preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    prep = Prepared(tmp_path / "prep")
    ds = TextImageDataset(prep, "train", image_size=32, branches=2, max_words=6, seed=3)
    assert len(ds) == 9
    a, b = ds[4], ds[4]
    assert a.image.shape == (3, 32, 32) and a.image.dtype == torch.uint8
    assert torch.equal(a.image, b.image) and torch.equal(a.caption, b.caption)
    assert a.length == 6 and a.caption.shape == (6,) and a.caption_row // 10 == a.image_row
    ds.set_epoch(1)
    assert not torch.equal(a.image, ds[4].image) or ds[4].caption_row != a.caption_row
    # the crop is a window of the stored crop (flipped or not)
    stored = torch.from_numpy(np.array(prep.images[a.image_row])).permute(2, 0, 1)
    found = any(torch.equal(stored[:, y:y + 32, x:x + 32], t)
                for y in range(7) for x in range(7) for t in (a.image, a.image.flip(-1)))
    assert found
    batch = collate([ds[i] for i in range(4)])
    assert batch["captions"].shape == (4, 6) and batch["images"].shape == (4, 3, 32, 32)
    small, top = to_branches(batch["images"], ds.sizes)
    assert small.shape == (4, 3, 16, 16) and top.shape == (4, 3, 32, 32)
    assert float(top.min()) >= -1 and float(top.max()) <= 1
    assert torch.allclose(top[0], batch["images"][0].float() / 127.5 - 1)
    # the 16 px branch is a resized copy of the 32 px crop
    down = torch.nn.functional.interpolate(top, size=16, mode="bilinear", antialias=True)
    assert torch.allclose(down, small, atol=1e-5)


def test_eval_dataset_covers_every_caption(cub_root, tmp_path):
    preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    ds = TextImageDataset(Prepared(tmp_path / "prep"), "test", image_size=32, branches=1, train=False)
    assert len(ds) == 30
    assert sorted(ds[i].caption_row for i in range(30)) == list(range(90, 120))


def test_branch_sizes():
    assert branch_sizes(256, 3) == [64, 128, 256]
    assert branch_sizes(64, 1) == [64]
    with pytest.raises(ValueError):
        branch_sizes(36, 4)


# --------------------------------------------------------------------------- references
def test_patch_padding_and_visibility():
    img = np.full((40, 60, 3), 200, np.uint8)
    p = refs.patch_at(img, 2, 3, 10)  # square from (-3, -2) to (7, 8)
    assert p.shape == (10, 10, 3)
    assert not p[:2].any() and not p[:, :3].any() and (p[2:, 3:] == 200).all()
    assert not refs.patch_at(img, 500, 500, 10).any()
    locs = np.array([[10, 10, 1], [70, 10, 1], [10, 10, 0], [-1, 5, 1]], np.float32)
    assert refs.visible_parts(locs, 60, 40).tolist() == [0]  # outside, invisible and negative dropped


def test_crop_refs_assignment(cub_root, tmp_path):
    preprocess(cub_root, tmp_path / "prep", image_size=32, progress=False)
    stats = refs.crop_refs(cub_root, tmp_path / "prep", tmp_path / "refs", patch_size=12, seed=1, progress=False)
    patches = np.load(tmp_path / "refs" / "patches.npy")
    z = np.load(tmp_path / "refs" / "refs.npz")
    assert stats["patches"] == 12 * 10 == len(patches)  # 10 of 15 parts visible in the fixture
    assert patches.shape == (120, 12, 12, 3)
    prep = Prepared(tmp_path / "prep")
    a = z["assignment_same"]
    assert a.shape == (120,)
    owner = z["patch_image"][a]
    caption_image = np.repeat(np.arange(12), 10)
    assert (owner != caption_image).all()  # never its own image
    assert (z["patch_class"][a] == prep.index["class_ids"][caption_image]).all()  # same species
    # the patch really is the image around the part location
    idx = cub.load_index(cub_root)
    img = np.asarray(cub.load_rgb(idx.image_path(0)))
    part = int(z["patch_part"][0])
    x, y = idx.part_locs[0, part - 1, :2]
    np.testing.assert_array_equal(patches[0], refs.patch_at(img, x, y, 12))
    again = refs.crop_refs(cub_root, tmp_path / "prep", tmp_path / "refs2", patch_size=12, seed=1, progress=False)
    assert again == stats and (np.load(tmp_path / "refs2" / "refs.npz")["assignment_same"] == a).all()
    any_a = z["assignment_any"]
    split = prep.index["is_test"]
    assert (split[z["patch_image"][any_a]] == split[caption_image]).all()  # same split, any species
    assert (owner != z["patch_image"][any_a]).any()
    # the loader picks an assignment and hands out the patches of caption rows
    loaded = References(tmp_path / "refs", "any", n_captions=120)
    np.testing.assert_array_equal(loaded.for_rows(np.array([5, 0])), patches[any_a[[5, 0]]])
    assert loaded.size == 12
    with pytest.raises(DataFormatError, match="covers 120 captions, the prepared data has 130"):
        References(tmp_path / "refs", "same", n_captions=130)
    with pytest.raises(DataFormatError, match="no reference patches here"):
        References(tmp_path / "nothing", "same")
