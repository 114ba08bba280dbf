"""Procedural "synthetic birds": a CUB-200-2011-format data set drawn from scratch.

``generate(out_dir, n_images=11788, n_classes=200, seed=0, workers=2)`` writes images,
bounding boxes, the 15 part locations, the 312 attribute labels, 10 captions per image
(``text_c10``), Reed et al.'s class split files and ``caption_attributes.txt`` (which
attributes each caption names).  Modules:

* ``species``  - species prototypes, individual variation, attribute vectors
* ``draw``     - rendering a bird (parts, bbox, visibility); ``background`` - scenery
* ``captions`` - the caption grammar
* ``writer``   - the files, multiprocessing and the atomic output directory
"""
from __future__ import annotations

from t2igan.synthbirds.writer import generate, plan_dataset

__all__ = ["generate", "plan_dataset"]
