"""The FID Inception through the graph (issue 18): stage fetch_weights, then score_reference and
score@ with both extractors, at tiny scale with the test-only random weights (no network here)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import committed_params, make_project, run_ok


@pytest.mark.slow
def test_scores_on_the_fid_inception_through_the_graph(tmp_path):
    params = committed_params()
    params["scale"] = "tiny"
    params["tiny"].update(extractors=["evaluator", "inception"], captions_per_image=1)
    params["weights"]["random_for_tests"] = True
    work, env, dvc = make_project(tmp_path, params)
    out = run_ok(dvc + ["repro", "score@attngan"], work, env, timeout=1200)
    assert "fid_inception: weights-inception-2015-12-05-6726825d.pth (RANDOM weights (test only)" in out
    manifest = json.loads((work / "models/weights/weights.json").read_text())
    assert set(manifest) == {"fid_inception"} and manifest["fid_inception"]["random"] is True
    scores = json.loads((work / "reports/attngan/scores.json").read_text())
    for row in ("final", "real", "untrained"):
        s = scores[row]
        assert np.isfinite([s["is_inception"], s["fid_inception"], s["kid_inception"], s["fid"]]).all()
        inc = s["protocol"]["inception"]
        assert inc["weights_random"] is True and any("RANDOM extractor weights" in n for n in inc["notes"])
        assert inc["weights_sha256"] == manifest["fid_inception"]["sha256"]
    assert scores["real"]["fid_inception"] < 1e-3 < scores["untrained"]["fid_inception"]
    # two halves of the real test set, from the features score_reference stored: close, against
    # the untrained generator's distance to the whole set
    import sys

    sys.path.insert(0, str(work / "src"))  # the copy's code, as the stages ran it
    from t2igan.metrics import fidelity
    from t2igan.score import Reference

    real = Reference.load(work / "data/reference").features.inception
    half = len(real["2048"]) // 2
    halves = fidelity.metrics({k: v[:half] for k, v in real.items()}, {k: v[half:] for k, v in real.items()},
                              extractor="inception", isc_splits=2, kid_subset_size=half)
    assert halves["fid"] < scores["untrained"]["fid_inception"] / 2
    # the default quick graph needs no weights: the stage writes an empty manifest
    params["scale"], params["weights"]["random_for_tests"] = "quick", False
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run_ok(dvc + ["repro", "fetch_weights"], work, env)
    assert "quick needs no pretrained weights" in out
    assert json.loads((work / "models/weights/weights.json").read_text()) == {}
