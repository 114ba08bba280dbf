"""Shared fixtures: a small hand-built data set in CUB's on-disk format, prepared, with a DAMSM."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_ok(args, cwd, env, timeout: float = 600) -> str:
    """Run a command; fail the test with its output unless it succeeds."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def make_project(work: Path, params: dict) -> tuple[Path, dict, list[str]]:
    """A copy of the project (code, stages, dvc.yaml, the given params) as its own git + DVC repo
    in ``work``: (folder, environment running the copy's code, the dvc command)."""
    import yaml

    for name in ("src", "stages"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = str(work / "src")  # the copy's code, not the checkout's
    dvc = [sys.executable, "-m", "dvc"]
    run_ok(["git", "init", "-q"], work, env)
    run_ok(dvc + ["init", "-q"], work, env)
    shutil.copy(ROOT / ".dvc" / "config", work / ".dvc" / "config")
    run_ok(["git", "add", "-A"], work, env)
    run_ok(["git", "-c", "user.name=t2igan-test", "-c", "user.email=test@localhost", "commit", "-qm", "init"], work,
           env)
    return work, env, dvc


def assert_same(a, b, where=""):
    """Recursively equal: tensors bit for bit, everything else by ==."""
    import torch

    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def committed_params() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "params.yaml").read_text())


PARTS = ["back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg", "left wing",
         "nape", "right eye", "right leg", "right wing", "tail", "throat"]
CAPTIONS = [
    "this bird has a red crown and a white belly",
    "a small bird with black wings and a short beak",
    "the bird is mostly red with black wingbars",
    "this is a red bird with a white breast",
    "a bird with a pointed bill and red feathers",
    "small red bird with white underparts and dark wings",
    "the crown is red and the wings are black",
    "this bird has a short cone shaped beak",
    "a red and white bird perched on a branch",
    "this colorful bird has a white abdomen and red head",
]


def write_cub(root: Path, n_classes: int = 4, per_class: int = 3, size=(120, 90), seed: int = 0) -> Path:
    """A minimal but complete CUB layout: images, index files, parts, attributes, captions, split."""
    rng = np.random.default_rng(seed)
    cub = root / "CUB_200_2011"
    (cub / "parts").mkdir(parents=True)
    (cub / "attributes").mkdir()
    classes = [f"{c + 1:03d}.Test_Bird_{c + 1}" for c in range(n_classes)]
    lines = {k: [] for k in ("images", "labels", "split", "boxes", "locs", "attrs")}
    image_id = 0
    for c, cname in enumerate(classes):
        (cub / "images" / cname).mkdir(parents=True)
        (root / "text_c10" / cname).mkdir(parents=True)
        for k in range(per_class):
            image_id += 1
            name = f"Test_Bird_{c + 1}_{k:04d}_{image_id}"
            w, h = size
            pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(cub / "images" / cname / f"{name}.jpg", quality=90)
            (root / "text_c10" / cname / f"{name}.txt").write_text("\n".join(CAPTIONS) + "\n")
            lines["images"].append(f"{image_id} {cname}/{name}.jpg")
            lines["labels"].append(f"{image_id} {c + 1}")
            lines["split"].append(f"{image_id} {k % 2}")
            lines["boxes"].append(f"{image_id} 20.0 15.0 60.0 50.0")
            for p in range(1, 16):
                visible = int(p % 3 != 0)
                x, y = (30.0 + p * 3, 20.0 + p * 2) if visible else (0.0, 0.0)
                lines["locs"].append(f"{image_id} {p} {x} {y} {visible}")
            for a in range(1, 6):
                lines["attrs"].append(f"{image_id} {a} {int((a + image_id) % 2)} 3 1.5")
    (cub / "images.txt").write_text("\n".join(lines["images"]) + "\n")
    (cub / "image_class_labels.txt").write_text("\n".join(lines["labels"]) + "\n")
    (cub / "train_test_split.txt").write_text("\n".join(lines["split"]) + "\n")
    (cub / "bounding_boxes.txt").write_text("\n".join(lines["boxes"]) + "\n")
    (cub / "classes.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    (cub / "parts" / "parts.txt").write_text("".join(f"{i + 1} {p}\n" for i, p in enumerate(PARTS)))
    (cub / "parts" / "part_locs.txt").write_text("\n".join(lines["locs"]) + "\n")
    (cub / "attributes" / "attributes.txt").write_text("".join(f"{a} has_thing::value_{a}\n" for a in range(1, 6)))
    (cub / "attributes" / "image_attribute_labels.txt").write_text("\n".join(lines["attrs"]) + "\n")
    n_test = max(1, n_classes // 4)
    (root / "trainvalclasses.txt").write_text("\n".join(classes[:-n_test]) + "\n")
    (root / "testclasses.txt").write_text("\n".join(classes[-n_test:]) + "\n")
    (root / "allclasses.txt").write_text("\n".join(classes) + "\n")
    return root


@pytest.fixture
def cub_root(tmp_path) -> Path:
    return write_cub(tmp_path / "birds")


def prepare_with_damsm(cub_root: Path, out: Path):
    """``cub_root`` preprocessed into out/prep (32 px) and randomly initialised DAMSM encoders in
    out/damsm: what GAN training needs.  Returns the Prepared data."""
    from t2igan.data.preprocess import Prepared, preprocess
    from t2igan.train import checkpoint
    from t2igan.train.damsm import build_encoders

    preprocess(cub_root, out / "prep", image_size=32, progress=False)
    prepared = Prepared(out / "prep")
    import settings  # tests/settings.py imports the package: not at collection time

    ds = settings.damsm()
    text, image = build_encoders(ds, len(prepared.vocab))
    meta = {"settings": dataclasses.asdict(ds), "vocab_size": len(prepared.vocab)}
    checkpoint.save(out / "damsm" / "text_encoder.pt", {"state": text.state_dict(), **meta})
    checkpoint.save(out / "damsm" / "image_encoder.pt", {"state": image.state_dict(), **meta})
    return prepared


@pytest.fixture
def tiny(cub_root, tmp_path):
    """Prepared data (12 images, 9 for training) and randomly initialised DAMSM encoders on disk."""
    return prepare_with_damsm(cub_root, tmp_path), tmp_path / "damsm", tmp_path


def benchmark(name: str):
    """The module benchmarks/<name>.py (the benchmarks are scripts, not a package)."""
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(root))  # a benchmark may import its neighbours (readme.py)
    spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
