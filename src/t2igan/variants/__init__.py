"""The GAN variants by name.  Adding one: its own module here, a line below, its name in
params.yaml's ``variants`` list (which is also the train@ / generate@ matrix of dvc.yaml)."""
from t2igan.variants.attngan import AttnGAN
from t2igan.variants.base import Batch, Fake, Variant
from t2igan.variants.dualattngan import DualAttnGAN

REGISTRY: dict[str, type[Variant]] = {
    "attngan": AttnGAN,
    "dualattngan": DualAttnGAN,
}

__all__ = ["REGISTRY", "Batch", "Fake", "Variant"]
