"""The evaluator classifier as a torch-fidelity feature extractor (``score(extractor="evaluator")``).

IS reads its species logits; FID and KID compare its pooled features; attribute accuracy reads
its attribute logits (``attributes``), from the same pass.  Its numbers are
comparable only with other numbers from the same evaluator file (its SHA-256 is recorded).
"""
from __future__ import annotations

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from t2igan.metrics import fidelity
from t2igan.models.evaluator import load

NAME = "evaluator"
RESIZE = "none: images are scored at their own size (the evaluator is fully convolutional), x / 127.5 - 1"


class EvaluatorFeatures(FeatureExtractorBase):
    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError("the evaluator extractor needs weights_path (models/evaluator/evaluator.pt)")
        self.model = load(feature_extractor_weights_path).requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return "features", "logits", "attributes"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "features", "kid": "features"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 64, 64, dtype=torch.uint8)

    def forward(self, x: torch.Tensor):
        features, logits, attributes = self.model(x.float() / 127.5 - 1.0)
        out = {"features": features, "logits": logits, "attributes": attributes}
        return tuple(out[name] for name in self.features_list)


fidelity.register_extractor(NAME, EvaluatorFeatures, resize=RESIZE)
