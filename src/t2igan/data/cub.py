"""Readers for the CUB-200-2011 on-disk format (real or synthetic: the code cannot tell).

Layout under a data root (what the ``data`` stage writes)::

    CUB_200_2011/images.txt, image_class_labels.txt, bounding_boxes.txt, classes.txt,
                 train_test_split.txt, parts/parts.txt, parts/part_locs.txt,
                 attributes/attributes.txt, attributes/image_attribute_labels.txt, images/
    text_c10/<class>/<image>.txt     Reed et al.'s 10 captions per image
    trainvalclasses.txt, testclasses.txt   the class-disjoint 150/50 text-to-image split
    caption_attributes.txt           synthetic only: attribute ids each caption names

Every error names the file and, where there is one, the line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from t2igan.data.text import tokenize
from t2igan.errors import DataFormatError

CUB_DIR = "CUB_200_2011"
N_CAPTIONS = 10


# --------------------------------------------------------------------------- tables
def _raw_line(path: Path, line: int) -> str:
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            if i == line:
                return raw.decode("utf-8", "replace").rstrip("\n")
    return ""


def read_table(path: Path, types: list[type], extra_ok: int = 0) -> pd.DataFrame:
    """Read a whitespace-separated table whose columns have the given types.

    ``extra_ok`` trailing fields beyond ``types`` are tolerated and dropped (the real
    image_attribute_labels.txt has a few lines with one field too many).  The frame's
    index is the 1-based line number, so every later check can name the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    n = len(types)
    try:
        df = pd.read_csv(
            path, sep=r"\s+", header=None, names=list(range(n + extra_ok)),
            skip_blank_lines=False, engine="c",
        )
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
        detail = f"too many fields (expected {n}): {_raw_line(path, line)!r}" if line else str(exc)
        raise DataFormatError(path, detail, line) from None
    except pd.errors.EmptyDataError:
        raise DataFormatError(path, "file is empty") from None
    df.index = np.arange(1, len(df) + 1)
    blank = df[0].isna()
    if blank.any():  # blank lines carry nothing; their neighbours keep their numbers
        df = df[~(blank & df.isna().all(axis=1))]
    out = {}
    for col, tp in enumerate(types):
        raw = df[col]
        if tp is int and pd.api.types.is_integer_dtype(raw.dtype):
            out[col] = raw.astype(np.int64)  # the fast path: pandas parsed every value as an integer
            continue
        values = pd.to_numeric(raw, errors="coerce") if tp in (int, float) else raw
        bad = values.isna()
        if tp is int:
            bad |= (values % 1 != 0)
        if bad.any():
            line = int(bad.idxmax())
            what = "missing field" if pd.isna(raw[line]) else f"bad value {str(raw[line])!r}"
            raise DataFormatError(
                path, f"{what} in column {col + 1} (expected {tp.__name__}): {_raw_line(path, line)!r}", line
            )
        out[col] = values.astype(np.int64) if tp is int else values.astype(str) if tp is str else values
    return pd.DataFrame(out, index=df.index)


def read_named_list(path: Path) -> dict[int, str]:
    """Files of ``<id> <name possibly with spaces>`` lines (parts.txt, classes.txt, attributes.txt)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    out: dict[int, str] = {}
    for line_no, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        head, _, name = line.strip().partition(" ")
        if not head.isdigit() or not name.strip():
            raise DataFormatError(path, f"expected '<id> <name>', got {line!r}", line_no)
        if int(head) in out:
            raise DataFormatError(path, f"duplicate id {head}", line_no)
        out[int(head)] = name.strip()
    return out


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataFormatError(
            path, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at column {col}", line
        ) from None


def read_class_list(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found (the class split of Reed et al.)")
    return [ln.strip() for ln in _read_utf8(path).splitlines() if ln.strip()]


# --------------------------------------------------------------------------- captions
def read_captions(path: Path, n: int = N_CAPTIONS) -> list[str]:
    """The first ``n`` non-blank captions of a text_c10 file.

    U+FFFD (stray in the real files, often in pairs) becomes a space; blank lines and
    lines without a single word are skipped (as AttnGAN does); fewer than ``n`` captions
    or bytes that are not UTF-8 are errors.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "caption file not found")
    lines = [ln.replace("\ufffd", " ").strip() for ln in _read_utf8(path).splitlines()]
    captions = [ln for ln in lines if tokenize(ln)]
    if len(captions) < n:
        raise DataFormatError(path, f"has {len(captions)} non-blank captions, expected {n}")
    return captions[:n]


