import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from t2igan.baselines.base import BaselineSettings
from t2igan.config import check_families, load_params, parse_params
from t2igan.errors import ConfigError
from t2igan.train import evaluator
from t2igan.train.damsm import DamsmSettings
from t2igan.train.gan import GanSettings

RAW = yaml.safe_load(open("params.yaml"))


def test_default_params_load():
    p = load_params("params.yaml")
    assert p.dataset == "synthetic" and p.scale_name == "quick" and p.lam == 5.0
    assert p.scale.image_size == 64 and p.data.cub.images.md5 == "97eceeb196236b17998738112f37df78"
    assert load_params("params.yaml", {"scale": "paper"}).scale.image_size == 256


@pytest.mark.parametrize("dotted, value, needle", [
    ("dataset", "imagenet", "dataset: 'imagenet' is not allowed; use one of 'synthetic', 'cub'"),
    ("scale", "huge", "scale: 'huge' is not allowed"),
    ("lambda", "five", "lambda: expected a number, got 'five'"),
    ("lambda", -1, "lambda: -1.0 is below the minimum 0.0"),
    ("seed", 1.5, "seed: expected an integer"),
    ("data.on_bad_image", "ignore", "data.on_bad_image: 'ignore' is not allowed; use one of 'error', 'skip'"),
    ("data.cub.images.via", "ftp", "data.cub.images.via"),
    ("preprocess.max_words", 0, "preprocess.max_words: 0 is below the minimum 1"),
    ("quick.image_size", 8, "quick.image_size: 8 is below the minimum 16"),
    ("quick.colour", "red", "quick: unknown key(s) colour"),
    ("train.lr_g", -0.0002, "train.lr_g: -0.0002 is below the minimum 0.0"),
    ("runtime.gpus", 0, "runtime.gpus: 0 is below the minimum 1"),
    ("runtime.gpus", "two", "runtime.gpus: expected an integer"),
    ("variants.damsm", {"model": "attngan"}, "variants.damsm: reports/damsm/ belongs to another stage"),
    ("variants.bogus", {"model": "nope"}, "variants.bogus.model: 'nope' is not a known model; use one of attngan,"),
    ("variants.attngan.colour", 1, "variants.attngan: unknown key(s) colour; known: none"),
    ("baselines.dcgan.lr", -1, "baselines.dcgan.lr: -1.0 is below the minimum"),
])
def test_bad_values_name_the_key(dotted, value, needle):
    raw = copy.deepcopy(RAW)
    *parents, last = dotted.split(".")
    node = raw
    for k in parents:
        node = node[k]
    node[last] = value
    with pytest.raises(ConfigError) as err:
        check_families(parse_params(raw))  # a family's options: checked by validate_params's check_families
    assert needle in str(err.value)


