"""The GAN families by name (the ``model`` of an entry of params.yaml's ``variants``).

Adding one: ``variants/<model>.py`` (its Variant subclass, with its Options) and
``models/<model>.py`` (its networks; dvc.yaml makes both its stages' code dependencies), a line
below, and an entry in params.yaml's ``variants`` (the train@ / generate@ / score@ stages).
"""
from t2igan.variants.attngan import AttnGAN
from t2igan.variants.base import Batch, Fake, Variant
from t2igan.variants.dualattngan import DualAttnGAN
from t2igan.variants.ragan import RaGAN

REGISTRY: dict[str, type[Variant]] = {
    "attngan": AttnGAN,
    "dualattngan": DualAttnGAN,
    "ragan": RaGAN,
}

__all__ = ["REGISTRY", "Batch", "Fake", "Variant"]
