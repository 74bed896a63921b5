"""The side-by-side reference for bench/predict_speed: a scikit-learn random forest
(Debian python3-sklearn) doing the same per-layer prediction — one row of 16 features
per kernel, 100 trees of depth 12 like infercast's forest, trained on as many samples
as an infercast profile has — then the per-layer sum. Only the predict call and the sum
are timed (no kernel detection or feature extraction, which infercast's figure includes).

Usage: predict_sklearn_reference.py --kernels N [--train 2000]
"""
import argparse
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", type=int, required=True)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 30, size=(a.train, 16)).astype(np.float32)
    y = np.log(1e-3 + 2.0 ** x[:, 0] / 2e7 + 2.0 ** x[:, 1] / 1e7)
    rf = RandomForestRegressor(n_estimators=100, max_depth=12, max_features=0.7, n_jobs=1, random_state=1)
    rf.fit(x, y)
    rows = rng.uniform(0, 30, size=(a.kernels, 16)).astype(np.float32)
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        total = float(np.exp(rf.predict(rows)).sum())
        times.append(time.perf_counter() - t0)
    print(f"sklearn RandomForestRegressor(100 trees, depth 12), {a.kernels} kernels: "
          f"median {1e6 * float(np.median(times)):.0f} us per model prediction (sum {total:.3f})")


if __name__ == "__main__":
    main()