def test_reading_params_imports_no_network():
    # every stage reads params.yaml; only a family's own stages (and validate_params) import its module
    code = ("import sys; from t2igan.config import load_params; p = load_params('params.yaml'); "
            "print(sorted(m for m in sys.modules if m.startswith(('t2igan.models', 't2igan.variants', "
            "'t2igan.baselines', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys; from t2igan.config import check_families, load_params; "
            "check_families(load_params('params.yaml')); print(sorted(m for m in sys.modules if m.startswith("
            "('t2igan.variants.', 't2igan.baselines.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "t2igan.variants.ragan" in out and "t2igan.baselines.draw" in out


def test_missing_keys_are_named():
    raw = copy.deepcopy(RAW)
    del raw["quick"]["branches"]
    with pytest.raises(ConfigError, match="quick.branches: missing"):
        parse_params(raw)
    raw = copy.deepcopy(RAW)
    del raw["quick"]
    with pytest.raises(ConfigError, match="scale 'quick' is selected but has no section"):
        parse_params(raw)
    raw = copy.deepcopy(RAW)
    raw["bogus"] = 1
    with pytest.raises(ConfigError, match="unknown top-level key"):
        parse_params(raw)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "p.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_extractors_and_the_test_only_random_weights_are_checked():
    from t2igan.config import ConfigError, load_params

    root = Path(__file__).resolve().parents[1] / "params.yaml"
    assert load_params(root).scale.extractors == ["evaluator"]
    assert load_params(root, {"scale": "paper"}).scale.extractors == ["evaluator", "inception"]
    assert load_params(root, {"weights.random_for_tests": True}).weights.random_for_tests
    with pytest.raises(ConfigError, match="weights.random_for_tests: true is a test-only setting .* refused with "
                                          "dataset: cub"):
        load_params(root, {"dataset": "cub", "weights.random_for_tests": True})
    with pytest.raises(ConfigError, match=r"quick.extractors\[1\]: 'fid' is not allowed"):
        load_params(root, {"quick.extractors": ["evaluator", "fid"]})
    with pytest.raises(ConfigError, match="lacks 'evaluator'"):
        load_params(root, {"quick.extractors": ["inception"]})


# What the smoke preset may change: the data size, the epochs and steps, and what follows from them.
# The batches too: the paper's do not fit 15 minutes on 2 cores, or its few dozen images.
SMOKE_MAY_DIFFER = {"synthetic_images", "synthetic_classes", "damsm_epochs", "gan_epochs", "evaluator_epochs",
                    "baseline_epochs", "snapshot_every", "sample_every", "captions_per_image", "evaluator_min_accuracy",
                    "steps_per_epoch", "gan_batch_size", "baseline_batch_size", "damsm_batch_size",
                    "evaluator_batch_size"}


def test_the_smoke_preset_is_the_paper_in_every_shape():
    smoke, paper = RAW["smoke"], RAW["paper"]
    assert set(smoke) == set(paper)
    assert {k: smoke[k] for k in smoke if k not in SMOKE_MAY_DIFFER} == \
           {k: paper[k] for k in paper if k not in SMOKE_MAY_DIFFER}
    assert paper["steps_per_epoch"] is None and smoke["steps_per_epoch"] >= 1
    # every trainer gets a full batch: the GANs, baselines and DAMSM of the training species' images (3/4 of
    # the species), the evaluator of every species' images less those it holds out
    assert paper["baseline_batch_size"] is None and paper["gan_batch_size"] == 20
    assert smoke["synthetic_images"] * 0.75 >= max(smoke["damsm_batch_size"], smoke["gan_batch_size"],
                                                   smoke["baseline_batch_size"])
    ev = load_params("params.yaml", {"scale": "smoke"}).evaluator
    species = np.arange(smoke["synthetic_images"]) % smoke["synthetic_classes"]
    assert (~evaluator.holdout_mask(species, ev.holdout, 0)).sum() >= smoke["evaluator_batch_size"]
    p = load_params("params.yaml", {"scale": "smoke"})
    assert p.scale.image_size == 256 and p.scale.branches == 3 and p.scale.damsm_input == 299


@pytest.mark.parametrize("value, needle", [(0, "below the minimum 1"), (1.5, "expected an integer")])
def test_steps_per_epoch_is_a_positive_integer_or_null(value, needle):
    raw = copy.deepcopy(RAW)
    raw["quick"]["steps_per_epoch"] = value
    with pytest.raises(ConfigError, match=f"quick.steps_per_epoch: .*{needle}"):
        parse_params(raw)
    raw["quick"]["steps_per_epoch"] = None
    assert parse_params(raw).scale.steps_per_epoch is None


@pytest.mark.parametrize("cls", [GanSettings, DamsmSettings, evaluator.EvaluatorSettings, BaselineSettings])
def test_a_settings_class_has_no_defaults_of_its_own(cls):
    """One schema: params.yaml's validated sections are the one place a value is set (no drifted copies)."""
    assert [f.name for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING] == []


def test_the_settings_read_what_params_yaml_says():
    # the two values that had drifted: cnn_width 32 and dropout 0.5 in code against 16 and 0.0 in params.yaml
    for scale in ("quick", "paper"):
        p = load_params("params.yaml", {"scale": scale})
        d = DamsmSettings.from_params(p)
        assert (d.cnn_width, d.dropout) == (p.damsm.cnn_width, p.scale.damsm_dropout)
    p = load_params("params.yaml", {"train.ema_decay": 0.5, "evaluator.lr": 0.25, "train.precision": "fp32"})
    assert GanSettings.from_params(p, "attngan").ema_decay == 0.5
    assert evaluator.EvaluatorSettings.from_params(p).lr == 0.25
    assert BaselineSettings.from_params(p, "dcgan").precision == "fp32"
