"""torch-fidelity glue: the random-weight FID Inception agrees with pytorch-fid; IS / FID / KID sanity; errors.

No real Inception weights exist here, so the network gets random weights (BatchNorm statistics
calibrated on two images so activations stay in range through 90-odd layers).  For the
properties of the metrics themselves a pixel-reading stub extractor, registered with
torch-fidelity the way the project's ``evaluator`` will be, keeps the tests fast.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_fid import inception as pytorch_fid_inception
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from t2igan import weights
from t2igan.metrics import fidelity
from t2igan.weights import WeightsError, sha256, smooth_images

# pytorch-fid's InceptionV3 wrapper regroups the same modules into four blocks; the max pools and the
# final average pool it inserts carry no weights, and it drops fc (the 1008 logits).
PYTORCH_FID_BLOCKS = [
    ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"],
    ["Conv2d_3b_1x1", "Conv2d_4a_3x3"],
    ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"],
    ["Mixed_7a", "Mixed_7b", "Mixed_7c"],
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def to_pytorch_fid_wrapper(state: dict) -> dict:
    """torch-fidelity (= fid_inception_v3 file) keys -> pytorch_fid.inception.InceptionV3 keys."""
    prefix = {name: f"blocks.{b}.{i}" for b, names in enumerate(PYTORCH_FID_BLOCKS) for i, name in enumerate(names)}
    out = {}
    for key, value in state.items():
        module, rest = key.split(".", 1)
        if module in prefix:
            out[f"{prefix[module]}.{rest}"] = value
    return out


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """A weights file in torch-fidelity's (and pytorch-fid's) format, with random weights: the
    test-only file stage fetch_weights writes with ``weights.random_for_tests``."""
    return weights.random_fid_inception(tmp_path_factory.mktemp("inception") / "random-inception.pth", seed=0)


@pytest.fixture(scope="module")
def both_networks(random_inception):
    """torch-fidelity's extractor and pytorch-fid's InceptionV3, loaded from the same file."""
    ours = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=random_inception)
    state = torch.load(random_inception, weights_only=True)
    with pytest.MonkeyPatch.context() as mp:
        # fid_inception_v3 would download its file; hand it ours instead (loaded strictly)
        mp.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state)
        theirs = pytorch_fid_inception.InceptionV3([3]).eval()
    return ours, theirs, state


@pytest.fixture(scope="module")
def pool3(both_networks):
    ours, theirs, _ = both_networks
    images = smooth_images(12, 299, seed=2)
    with torch.no_grad():
        a = ours(images)[0]
        # pytorch-fid computes 2x - 1; x = u / 256 makes that exactly torch-fidelity's (u - 128) / 128
        b = theirs(images.float() / 256)[0].flatten(1)
    return images, a, b


def test_state_dict_layouts(both_networks):
    ours, theirs, state = both_networks
    # file level: fid_inception_v3 loaded the file strictly, so its keys are torch-fidelity's
    assert set(state) == set(ours.state_dict())
    renamed = to_pytorch_fid_wrapper(state)
    wrapper = theirs.state_dict()
    assert set(renamed) == set(wrapper)
    in_blocks = tuple(f"{name}." for names in PYTORCH_FID_BLOCKS for name in names)
    assert {k for k in state if not k.startswith(in_blocks)} == {"fc.weight", "fc.bias"}
    assert all(torch.equal(renamed[k], wrapper[k]) for k in wrapper)


def test_pool3_features_match_pytorch_fid(pool3):
    _, a, b = pool3
    assert a.shape == b.shape == (12, 2048)
    assert a.std(0).mean() > 1e-2 * a.abs().max()            # features vary across images: the check has teeth
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4 * float(a.abs().max()))


def test_pytorch_fid_own_input_scaling_differs(both_networks, pool3):
    # pytorch-fid's loader gives u / 255, so white maps to +1.0; the TF graph (torch-fidelity) gives 127/128
    _, theirs, _ = both_networks
    images, a, _ = pool3
    with torch.no_grad():
        c = theirs(images[:2].float() / 255)[0].flatten(1)
    assert not torch.allclose(a[:2], c, rtol=0, atol=1e-4 * float(a.abs().max()))


def test_fid_from_features_matches_pytorch_fid(pool3):
    # The 2048-d FID of these features takes ~30 s (torch-fidelity's eigvals) + ~90 s (pytorch-fid's
    # sqrtm) on a 2-core CPU, and with 6 images per set the covariances are singular (pytorch-fid's
    # sqrtm can then raise "Imaginary component"; a one-off run here agreed to 2e-7 all the same).
    # So compare the two formulas on the 4 highest-variance pool3 dimensions, where N > k.
    _, a, b = pool3
    dims = a.var(0).argsort(descending=True)[:4]
    ta, tb = a[:6, dims], a[6:, dims]
    ours = fid_statistics_to_metric(fid_features_to_statistics(ta), fid_features_to_statistics(tb), False)
    pa, pb = b[:6, dims].double().numpy(), b[6:, dims].double().numpy()
    theirs = calculate_frechet_distance(pa.mean(0), np.cov(pa, rowvar=False), pb.mean(0), np.cov(pb, rowvar=False))
    assert ours["frechet_inception_distance"] > 0
    assert ours["frechet_inception_distance"] == pytest.approx(theirs, rel=1e-3)


def test_score_inception_from_hub_cache(random_inception, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    cached = tmp_path / "checkpoints" / fidelity.INCEPTION_FILE
    cached.write_bytes(random_inception.read_bytes())
    digest = sha256(cached)
    spec = fidelity.EXTRACTORS["inception"]
    monkeypatch.setitem(fidelity.EXTRACTORS, "inception", dataclasses.replace(spec, weights_sha256=digest[:8]))
    images = smooth_images(4, 48, seed=3).permute(0, 2, 3, 1).numpy()
    rec = fidelity.score(images, None, isc_splits=2)
    assert np.isfinite(rec["is_mean"]) and rec["is_mean"] >= 1.0
    assert rec["fid"] is None and rec["kid_mean"] is None
    assert rec["weights_file"] == fidelity.INCEPTION_FILE and rec["weights_sha256"] == digest
    assert rec["fidelity_extractor"] == "inception-v3-compat" and rec["feature_layers"] == {"isc": "logits_unbiased"}
    assert "interpolate_bilinear_2d_like_tensorflow1x" in rec["resize"] and rec["generated_size"] == [48, 48]
    assert rec["n_generated"] == 4 and rec["n_real"] is None and rec["isc_splits"] == 2
    assert any("not comparable" in n for n in rec["notes"])


def test_wrong_sha256_is_find_weights_error(random_inception):
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(WeightsError, match=f"SHA-256 .* does not start with the expected {fidelity.INCEPTION_SHA256}"):
        fidelity.score(images, None, weights_path=str(random_inception))


def test_missing_weights_offline_says_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError, match="not found") as err:
        fidelity.score(np.zeros((2, 8, 8, 3), np.uint8), None)
    assert fidelity.INCEPTION_FILE in str(err.value) and fidelity.INCEPTION_URL in str(err.value)


# --- metric properties through the glue, with a stub extractor -------------------------------------

K = 4                 # classes the stub predicts
CONFIDENT = 50.0      # logit margin: softmax is one-hot to double precision


class PixelCode(FeatureExtractorBase):
    """Reads its outputs off the pixels of uint8 [B, 3, H, W] images.

    '6': the first two pixels of row 0, all channels (6-d; named by its size, as torch-fidelity's
    are).  'logits': CONFIDENT * one-hot of class (red of pixel (0, 0)) mod K when green of
    pixel (0, 0) is non-zero, else all zeros.
    """

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("6", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "6", "kid": "6", "prc": "6"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 2, 2, dtype=torch.uint8)

    def forward(self, x):
        feat = x[:, :, 0, :2].flatten(1).double()
        label = x[:, 0, 0, 0].long() % K
        confident = (x[:, 1, 0, 0] > 0).double()[:, None]
        logits = CONFIDENT * confident * F.one_hot(label, K).double()
        out = {"6": feat, "logits": logits}
        return tuple(out[name] for name in self.features_list)


STUB = "t2igan-test-pixels"


@pytest.fixture(scope="module", autouse=True)
def stub_extractor():
    fidelity.register_extractor(STUB, PixelCode, resize="none: the stub reads raw pixels")
    fidelity.register_extractor(STUB, PixelCode, resize="none: the stub reads raw pixels")  # idempotent
    yield
    fidelity.EXTRACTORS.pop(STUB, None)


def random_set(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def coded(labels, confident: bool) -> np.ndarray:
    images = random_set(len(labels), seed=5)
    images[:, 0, 0, 0] = labels
    images[:, 0, 0, 1] = 1 if confident else 0
    return images


def test_is_of_uniform_predictions_is_one():
    rec = fidelity.score(coded(np.arange(8) % K, confident=False), None, extractor=STUB)
    assert rec["is_mean"] == pytest.approx(1.0, abs=1e-12) and rec["is_std"] == pytest.approx(0.0, abs=1e-12)
    assert rec["isc_splits"] == 8 and any("10 splits asked for" in n for n in rec["notes"])


def test_is_of_confident_balanced_predictions_is_k():
    rec = fidelity.score(coded(np.arange(4 * K) % K, confident=True), None, extractor=STUB, isc_splits=1)
    assert rec["is_mean"] == pytest.approx(K, rel=1e-12)
    # one class only: p(y) is that class, every KL is 0
    rec = fidelity.score(coded(np.zeros(8, int), confident=True), None, extractor=STUB, isc_splits=1)
    assert rec["is_mean"] == pytest.approx(1.0, rel=1e-12)


def test_fid_zero_on_identical_sets_and_symmetric():
    a, b = random_set(16, seed=6), random_set(16, seed=7)
    same = fidelity.score(a, a.copy(), extractor=STUB, kid_subsets=5)
    scale = float(np.trace(np.cov(a[:, 0, :2].reshape(16, -1).astype(float), rowvar=False)))
    assert abs(same["fid"]) < 1e-9 * scale
    ab = fidelity.score(a, b, extractor=STUB, kid_subsets=5)["fid"]
    ba = fidelity.score(b, a, extractor=STUB, kid_subsets=5)["fid"]
    assert ab > 1.0 and ab == pytest.approx(ba, rel=1e-9)
    # and the same number pytorch-fid's formula gives on these features
    fa = a[:, 0, :2].transpose(0, 2, 1).reshape(16, -1).astype(float)   # the stub's order: channel, then pixel
    fb = b[:, 0, :2].transpose(0, 2, 1).reshape(16, -1).astype(float)
    ref = calculate_frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    assert ab == pytest.approx(ref, rel=1e-6)


def test_kid_subset_shrinks_to_the_smaller_set_and_says_so():
    rec = fidelity.score(random_set(5, seed=8), random_set(7, seed=9), extractor=STUB, kid_subsets=10, seed=3)
    assert rec["kid_subset_size"] == 1000 and rec["kid_subset_size_used"] == 5
    assert any("larger than the generated set (5 images): used 5" in n for n in rec["notes"])
    assert any("5 images for 6-d features: the covariance is singular" in n for n in rec["notes"])
    assert np.isfinite(rec["kid_mean"]) and rec["kid_subsets"] == 10 and rec["seed"] == 3
    assert (rec["n_generated"], rec["n_real"]) == (5, 7)
    again = fidelity.score(random_set(5, seed=8), random_set(7, seed=9), extractor=STUB, kid_subsets=10, seed=3)
    other = fidelity.score(random_set(5, seed=8), random_set(7, seed=9), extractor=STUB, kid_subsets=10, seed=4)
    assert again["kid_mean"] == rec["kid_mean"] and other["kid_mean"] != rec["kid_mean"]


@pytest.mark.parametrize("which", ["generated", "real"])
@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 8, 8, 3), np.float32), "must be uint8"),
    (np.zeros((4, 8, 8), np.uint8), r"\[N, H, W, 3\].*grayscale"),
    (np.zeros((4, 3, 8, 8), np.uint8), "channels first"),
    (np.zeros((0, 8, 8, 3), np.uint8), "set is empty"),
    (np.zeros((1, 8, 8, 3), np.uint8), "at least 2"),
])
def test_bad_inputs_name_the_set(which, bad, match):
    good = random_set(4, seed=10)
    generated, real = (bad, good) if which == "generated" else (good, bad)
    with pytest.raises(ValueError, match=match) as err:
        fidelity.score(generated, real, extractor=STUB)
    assert str(err.value).startswith(which)


def test_extractor_names():
    with pytest.raises(ValueError, match="unknown feature extractor 'nope'.*inception"):
        fidelity.score(random_set(2, 0), None, extractor="nope")
    # a torch-fidelity extractor of its own would download its weights
    with pytest.raises(WeightsError, match="would download"):
        fidelity.score(random_set(2, 0), None, extractor="vgg16")
    with pytest.raises(ValueError, match="already registered"):
        fidelity.register_extractor(STUB, FeatureExtractorInceptionV3, resize="-")


def test_device_maps_onto_torch_fidelitys_cuda_flag():
    assert fidelity.cuda_device("cpu") == (False, None)
    with pytest.raises(ValueError, match="CPU or CUDA only"):
        fidelity.cuda_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            fidelity.cuda_device("cuda:0")
    else:
        assert fidelity.cuda_device("cuda:0") == (True, 0)


def test_inception_scores_of_a_set_through_the_scoring_path(random_inception, tmp_path):
    """score.set_features with the FID Inception (as stage fetch_weights places it): two halves of
    one set are close, a set against uniform noise is far; the file's checksum is the one checked."""
    from t2igan import score
    from t2igan.models.evaluator import Evaluator
    from t2igan.train import checkpoint

    torch.manual_seed(0)
    checkpoint.save(tmp_path / "evaluator.pt", {"state": Evaluator(4, 3, 4).state_dict(), "settings": {"width": 4},
                                                "n_classes": 4, "n_attributes": 3})
    inception = score.InceptionWeights(str(random_inception), sha256(random_inception), random=True)
    images = smooth_images(48, 64, seed=5).permute(0, 2, 3, 1).numpy()
    noise = np.random.default_rng(0).integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    feats = {k: score.set_features(x, evaluator_path=str(tmp_path / "evaluator.pt"), judges={}, inception=inception)
             for k, x in (("a", images[:24]), ("b", images[24:]), ("noise", noise))}
    assert feats["a"].inception["2048"].shape == (24, 2048) and feats["a"].inception["logits_unbiased"].shape[1] == 1008
    close = fidelity.metrics(feats["a"].inception, feats["b"].inception, extractor="inception", isc_splits=2,
                             kid_subset_size=24, random_weights=True)
    far = fidelity.metrics(feats["a"].inception, feats["noise"].inception, extractor="inception", isc_splits=2,
                           kid_subset_size=24, random_weights=True)
    assert 0 <= close["fid"] < far["fid"] / 5 and close["kid_mean"] < far["kid_mean"]
    assert far["weights_random"] and any("RANDOM extractor weights" in n for n in far["notes"])
    wrong = score.InceptionWeights(str(random_inception), None, random=False)  # the pinned checksum: refused
    with pytest.raises(WeightsError, match="does not start with the expected 6726825d"):
        score.set_features(images[:4], evaluator_path=str(tmp_path / "evaluator.pt"), judges={}, inception=wrong)


