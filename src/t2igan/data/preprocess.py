"""Stage ``preprocess``: captions to ids, bird crops to one packed uint8 array.

Outputs (``data/prepared/``), read back by :class:`Prepared`:

- ``images.npy``   uint8 [N, S, S, 3]: the bounding-box crop of each image, resized once
  (shorter side to S with antialiased bicubic, then centre-cropped to S x S), where
  S = int(image_size * 76 / 64) is what AttnGAN's training transform resizes to before
  its random crop.
- ``index.npz``    per image: CUB id, class id, test flag, attribute vector, box.
- ``captions.npz`` 10 captions per image as word ids: ``tokens`` (flat) and ``offsets``;
  caption k of image i is row ``10 * i + k``.  Synthetic data also has, per caption,
  the attribute ids it names (``attr_ids``/``attr_offsets``).
- ``vocab.json``   the words, index 0 = ``<end>`` (padding).
- ``meta.json``    sizes, names, how the crops were made, and skipped images.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import numpy as np
from PIL import Image

from t2igan import io
from t2igan.data import cub, text
from t2igan.errors import DataFormatError
from t2igan.parallel import ordered_map

RESIZE = "bicubic, antialiased (PIL), shorter side to S then centre crop"


def stored_size(image_size: int) -> int:
    """Side of the stored crops: AttnGAN resizes to imsize * 76 / 64 before a random crop."""
    return int(image_size * 76 / 64)


def square_crop(img: Image.Image, bbox: np.ndarray, size: int) -> np.ndarray:
    """The MODELS.md bird crop of ``img``, as a ``size`` x ``size`` uint8 RGB array."""
    left, top, right, bottom = cub.crop_box(bbox, *img.size)
    crop = img.crop((left, top, right, bottom))
    w, h = crop.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    crop = crop.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=None)
    x0, y0 = (nw - size) // 2, (nh - size) // 2
    return np.asarray(crop.crop((x0, y0, x0 + size, y0 + size)), dtype=np.uint8)


def _crop_task(task: tuple[str, np.ndarray], size: int) -> np.ndarray | str:
    path, bbox = task
    try:
        return square_crop(cub.load_rgb(Path(path)), bbox, size)
    except DataFormatError as exc:
        return str(exc)
    except ValueError as exc:
        return f"{path}: {exc}"


def preprocess(data_root: str | Path, out_dir: str | Path, *, image_size: int, on_bad_image: str = "error",
               workers: int = 1, progress: bool = True) -> dict:
    """Run the stage; returns the statistics written to reports/data/stats.json."""
    index = cub.load_index(data_root)
    size = stored_size(image_size)

    # Captions first: cheap, and a bad caption file should fail before minutes of image work.
    captions = [cub.read_captions(index.caption_path(i)) for i in range(len(index))]
    tokens = [[text.tokenize(c) for c in caps] for caps in captions]

    tasks = [(str(index.image_path(i)), index.bboxes[i]) for i in range(len(index))]
    keep = np.ones(len(index), bool)
    skipped = []
    with io.atomic_dir(out_dir) as tmp:
        # Crops go straight to a memory-mapped file: the paper scale is 3 GB of pixels.
        crops = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (len(index), size, size, 3))
        work = ordered_map(partial(_crop_task, size=size), tasks, workers=workers, desc="crop", progress=progress)
        for i, result in enumerate(work):
            if isinstance(result, str):
                if on_bad_image == "error":
                    raise DataFormatError(tasks[i][0], f"{result} (set data.on_bad_image: skip to skip such images)")
                warnings.warn(f"skipping {result}", stacklevel=2)
                skipped.append({"image_id": int(index.image_ids[i]), "reason": result})
                keep[i] = False
            else:
                crops[i] = result
        kept = np.flatnonzero(keep)
        if len(kept) == 0:
            raise DataFormatError(index.root, "no usable image left")
        if skipped:
            compact = np.ascontiguousarray(crops[kept])
            del crops
            io.save_npy(tmp / "images.npy", compact)
        else:
            crops.flush()
            del crops

        # The vocabulary covers train and test captions, as AttnGAN's does.
        vocab = text.build_vocab(t for i in kept for t in tokens[i])
        word_to_id = {w: k for k, w in enumerate(vocab)}
        ids = [text.encode(tokens[i][k], word_to_id) for i in kept for k in range(cub.N_CAPTIONS)]
        lengths = np.array([len(x) for x in ids], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])

        cap_attr = cub.read_caption_attributes(index.root, index.image_ids)
        attr_lists = [cap_attr.get((int(index.image_ids[i]), k + 1), []) for i in kept
                      for k in range(cub.N_CAPTIONS)] if cap_attr is not None else []
        attr_offsets = np.concatenate([[0], np.cumsum([len(a) for a in attr_lists])]).astype(np.int64)
        attributes = index.attributes[kept] if index.attributes is not None else np.zeros((len(kept), 0), np.uint8)

        io.save_npz(tmp / "index.npz", image_ids=index.image_ids[kept], class_ids=index.class_ids[kept],
                    is_test=index.is_test[kept], attributes=attributes, bboxes=index.bboxes[kept])
        io.save_npz(tmp / "captions.npz", tokens=np.concatenate(ids).astype(np.int32), offsets=offsets,
                    attr_ids=np.array([a for lst in attr_lists for a in lst], np.int16), attr_offsets=attr_offsets)
        io.write_json(tmp / "vocab.json", {"words": vocab})
        io.write_json(tmp / "meta.json", {
            "stored_size": size, "image_size": image_size, "resize": RESIZE,
            "paths": [index.paths[i] for i in kept],
            "class_names": {str(k): v for k, v in index.class_names.items()},
            "part_names": index.part_names, "attribute_names": index.attribute_names,
            "has_caption_attributes": cap_attr is not None, "skipped": skipped,
        })

    per_caption = lengths.reshape(-1, cub.N_CAPTIONS)
    test = index.is_test[kept]
    return {
        "images": int(len(kept)), "images_train": int((~test).sum()), "images_test": int(test.sum()),
        "classes": int(len(np.unique(index.class_ids[kept]))),
        "classes_train": int(len(np.unique(index.class_ids[kept][~test]))),
        "classes_test": int(len(np.unique(index.class_ids[kept][test]))),
        "captions": int(len(ids)), "vocab_size": len(vocab),
        "caption_words_mean": round(float(lengths.mean()), 3),
        "caption_words_max": int(lengths.max()), "caption_words_min": int(lengths.min()),
        "captions_over_18_words": round(float((per_caption > 18).mean()), 4),
        "skipped_images": len(skipped), "stored_size": size,
    }


@dataclass
class Prepared:
    """Read access to the preprocess outputs (arrays memory-mapped, loaded once)."""

    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        if not (self.root / "meta.json").is_file():
            raise DataFormatError(self.root, "no preprocess output here: run `dvc repro preprocess`")

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.root / "meta.json").read_text())

    @cached_property
    def vocab(self) -> list[str]:
        return json.loads((self.root / "vocab.json").read_text())["words"]

    @cached_property
    def images(self) -> np.ndarray:
        return np.load(self.root / "images.npy", mmap_mode="r")

    @cached_property
    def index(self) -> dict[str, np.ndarray]:
        with np.load(self.root / "index.npz") as z:
            return {k: z[k] for k in z.files}

    @cached_property
    def captions(self) -> dict[str, np.ndarray]:
        with np.load(self.root / "captions.npz") as z:
            return {k: z[k] for k in z.files}

    def __len__(self) -> int:
        return len(self.index["image_ids"])

    def fingerprint(self) -> str:
        """A digest of the words and the per-image index: changes when the data does."""
        h = hashlib.sha256()
        for name in ("vocab.json", "index.npz", "meta.json"):
            h.update((self.root / name).read_bytes())
        return h.hexdigest()

    def caption_ids(self, row: int) -> np.ndarray:
        """Word ids of caption row ``row`` (= 10 * image + k)."""
        off = self.captions["offsets"]
        return self.captions["tokens"][off[row]:off[row + 1]]

    def caption_attributes(self, row: int) -> np.ndarray:
        off = self.captions["attr_offsets"]
        if len(off) == 1:
            return np.zeros(0, np.int16)
        return self.captions["attr_ids"][off[row]:off[row + 1]]

    def decode(self, ids) -> str:
        return " ".join(self.vocab[int(i)] for i in ids if int(i) != 0)

    def split_indices(self, split: str) -> np.ndarray:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return np.flatnonzero(self.index["is_test"] == (split == "test"))
