"""CUB index parsing, captions, images and the crop rule, with the bad inputs of issue 2."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from t2igan.data import cub
from t2igan.errors import DataFormatError


def test_load_index_reads_every_file(cub_root):
    idx = cub.load_index(cub_root)
    assert len(idx) == 12
    assert idx.image_ids.tolist() == list(range(1, 13))
    assert idx.class_ids.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert idx.is_test.tolist() == [False] * 9 + [True] * 3  # Reed's class split, not train_test_split.txt
    np.testing.assert_allclose(idx.bboxes[0], [20, 15, 60, 50])
    assert idx.part_names[6] == "left eye"  # names with spaces survive
    assert idx.part_locs.shape == (12, 15, 3)
    np.testing.assert_allclose(idx.part_locs[0, 0], [33, 22, 1])  # part 1 of image 1
    np.testing.assert_allclose(idx.part_locs[0, 2], [0, 0, 0])    # part 3 invisible
    assert idx.attributes.shape == (12, 5)
    assert idx.attributes[0].tolist() == [0, 1, 0, 1, 0]  # (a + id) % 2 with id 1
    assert idx.image_path(0).is_file() and idx.caption_path(0).is_file()


def _replace_line(path, line_no, new):
    lines = path.read_text().splitlines()
    lines[line_no - 1] = new
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("rel, line, bad, needle", [
    ("CUB_200_2011/images.txt", 3, "3", "missing field"),
    ("CUB_200_2011/images.txt", 2, "x Test/a.jpg", "bad value 'x'"),
    ("CUB_200_2011/image_class_labels.txt", 5, "5 two", "bad value 'two'"),
    ("CUB_200_2011/bounding_boxes.txt", 4, "4 1.0 2.0 3.0", "missing field"),
    ("CUB_200_2011/bounding_boxes.txt", 4, "4 1.0 2.0 3.0 4.0 5.0 6.0", "too many fields"),
    ("CUB_200_2011/parts/part_locs.txt", 7, "1 7 10.0 10.0 2", "visible 0 or 1"),
    ("CUB_200_2011/parts/part_locs.txt", 9, "1 99 10.0 10.0 1", "part id must be"),
    ("CUB_200_2011/attributes/image_attribute_labels.txt", 2, "1 2 maybe 3 1.0", "bad value 'maybe'"),
])
def test_malformed_index_line_names_file_and_line(cub_root, rel, line, bad, needle):
    _replace_line(cub_root / rel, line, bad)
    with pytest.raises(DataFormatError) as err:
        cub.load_index(cub_root)
    assert err.value.path == cub_root / rel
    assert err.value.line == line
    assert needle in str(err.value) and f":{line}:" in str(err.value)


def test_real_cub_extra_attribute_field_is_tolerated(cub_root):
    # A few lines of the real image_attribute_labels.txt carry a sixth field.
    _replace_line(cub_root / "CUB_200_2011/attributes/image_attribute_labels.txt", 2, "1 2 1 3 0 7.219")
    assert cub.load_index(cub_root).attributes[0, 1] == 1


def test_missing_index_entry_and_missing_file(cub_root):
    path = cub_root / "CUB_200_2011/bounding_boxes.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataFormatError, match=r"bounding_boxes.txt: no bounding box for image id\(s\) \[12\]"):
        cub.load_index(cub_root)
    path.unlink()
    with pytest.raises(DataFormatError, match="bounding_boxes.txt: file not found"):
        cub.load_index(cub_root)


def test_unknown_class_in_split_file(cub_root):
    (cub_root / "testclasses.txt").write_text("999.Nobody\n")
    with pytest.raises(DataFormatError, match=r"testclasses.txt: class\(es\) \['999.Nobody'\]"):
        cub.load_index(cub_root)


def test_blank_lines_in_index_files_keep_line_numbers(cub_root):
    path = cub_root / "CUB_200_2011/image_class_labels.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [""] + lines[2:4] + ["4 x"] + lines[5:]) + "\n")
    with pytest.raises(DataFormatError) as err:
        cub.load_index(cub_root)
    assert err.value.line == 6  # counting the blank line


# --------------------------------------------------------------------------- captions
def test_captions_fffd_and_blank_lines(tmp_path):
    path = tmp_path / "c.txt"
    lines = [f"caption number {k}" for k in range(10)]
    lines[3] = "this bird\ufffd\ufffdhas a red crown"
    path.write_text("\n\n".join(lines) + "\n\n", encoding="utf-8")
    caps = cub.read_captions(path)
    assert len(caps) == 10
    assert caps[3] == "this bird  has a red crown"
    assert "" not in caps


def test_captions_fewer_than_ten(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(["a red bird"] * 9 + ["", "  ", "..."]) + "\n")
    with pytest.raises(DataFormatError, match=r"c.txt: has 9 non-blank captions, expected 10"):
        cub.read_captions(path)


def test_captions_non_utf8_names_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"a red bird\n" * 4 + b"a bird with a \xff\xfe beak\n" + b"a red bird\n" * 5)
    with pytest.raises(DataFormatError) as err:
        cub.read_captions(path)
    assert err.value.line == 5 and "not valid UTF-8: byte 0xff at column 15" in str(err.value)


# --------------------------------------------------------------------------- images
def test_grayscale_and_cmyk_become_rgb(tmp_path):
    gray = tmp_path / "g.jpg"
    Image.fromarray(np.full((10, 12), 128, np.uint8), "L").save(gray)
    cmyk = tmp_path / "c.jpg"
    Image.new("CMYK", (12, 10), (0, 255, 255, 0)).save(cmyk)  # pure red in CMYK
    g = cub.load_rgb(gray)
    c = cub.load_rgb(cmyk)
    assert g.mode == c.mode == "RGB" and g.size == c.size == (12, 10)
    assert abs(int(np.asarray(g)[5, 5, 0]) - 128) <= 2
    r, gg, b = np.asarray(c)[5, 5].tolist()
    assert r > 200 and gg < 60 and b < 60


def test_truncated_image_is_named(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(DataFormatError, match=r"t.jpg: corrupt or truncated image"):
        cub.load_rgb(path)


def test_crop_box_rule_and_clipping():
    # r = int(0.75 * max(w, h)) = 45 around the centre (50, 40)
    assert cub.crop_box(np.array([20, 15, 60, 50.0]), 200, 200) == (5, 0, 95, 85)
    # a box partly outside the image is clipped to it
    assert cub.crop_box(np.array([150, 150, 100, 100.0]), 200, 180) == (125, 125, 200, 180)
    with pytest.raises(ValueError, match="leaves no pixels"):
        cub.crop_box(np.array([500, 500, 10, 10.0]), 200, 180)
