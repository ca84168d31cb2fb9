"""Feature extraction (EfficientNet-Lite0 at 64 px on Fashion-MNIST): torch against ONNX Runtime, 1 and 2 threads.

Encodes the offline default's test images (``test_per_class`` per class, as ``configs/kbsc_offline.toml``)
with :func:`semlink.tx.extract_features` through both backends, in alternation in one process
(repeats interleaved, so load from other processes hits both alike), and prints images/s for each
backend and thread count and the speed-up. Then it checks that retrieval is unchanged: the largest
difference between the two backends' L2-normalised features, and the offline KB's top-1 (each of
the first half of a class's images, the queries, against the last half, the KB) under each backend:
the same nearest item and label for every query.

Target: ONNX Runtime >= 3x torch's images/s at each thread count; top-1 unchanged.

    python benchmarks/features_speed.py [--per-class 400] [--threads 1,2] [--repeats 2]

The ONNX file is exported once into a temporary cache folder first (its time is printed apart).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    import semlink.threads  # noqa: F401  (before torch: OpenMP waits passively)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=400, help="test images per class (offline default: 400)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()

    import numpy as np
    import torch

    from semlink.data import load_dataset, subset_per_class
    from semlink.tx import create_encoder, extract_features

    test = load_dataset("fashion-mnist", split="test")
    test = test.subset(subset_per_class(test.labels, args.per_class, seed=None))
    n = len(test)
    cache = tempfile.mkdtemp(prefix="semlink-onnx-bench-")
    encoders = {
        backend: create_encoder("efficientnet-lite0", image_size=args.image_size, device="cpu",
                                backend=backend, cache_dir=cache)
        for backend in ("torch", "onnxruntime")
    }
    tic = time.perf_counter()
    encoders["onnxruntime"].encode(np.zeros((1, 28, 28), np.uint8))
    print(f"ONNX export + check (once per weights, size and versions): {time.perf_counter() - tic:.1f} s")

    speed: dict[str, dict[str, list[float]]] = {}
    features: dict[str, torch.Tensor] = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for _ in range(args.repeats):
            for backend, encoder in encoders.items():
                tic = time.perf_counter()
                features[backend] = extract_features(encoder, test, progress=False)
                speed.setdefault(str(threads), {}).setdefault(backend, []).append(n / (time.perf_counter() - tic))
    print(f"\n{n} Fashion-MNIST images at {args.image_size} px, images/s (best of {args.repeats}; "
          "other processes' load makes single figures noisy):")
    summary = {}
    for threads, by_backend in speed.items():
        best = {b: max(v) for b, v in by_backend.items()}
        ratio = best["onnxruntime"] / best["torch"]
        summary[threads] = {"torch": round(best["torch"]), "onnxruntime": round(best["onnxruntime"]),
                            "speedup": round(ratio, 2)}
        print(f"  {threads} thread(s): torch {best['torch']:7.0f}   onnxruntime {best['onnxruntime']:7.0f}   "
              f"{ratio:.2f}x")

    a, b = features["torch"], features["onnxruntime"]
    max_diff = float((a - b).abs().max())
    labels = torch.as_tensor(test.labels)
    query = torch.zeros(n, dtype=torch.bool)
    for c in labels.unique():  # first half of each class: queries; last half: the KB
        idx = torch.nonzero(labels == c).flatten()
        query[idx[: len(idx) // 2]] = True
    nearest = {k: (f[query] @ f[~query].T).argmax(1) for k, f in features.items()}
    kb_labels = labels[~query]
    same_item = int((nearest["torch"] == nearest["onnxruntime"]).sum())
    acc = {k: float((kb_labels[v] == labels[query]).float().mean()) for k, v in nearest.items()}
    print(f"\nmax |difference| of L2-normalised features: {max_diff:.2e}")
    print(f"top-1 nearest KB item identical for {same_item} of {int(query.sum())} queries; "
          f"top-1 accuracy torch {acc['torch']:.4f}, onnxruntime {acc['onnxruntime']:.4f}")
    met = all(s["speedup"] >= 3.0 for s in summary.values()) and same_item == int(query.sum())
    print(json.dumps({"benchmark": "features_speed", "images": n, "images_per_s": summary,
                      "max_feature_diff": max_diff, "top1_same_item": same_item, "queries": int(query.sum()),
                      "top1_accuracy": acc, "target_speedup": 3.0, "targets_met": met}))


if __name__ == "__main__":
    main()
