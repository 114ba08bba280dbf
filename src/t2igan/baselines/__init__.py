"""The baseline families by name (the ``model`` of an entry of params.yaml's ``baselines``).

Adding one: ``baselines/<model>.py`` (its Baseline subclass, with its Options) and
``models/<model>.py`` (its networks; dvc.yaml makes both code dependencies of its stages), a line
below, and an entry in params.yaml's ``baselines`` (the *_baseline@ stages).
"""
from t2igan.baselines.base import Baseline, BaselineSettings, RealBatch
from t2igan.baselines.dcgan import DCGAN
from t2igan.baselines.draw import DRAWBaseline

REGISTRY: dict[str, type[Baseline]] = {
    "dcgan": DCGAN,
    "draw": DRAWBaseline,
}

__all__ = ["REGISTRY", "Baseline", "BaselineSettings", "RealBatch"]
