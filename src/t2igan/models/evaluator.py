"""The in-pipeline evaluator: a classifier of real bird images used to judge generated ones.

One convolutional trunk, global average pooling to a feature vector (what FID / KID compare),
and two heads: species logits (what IS reads) and one logit per CUB attribute (what the
attribute accuracy reads: for an attribute a caption names, does the evaluator pick that
value within its group, e.g. "has_wing_color::blue" among the wing colours?).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from t2igan.errors import T2IGANError
from t2igan.train import checkpoint


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Evaluator(nn.Module):
    def __init__(self, n_classes: int, n_attributes: int, width: int = 32):
        super().__init__()
        self.features_dim = 8 * width
        self.trunk = nn.Sequential(
            _block(3, width, 1), _block(width, 2 * width, 2), _block(2 * width, 2 * width, 1),
            _block(2 * width, 4 * width, 2), _block(4 * width, 4 * width, 1),
            _block(4 * width, 8 * width, 2), _block(8 * width, 8 * width, 1))
        self.species = nn.Linear(self.features_dim, n_classes)
        self.attributes = nn.Linear(self.features_dim, n_attributes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images [B, 3, s, s] in [-1, 1] -> features [B, 8w], species logits, attribute logits."""
        features = self.trunk(images).mean(dim=(2, 3))
        return features, self.species(features), self.attributes(features)


def attribute_groups(attribute_names: list[str]) -> np.ndarray:
    """Group index of every attribute column: "has_bill_shape::cone" and "...::hooked" share one."""
    names = [a.split("::", 1)[0] for a in attribute_names]
    order = {g: i for i, g in enumerate(dict.fromkeys(names))}
    return np.array([order[g] for g in names], dtype=np.int64)


def attribute_accuracy(attribute_logits: np.ndarray, named: list[np.ndarray], groups: np.ndarray) -> dict:
    """How often the evaluator reads what a caption names.

    ``attribute_logits`` [N, A]; ``named[i]``: 0-based attribute columns caption i names;
    ``groups`` [A]: the group of each column.  A named attribute is read when it has the
    highest logit of its group.  Returns the hit rate over all (image, named attribute)
    pairs and the number of pairs.
    """
    if len(named) != len(attribute_logits):
        raise ValueError(f"{len(named)} captions for {len(attribute_logits)} images")
    hits = total = 0
    for logits, attrs in zip(attribute_logits, named):
        for a in np.asarray(attrs, dtype=np.int64):
            in_group = np.flatnonzero(groups == groups[a])
            hits += int(in_group[np.argmax(logits[in_group])] == a)
            total += 1
    return {"accuracy": hits / total if total else float("nan"), "pairs": total}


def load(path: str | Path) -> Evaluator:
    """The evaluator that stage train_evaluator wrote (evaluator.pt), in eval mode.  It lives beside the
    network, not the trainer, so the scoring stages that read it do not depend on the training loop."""
    state = checkpoint.load(path)
    if state is None:
        raise T2IGANError(f"{path}: no evaluator here; run `dvc repro train_evaluator`")
    model = Evaluator(state["n_classes"], state["n_attributes"], state["settings"]["width"])
    model.load_state_dict(state["state"])
    return model.eval()