def test_inception_score_equals_torch_fidelity_and_survives_empty_classes():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.from_numpy(np.random.default_rng(3).normal(0, 4, (37, 50))).float()
    ours, theirs = fidelity.inception_score(logits, 5, 11), isc_features_to_metric(logits, 5, True, 11)
    assert ours["mean"] == theirs["inception_score_mean"] and ours["std"] == theirs["inception_score_std"]
    # a class with no mass in a split (float64 softmax underflows past a gap of ~745): 0 log(0/0) = 0,
    # where torch-fidelity gives NaN; with one image a split, p(y) = p(y|x) and every KL is 0
    extreme = torch.zeros(4, 3)
    extreme[:, 0] = 1000.0
    assert np.isnan(isc_features_to_metric(extreme, 4, True, 0)["inception_score_mean"])
    assert fidelity.inception_score(extreme, 4, 0) == {"mean": 1.0, "std": 0.0}


def test_inception_score_of_denormal_probabilities_is_finite():
    """p(y|x) of 5e-324 (the smallest float64) divided by 3 in the mean is 0: log p(y) then comes from
    the log-probabilities, where log 0 would make the KL infinite."""
    logits = torch.tensor([[745.0, 0.0], [1000.0, 0.0], [1000.0, 0.0]], dtype=torch.float64)
    assert logits.softmax(dim=1)[:, 1].mean() == 0 and logits.softmax(dim=1)[0, 1] > 0
    assert fidelity.inception_score(logits, 1, 0)["mean"] == pytest.approx(1.0, abs=1e-12)  # all sure of class 0
