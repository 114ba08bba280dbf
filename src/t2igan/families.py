"""The model families by name: the ``model`` of an entry of params.yaml's ``variants`` (GANs:
train@ / generate@ / score@ stages) and ``baselines`` (the *_baseline@ stages).

Only names live here, so that reading params.yaml imports no network.  A family's module is
imported by :func:`load` when a stage of that family (or validate_params, which checks every
entry's options) asks for it; dvc.yaml lists ``variants/<model>.py`` and ``models/<model>.py``
among the deps of that family's stages only, and tests/test_deps.py checks those lists against
what the stages really import (it knows this table, since the import is by name).

Adding a family: its module (a Variant or Baseline subclass with its ``Options``), its networks
in ``models/<model>.py``, a line below, and an entry in params.yaml.
"""
from __future__ import annotations

import importlib

from t2igan.errors import ConfigError

# section -> model -> "module:class"
FAMILIES: dict[str, dict[str, str]] = {
    "variants": {
        "attngan": "t2igan.variants.attngan:AttnGAN",
        "dualattngan": "t2igan.variants.dualattngan:DualAttnGAN",
        "ragan": "t2igan.variants.ragan:RaGAN",
        "dfgan": "t2igan.variants.dfgan:DFGAN",
    },
    "baselines": {
        "dcgan": "t2igan.baselines.dcgan:DCGAN",
        "draw": "t2igan.baselines.draw:DRAWBaseline",
    },
}


def module_name(section: str, model: str) -> str:
    return FAMILIES[section][model].partition(":")[0]


def load(section: str, model: str, entry: str = "<entry>") -> type:
    """The family class of ``model`` in ``section``, importing its module (and so its networks); an
    unknown model is a ConfigError naming the key ``<section>.<entry>.model``."""
    try:
        module, _, cls = FAMILIES[section][model].partition(":")
    except KeyError:
        known = ", ".join(sorted(FAMILIES.get(section, {})))
        raise ConfigError(f"{section}.{entry}.model: unknown model {model!r}; known: {known}") from None
    return getattr(importlib.import_module(module), cls)
