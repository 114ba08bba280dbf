"""The settings of the tests' tiny runs.

No settings class has defaults: params.yaml is the one place a value is set.  So a test's settings
start from the committed params.yaml, read through the class's own ``from_params``, and change only
what a tiny run needs: small networks and batches, and the tests' machine (float32 on the CPU, in the
test process, the EMA without warm-up so one step's average can be checked by hand).
"""
from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

from t2igan import families
from t2igan.baselines.base import BaselineSettings
from t2igan.config import Params, load_params
from t2igan.train.damsm import DamsmSettings
from t2igan.train.evaluator import EvaluatorSettings
from t2igan.train.gan import GanSettings

ROOT = Path(__file__).resolve().parents[1]

# the tests' machine and arithmetic, whatever params.yaml's runtime and train.precision say
MACHINE = dict(device="cpu", workers=0, precision="fp32")


@cache
def params() -> Params:
    return load_params(ROOT / "params.yaml")


def _options(section: str, model: str, given: dict | None) -> dict:
    return dataclasses.asdict(families.load(section, model).Options(**(given or {})))


def gan(variant: str = "attngan", model: str = "attngan", options: dict | None = None, **kw) -> GanSettings:
    """A 32 px, two-branch GAN of width 4, batch 4, one epoch (``kw`` changes any field)."""
    base = GanSettings.from_params(params(), "attngan")
    tiny = dict(epochs=1, batch_size=4, image_size=32, branches=2, gf_dim=4, df_dim=4, max_words=18, seed=0, z_dim=8,
                c_dim=6, r_num=1, sample_captions=2, snapshot_every=1, sample_every=1, steps_per_epoch=None,
                ema_warmup=False, compile=False, **MACHINE)
    return dataclasses.replace(base, variant=variant, model=model, options=_options("variants", model, options),
                               **{**tiny, **kw})


def baseline(name: str, model: str, options: dict | None = None, **kw) -> BaselineSettings:
    """A baseline of width 4 at 32 px, one epoch; ``options`` are the family's (its defaults filled in)."""
    tiny = dict(epochs=1, image_size=32, width=4, max_words=18, seed=0, steps_per_epoch=None, **MACHINE)
    kw.setdefault("data_size", kw.get("image_size", 32))  # the networks' side unless a test sets the data's
    return BaselineSettings(name=name, model=model, options=_options("baselines", model, options), **{**tiny, **kw})


def damsm(**kw) -> DamsmSettings:
    """The `cnn` DAMSM of width 4 on 32 px images, batch 4, one epoch, no dropout."""
    base = DamsmSettings.from_params(params())
    tiny = dict(backbone="cnn", epochs=1, batch_size=4, image_size=32, max_words=18, seed=0, cnn_width=4, cnn_input=32,
                dropout=0.0, inception_weights=None, inception_sha256=None, steps_per_epoch=None, workers=0)
    return dataclasses.replace(base, **{**tiny, **kw})


def evaluator(**kw) -> EvaluatorSettings:
    """An evaluator of width 4 on 32 px images, batch 4, one epoch."""
    base = EvaluatorSettings.from_params(params())
    tiny = dict(epochs=1, batch_size=4, image_size=32, seed=0, width=4, steps_per_epoch=None, workers=0)
    return dataclasses.replace(base, **{**tiny, **kw})