# --------------------------------------------------------------------------- images
def load_rgb(path: Path) -> Image.Image:
    """Decode an image fully and return it in RGB (grayscale, CMYK, palette converted)."""
    try:
        with Image.open(path) as im:
            im.load()  # force the decode here, so a truncated file fails here, named
            return im.convert("RGB") if im.mode != "RGB" else im.copy()
    except FileNotFoundError:
        raise DataFormatError(path, "image file not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(path, f"corrupt or truncated image ({exc})") from None


def crop_box(bbox: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The square around the bird that StackGAN/AttnGAN crop, clipped to the image.

    r = int(0.75 * max(w, h)) around the box centre; returns (left, top, right, bottom).
    """
    x, y, w, h = (float(v) for v in bbox)
    r = int(0.75 * max(w, h))
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    left, right = max(0, cx - r), min(width, cx + r)
    top, bottom = max(0, cy - r), min(height, cy + r)
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"box {bbox.tolist()} leaves no pixels inside a {width}x{height} image")
    return left, top, right, bottom


# --------------------------------------------------------------------------- the index
@dataclass
class CubIndex:
    """Everything the index files say, one row per image in images.txt order."""

    root: Path
    image_ids: np.ndarray          # CUB's 1-based ids
    paths: list[str]               # relative to CUB_200_2011/images
    class_ids: np.ndarray          # 1-based
    class_names: dict[int, str]
    bboxes: np.ndarray             # float32 [N, 4] x, y, w, h
    is_test: np.ndarray            # bool [N], Reed's class-disjoint split
    part_names: list[str]          # 15 names, index = part id - 1
    part_locs: np.ndarray          # float32 [N, P, 3] x, y, visible
    attribute_names: list[str]
    attributes: np.ndarray | None  # uint8 [N, A] is_present, None when the files are absent

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_path(self, i: int) -> Path:
        return self.root / CUB_DIR / "images" / self.paths[i]

    def caption_path(self, i: int) -> Path:
        return self.root / "text_c10" / Path(self.paths[i]).with_suffix(".txt")


def _by_image(df: pd.DataFrame, ids: np.ndarray, path: Path, what: str) -> pd.DataFrame:
    """Rows of ``df`` (keyed by image id in column 0) in the order of ``ids``, all present once."""
    dup = df[0].duplicated()
    if dup.any():
        line = int(dup.idxmax())
        raise DataFormatError(path, f"image id {df[0][line]} listed twice", line)
    keyed = df.set_index(0)
    missing = np.setdiff1d(ids, keyed.index.to_numpy())
    if len(missing):
        raise DataFormatError(path, f"no {what} for image id(s) {missing[:5].tolist()}")
    return keyed.loc[ids]


def load_index(root: str | Path) -> CubIndex:
    root = Path(root)
    cub = root / CUB_DIR
    if not cub.is_dir():
        raise DataFormatError(cub, "directory not found: run the data stage first")

    images_txt = cub / "images.txt"
    images = read_table(images_txt, [int, str])
    dup = images[0].duplicated()
    if dup.any():
        raise DataFormatError(images_txt, f"image id {images[0][dup.idxmax()]} listed twice", int(dup.idxmax()))
    ids = images[0].to_numpy()
    paths = images[1].tolist()

    labels_txt = cub / "image_class_labels.txt"
    class_ids = _by_image(read_table(labels_txt, [int, int]), ids, labels_txt, "class label")[1].to_numpy()
    class_names = read_named_list(cub / "classes.txt")
    unknown = sorted(set(class_ids.tolist()) - set(class_names))
    if unknown:
        raise DataFormatError(labels_txt, f"class id(s) {unknown[:5]} not in classes.txt")

    bbox_txt = cub / "bounding_boxes.txt"
    bboxes = _by_image(read_table(bbox_txt, [int, float, float, float, float]), ids, bbox_txt, "bounding box")
    bboxes = bboxes.to_numpy(np.float32)
    if (bboxes[:, 2:] <= 0).any():
        i = int(np.argmax((bboxes[:, 2:] <= 0).any(axis=1)))
        raise DataFormatError(bbox_txt, f"image id {ids[i]} has a box of non-positive size {bboxes[i].tolist()}")

    is_test = _split(root, class_ids, class_names)

    part_names_by_id = read_named_list(cub / "parts" / "parts.txt")
    part_names = [part_names_by_id[k] for k in sorted(part_names_by_id)]
    part_locs = _part_locs(cub / "parts" / "part_locs.txt", ids, len(part_names))

    attr_names_txt = cub / "attributes" / "attributes.txt"
    attr_txt = cub / "attributes" / "image_attribute_labels.txt"
    attribute_names: list[str] = []
    attributes = None
    if attr_txt.is_file():
        names = read_named_list(attr_names_txt)
        attribute_names = [names[k] for k in sorted(names)]
        attributes = _attributes(attr_txt, ids, len(attribute_names))

    return CubIndex(root, ids, paths, class_ids, class_names, bboxes, is_test, part_names,
                    part_locs, attribute_names, attributes)


def _split(root: Path, class_ids: np.ndarray, class_names: dict[int, str]) -> np.ndarray:
    """Reed et al.'s class-disjoint split (not train_test_split.txt)."""
    train = read_class_list(root / "trainvalclasses.txt")
    test = read_class_list(root / "testclasses.txt")
    by_name = {name: cid for cid, name in class_names.items()}
    for path, names in ((root / "trainvalclasses.txt", train), (root / "testclasses.txt", test)):
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataFormatError(path, f"class(es) {unknown[:3]} not in classes.txt")
    overlap = set(train) & set(test)
    if overlap:
        raise DataFormatError(root / "testclasses.txt", f"class(es) {sorted(overlap)[:3]} also in trainvalclasses.txt")
    missing = set(class_names.values()) - set(train) - set(test)
    used = {class_names[c] for c in np.unique(class_ids)}
    if missing & used:
        raise DataFormatError(root / "trainvalclasses.txt", f"class(es) {sorted(missing & used)[:3]} in neither split")
    test_ids = np.array([by_name[n] for n in test])
    return np.isin(class_ids, test_ids)


def _part_locs(path: Path, ids: np.ndarray, n_parts: int) -> np.ndarray:
    df = read_table(path, [int, int, float, float, int])
    bad = ~df[1].between(1, n_parts) | ~df[4].isin([0, 1])
    if bad.any():
        line = int(bad.idxmax())
        raise DataFormatError(path, f"part id must be 1..{n_parts} and visible 0 or 1: {_raw_line(path, line)!r}", line)
    row = pd.Series(np.arange(len(ids)), index=ids)
    known = df[0].isin(row.index)
    if not known.all():
        line = int((~known).idxmax())
        raise DataFormatError(path, f"image id {df[0][line]} is not in images.txt", line)
    locs = np.zeros((len(ids), n_parts, 3), np.float32)
    locs[row[df[0]].to_numpy(), df[1].to_numpy() - 1] = df[[2, 3, 4]].to_numpy(np.float32)
    return locs


def _attributes(path: Path, ids: np.ndarray, n_attr: int) -> np.ndarray:
    # image_id attribute_id is_present certainty_id time; a few real lines carry an extra field.
    df = read_table(path, [int, int, int, int], extra_ok=2)
    bad = ~df[1].between(1, n_attr) | ~df[2].isin([0, 1])
    if bad.any():
        line = int(bad.idxmax())
        raise DataFormatError(
            path, f"attribute id must be 1..{n_attr} and is_present 0 or 1: {_raw_line(path, line)!r}", line)
    row = pd.Series(np.arange(len(ids)), index=ids)
    known = df[0].isin(row.index)
    if not known.all():
        line = int((~known).idxmax())
        raise DataFormatError(path, f"image id {df[0][line]} is not in images.txt", line)
    out = np.zeros((len(ids), n_attr), np.uint8)
    out[row[df[0]].to_numpy(), df[1].to_numpy() - 1] = df[2].to_numpy(np.uint8)
    return out


def read_caption_attributes(root: Path, ids: np.ndarray) -> dict[tuple[int, int], list[int]] | None:
    """Synthetic data only: ``(image_id, caption_no) -> attribute ids`` the caption names."""
    path = Path(root) / "caption_attributes.txt"
    if not path.is_file():
        return None
    out: dict[tuple[int, int], list[int]] = {}
    known = set(ids.tolist())
    for line_no, line in enumerate(_read_utf8(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not all(f.isdigit() for f in fields):
            raise DataFormatError(path, f"expected '<image_id> <caption_no> <attribute_id>...', got {line!r}", line_no)
        image_id, cap_no, *attrs = (int(f) for f in fields)
        if image_id not in known or not 1 <= cap_no <= N_CAPTIONS:
            raise DataFormatError(path, f"unknown image id {image_id} or caption number {cap_no}", line_no)
        out[(image_id, cap_no)] = attrs
    return out
