"""Peak host RAM of scoring against the size of the set: does it stay flat as N grows? (issue 18)

    python benchmarks/score_memory.py --images 2933 29330 --size 256 --out benchmarks/results/cpu-score-memory.json

For each N, a fresh process does what stage score@ does for a reference variant (RaGAN, the
heaviest) with the functions the stage calls: the final set stored on disk and read back a slice
at a time (``io.StoredImages``), read twice (final and black reference); a floor streamed from a
generator a batch at a time; every pass through the evaluator and two DAMSM judges with each
image's reference similarity; the real row's similarity over the test crops; the shuffled
similarity, the mean pixel change; IS / FID / KID from the features and R-precision against a
caption pool of N codes.  The images are random and the networks small (the quick evaluator,
the `cnn` judges): what is measured is how memory grows with N, which the networks' sizes do
not change (at paper the Inception judges and extractor add their weights and one batch of
activations, the same for every N).  Peak RSS is the child process's ``ru_maxrss``.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def child(n: int, size: int, folder: Path, device: str = "cpu") -> dict:
    import numpy as np
    import torch

    from t2igan import allocator, io, score
    from t2igan.metrics import evaluator_features, fidelity
    from t2igan.metrics.r_precision import r_precision
    from t2igan.models import ragan
    from t2igan.models.damsm import ImageEncoder
    from t2igan.models.evaluator import Evaluator
    from t2igan.train import checkpoint

    allocator.tune()  # as stage.run does
    start = time.perf_counter()
    torch.manual_seed(0)
    model = Evaluator(200, 312, 16)
    evaluator_path = folder / "evaluator.pt"
    checkpoint.save(evaluator_path, {"state": model.state_dict(), "settings": {"width": 16}, "n_classes": 200,
                                     "n_attributes": 312})
    del model
    judges = {name: type("Judge", (), {"image": ImageEncoder("cnn", cnn_width=16, cnn_input=32).eval().to(device)})()
              for name in ("damsm", "evaluator_damsm")}
    rng = np.random.default_rng(0)

    def random_batches(count: int, batch: int = 100):
        for i in range(0, count, batch):
            yield rng.integers(0, 256, (min(batch, count - i), size, size, 3), dtype=np.uint8)

    def fill(images):
        at = 0
        for b in random_batches(n):
            images[at:at + len(b)] = b
            at += len(b)

    io.write_image_set(folder / "final", np.arange(n), size, {}, fill)
    written = time.perf_counter()
    final = io.StoredImages(folder / "final" / "images.npy")
    patches = rng.integers(0, 256, (n, 50, 50, 3), dtype=np.uint8)
    judge = score.InputJudge(judges["evaluator_damsm"], ragan.reference_similarity)
    kw = dict(evaluator_path=str(evaluator_path), judges=judges, inputs=patches, input_judge=judge, device=device)
    feats = {"final": score.set_features(final, **kw),
             "untrained": score.set_features(random_batches(n), count=n, **kw),  # streamed, as the floor is
             "black_reference": score.set_features(final, **kw)}
    test = max(2, n // 10)
    crops = rng.integers(0, 256, (test, size, size, 3), dtype=np.uint8)
    positions = np.arange(n) // 10 % test
    real = score.input_similarity(judge, (crops[positions[i:i + 500]] for i in range(0, n, 500)), patches)
    shuffled = score.input_similarity(judge, final, patches[rng.permutation(n)])
    change = score.mean_abs_difference(final, final)
    reference = feats["final"].take(positions)
    pool = torch.randn(n, 256)
    classes = np.arange(n) // 10 % 50
    for f in feats.values():
        fidelity.metrics(f.evaluator, reference.evaluator, extractor=evaluator_features.NAME, seed=0)
        for codes in f.codes.values():
            r_precision(codes, pool, classes, pool, classes, candidates=100, folds=10, seed=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"images": n, "size": size, "set_gb": round(n * size * size * 3 / 1e9, 2),
            "peak_rss_gib": round(peak, 2), "write_seconds": round(written - start, 1),
            "score_seconds": round(time.perf_counter() - written, 1), "checks": [real, shuffled, change],
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=[2933, 29330])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", help="write the rows here as JSON")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the networks run")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], Path(args.folder), args.device)))
        return
    rows = []
    for n in args.images:
        with tempfile.TemporaryDirectory(dir=ROOT) as folder:  # the project's disk, not a RAM-backed /tmp
            proc = subprocess.run([sys.executable, __file__, "--child", str(n), str(args.size), "--folder", folder,
                                   "--device", args.device],
                                  capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        from t2igan import io

        io.write_json(args.out, {"what": "peak RSS of score@'s reference-variant path against the set size",
                                 "device": args.device, "rows": rows})


if __name__ == "__main__":
    main()
