"""The default synthetic data set at quick scale, for a machine without DVC (see gpu_checks.sh)."""
import time
from pathlib import Path

from t2igan.data.preprocess import preprocess
from t2igan.synthbirds import generate

if __name__ == "__main__":  # the generator's worker pool re-imports this module
    t0 = time.perf_counter()
    generate(Path("data/birds"), n_images=11788, n_classes=200, seed=0, workers=16)
    preprocess("data/birds", "data/prepared", image_size=64, workers=16, progress=False)
    print(f"data + preprocess: {time.perf_counter() - t0:.1f} s")
