"""Image codec benchmark: encode and decode time per image, bytes and PSNR of every codec, side by side.

Three workloads, each batched as a sweep uses them (one ``encode`` and one ``decode`` call per
codec and workload, decoding in child processes as a receiver does):

- ``gray28``: 28 x 28 grayscale, Fashion-MNIST test images (Debian's dataset-fashion-mnist), or
  crops of scikit-image's 'camera' photo when it is not installed;
- ``rgb32``: 32 x 32 RGB crops of scikit-image's bundled colour photos (CIFAR's size);
- ``photo512``: the 512 x 512 'astronaut' photo.

Then rate matching: ``fit_to_budget`` of the gray28 batch with ``bpg`` to one budget (binary
search, 6 batch encodes). Timings are wall time per image on this machine (noisy on 2 shared
cores: each figure is the best of ``--repeats`` runs).

    python benchmarks/image_codecs.py                  # 2000 / 1000 / 4 images
    python benchmarks/image_codecs.py --small 500      # quicker

Targets (per image, batched): bpg encode <= 5 ms and decode <= 2 ms at 28 x 28 and 32 x 32
(2000 Fashion-MNIST images at one QP in <= 10 s), <= 1 s encode at 512 x 512; the Pillow codecs
encode and decode within 2 ms at the small sizes (avif at its default speed 6: 20 ms), within
1 s at 512 x 512; rate matching 2000 gray28 images with bpg in <= 40 s.
"""

from __future__ import annotations

import argparse
import gzip
import os
import time

import numpy as np

from semlink.tx.codecs import EncodeCache, create_codec, fit_to_budget

FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"

# codec -> (typical quality, label)
TYPICAL = {
    "bpg": (23, "QP 28 (BPG's default -q)"),
    "jpeg": (75, "quality 75"),
    "webp": (75, "quality 75"),
    "avif": (60, "quality 60"),
    "jpeg2000": (35, "35 dB target"),
}

# (workload, codec) -> (encode ms, decode ms) per image; a codec not listed uses its "*" entry
TARGETS_MS = {
    ("small", "bpg"): (5.0, 2.0),
    ("small", "avif"): (20.0, 2.0),
    ("small", "*"): (2.0, 2.0),
    ("photo512", "*"): (1000.0, 1000.0),
}


def gray28(n: int) -> np.ndarray:
    if os.path.exists(FASHION):
        with gzip.open(FASHION) as fh:
            return np.frombuffer(fh.read()[16:], np.uint8).reshape(-1, 28, 28)[:n].copy()
    from skimage import data

    camera = data.camera()
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 512 - 28, n), rng.integers(0, 512 - 28, n)
    return np.stack([camera[r : r + 28, c : c + 28] for r, c in zip(rows, cols)])


def rgb32(n: int) -> np.ndarray:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        r, c = rng.integers(0, photo.shape[0] - 32), rng.integers(0, photo.shape[1] - 32)
        out.append(photo[r : r + 32, c : c + 32])
    return np.stack(out)


def psnr(reference: np.ndarray, decoded: list) -> float:
    mse = np.mean((reference.astype(np.float64) - np.stack(decoded).astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(codec, images: np.ndarray, quality: int, repeats: int) -> dict:
    best_enc = best_dec = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoded = codec.encode(images, quality)
        best_enc = min(best_enc, (time.perf_counter() - start) / len(images))
        start = time.perf_counter()
        decoded = codec.decode([e.payload for e in encoded], expected_shape=images.shape[1:])
        best_dec = min(best_dec, (time.perf_counter() - start) / len(images))
    return {
        "enc_ms": 1e3 * best_enc,
        "dec_ms": 1e3 * best_dec,
        "bytes": float(np.mean([len(e.payload) for e in encoded])),
        "header": float(np.mean([e.header_bytes for e in encoded])),
        "side": float(np.mean([e.side_info_bytes for e in encoded])),
        "psnr": psnr(images, decoded),
        "failed": sum(d is None for d in decoded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000, help="images in the gray28 batch (rgb32: half)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per figure; the best is kept")
    parser.add_argument("--codecs", default="bpg,jpeg,webp,avif,jpeg2000")
    args = parser.parse_args()

    from skimage import data

    workloads = {
        "gray28": gray28(args.small),
        "rgb32": rgb32(max(1, args.small // 2)),
        "photo512": np.repeat(data.astronaut()[None], 4, axis=0),
    }
    names = [c.strip() for c in args.codecs.split(",") if c.strip()]
    print(f"{'workload':9} {'codec':9} {'setting':26} {'N':>5} {'enc ms/img':>10} {'dec ms/img':>10} "
          f"{'bytes':>9} {'hdr':>5} {'side':>5} {'PSNR dB':>8} {'target enc/dec ms':>18}  ok")
    missed = []
    for workload, images in workloads.items():
        for name in names:
            codec = create_codec(name)
            quality, label = TYPICAL[name]
            r = measure(codec, images, quality, args.repeats)
            kind = "photo512" if workload == "photo512" else "small"
            target = TARGETS_MS.get((kind, name), TARGETS_MS[(kind, "*")])
            ok = r["enc_ms"] <= target[0] and r["dec_ms"] <= target[1] and r["failed"] == 0
            if not ok:
                missed.append(f"{workload}/{name}")
            print(f"{workload:9} {name:9} {label:26} {len(images):5d} {r['enc_ms']:10.2f} {r['dec_ms']:10.2f} "
                  f"{r['bytes']:9.1f} {r['header']:5.1f} {r['side']:5.0f} {r['psnr']:8.2f} "
                  f"{target[0]:>8.0f} / {target[1]:<7.0f}  {'yes' if ok else 'NO'}", flush=True)

    if "bpg" in names:
        images = workloads["gray28"]
        codec = create_codec("bpg")
        budget = 8 * 200
        start = time.perf_counter()
        fitted = fit_to_budget(codec, images, budget, cache=EncodeCache())
        seconds = time.perf_counter() - start
        target_s = 40.0 * len(images) / 2000
        fits = [f for f in fitted if f.fits]
        print(f"\nrate matching: bpg, {len(images)} gray28 images to {budget} bits: {seconds:.1f} s "
              f"(target <= {target_s:.0f} s) {'yes' if seconds <= target_s else 'NO'}; {len(fits)} fit, mean QP "
              f"{np.mean([codec.quality_to_qp(f.quality) for f in fits]):.1f}, mean payload "
              f"{np.mean([f.payload_bits for f in fits]) / 8:.1f} bytes")
        if seconds > target_s:
            missed.append("rate matching")
    print("\nall targets met" if not missed else f"\ntargets missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
