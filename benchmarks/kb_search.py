"""Knowledge-base search benchmark: exact Flat vs IVF vs HNSW on synthetic 512-d features.

Data: a seeded mixture of Gaussian clusters, each spread over its own low-dimensional subspace
plus a little isotropic noise, then L2-normalised — structured like image embeddings, so that
approximate search is meaningful. Queries are fresh draws from the same mixture.

For each size it prints build time, queries/s and recall@1 against the exact Flat top-1, every
index timed on the same batch of ``--queries`` torch queries through ``KnowledgeBase.search``
(FAISS on ``--threads`` threads), sweeping IVF ``nprobe`` and HNSW ``efSearch`` upwards until
recall@1 passes ``--target-recall`` + 0.02.

    python benchmarks/kb_search.py                       # 10k, 100k, 1M (about 10 min on 2 cores)
    python benchmarks/kb_search.py --sizes 10k,100k      # a subset
    python benchmarks/kb_search.py --sizes 1m --methods hnsw --hnsw-max-items 1m   # HNSW at 1M (slow build)

Target: 1M items at >= 1000 q/s with recall@1 >= 0.95 on 2 cores.
"""

from __future__ import annotations

import argparse
import gc
import math
import time

import numpy as np
import torch

from semlink.bridge import import_faiss
from semlink.kb import KnowledgeBase

DIM = 512


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def make_mixture(seed: int, n_clusters: int, dim: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32) / math.sqrt(dim)
    bases = rng.standard_normal((n_clusters, rank, dim), dtype=np.float32) / math.sqrt(dim)
    return centres, bases


def sample(mixture, n: int, seed: int, spread: float = 0.25, noise: float = 0.005) -> np.ndarray:
    """``n`` L2-normalised points: centre + (rank-dim subspace spread) + isotropic noise."""
    centres, bases = mixture
    n_clusters, rank, dim = bases.shape
    rng = np.random.default_rng(seed)
    which = rng.integers(0, n_clusters, size=n)
    out = np.empty((n, dim), dtype=np.float32)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_clusters + 1))
    for c in range(n_clusters):
        rows = order[bounds[c] : bounds[c + 1]]
        if rows.size == 0:
            continue
        z = rng.standard_normal((rows.size, rank), dtype=np.float32) * spread
        # einsum, not BLAS: a thousand tiny sgemm calls thrash BLAS threads on a busy 2-core machine
        spread_part = np.einsum("nr,rd->nd", z, bases[c], optimize=False)
        out[rows] = centres[c] + spread_part + noise * rng.standard_normal((rows.size, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def timed_search(kb: KnowledgeBase, queries: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, float]:
    kb.search(queries[:64], k=k)  # warm-up
    t0 = time.perf_counter()
    res = kb.search(queries, k=k)
    return res.indices[:, 0], queries.shape[0] / (time.perf_counter() - t0)


def recall_at_1(found: torch.Tensor, exact: torch.Tensor) -> float:
    g = exact.shape[0]
    return float((found[:g] == exact).float().mean())


def ivf_config(n: int) -> tuple[str, int]:
    """(factory, training-set size) for n items: about 4*sqrt(n) lists, 8-bit scalar-quantised codes.

    At 1M the coarse quantizer is an HNSW graph over the 4096 centroids (cheap assignment when
    adding 1M vectors), and k-means trains on 12 points per list: FAISS warns below 39, but IVF
    recall hardly depends on it while training time is proportional to it.
    """
    if n <= 20_000:
        return "IVF256,SQ8", min(n, 39 * 256)
    if n <= 200_000:
        return "IVF1024,SQ8", min(n, 39 * 1024)
    return "IVF4096_HNSW32,SQ8", min(n, 12 * 4096)


def run_size(n: int, args: argparse.Namespace, faiss) -> list[dict]:
    rows: list[dict] = []
    n_clusters = max(100, n // 1000)
    mixture = make_mixture(args.seed, n_clusters, DIM, rank=args.rank)
    t0 = time.perf_counter()
    data = sample(mixture, n, seed=args.seed + 1)
    queries = torch.from_numpy(sample(mixture, args.queries, seed=args.seed + 2))
    labels = np.zeros(n, dtype=np.int64)
    print(f"\n== n={n:,} d={DIM} ({n_clusters} clusters; data {time.perf_counter() - t0:.1f}s)", flush=True)

    t0 = time.perf_counter()
    flat = KnowledgeBase.build(data, labels, factory="Flat")
    build_s = time.perf_counter() - t0
    exact, flat_qps = timed_search(flat, queries)  # the same queries every index is timed on
    del flat
    gc.collect()
    rows.append(dict(n=n, method="Flat", param="-", build_s=build_s, qps=flat_qps, recall=1.0))
    print(
        f"  Flat               build {build_s:7.1f}s   {flat_qps:9.0f} q/s   recall@1 1.000 (exact)",
        flush=True,
    )

    def sweep(method: str, build, knob: str, values: tuple[int, ...]) -> None:
        """Build once, then raise the search knob until recall@1 clears the target with margin."""
        t0 = time.perf_counter()
        kb = build()
        build_s = time.perf_counter() - t0
        label = {"nprobe": "nprobe", "ef_search": "efSearch"}[knob]
        for value in values:
            kb.set_search_params(**{knob: value})
            found, qps = timed_search(kb, queries)
            rec = recall_at_1(found, exact)
            rows.append(dict(n=n, method=method, param=f"{label}={value}", build_s=build_s, qps=qps, recall=rec))
            print(
                f"  {method:18s} build {build_s:7.1f}s   {qps:9.0f} q/s   recall@1 {rec:.3f}   {label}={value}",
                flush=True,
            )
            if rec >= args.target_recall + 0.02:
                break
        del kb
        gc.collect()

    if "ivf" in args.methods:
        factory, n_train = ivf_config(n)
        sweep(
            factory,
            lambda: KnowledgeBase.build(data, labels, factory=factory, train_features=data[:n_train], seed=args.seed),
            "nprobe",
            (1, 2, 4, 8, 16, 32, 64, 128),
        )

    if "hnsw" in args.methods and n > args.hnsw_max_items:
        print(
            f"  HNSW32             skipped: n > --hnsw-max-items {args.hnsw_max_items:,} (1M takes ~10 min to build on 2 cores)"
        )
    elif "hnsw" in args.methods:
        sweep("HNSW32", lambda: KnowledgeBase.build(data, labels, factory="HNSW32"), "ef_search",
              (16, 32, 64, 128, 256, 512))
    return rows


def summarise(rows: list[dict], target_qps: float, target_recall: float) -> None:
    print(f"\n== summary: fastest setting with recall@1 >= {target_recall} (speed-up vs exact Flat)")
    print(f"{'n':>9}  {'method':18s} {'param':13s} {'build s':>8} {'q/s':>9} {'recall@1':>9} {'x Flat':>7}")
    for n in sorted({r["n"] for r in rows}):
        flat = next(r for r in rows if r["n"] == n and r["method"] == "Flat")
        print(
            f"{n:>9,}  {'Flat':18s} {'-':13s} {flat['build_s']:8.1f} {flat['qps']:9.0f} {1.0:9.3f} {1.0:7.1f}"
        )
        for method in dict.fromkeys(r["method"] for r in rows if r["n"] == n and r["method"] != "Flat"):
            ok = [r for r in rows if r["n"] == n and r["method"] == method and r["recall"] >= target_recall]
            best = max(ok, key=lambda r: r["qps"]) if ok else None
            if best is None:
                print(f"{n:>9,}  {method:18s} {'(none reached the target)':>42}")
                continue
            ratio = best["qps"] / flat["qps"]
            print(
                f"{n:>9,}  {method:18s} {best['param']:13s} {best['build_s']:8.1f} {best['qps']:9.0f} "
                f"{best['recall']:9.3f} {ratio:7.1f}"
            )
            if n >= 1_000_000:
                met = best["qps"] >= target_qps
                print(
                    f"{'':>11}target {target_qps:.0f} q/s at recall@1 >= {target_recall}: {'MET' if met else 'NOT met'}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10k,100k,1m", help="comma-separated item counts (10k, 100k, 1m, ...)"
    )
    parser.add_argument("--queries", type=int, default=2_000,
                        help="the one query batch every index is timed on (and recall measured on)")
    parser.add_argument("--methods", default="ivf,hnsw", help="approximate methods besides Flat: ivf, hnsw")
    parser.add_argument(
        "--hnsw-max-items",
        type=parse_size,
        default=200_000,
        help="skip HNSW above this size (its build is slow)",
    )
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads")
    parser.add_argument("--rank", type=int, default=16, help="dimension of each cluster's subspace")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--target-qps", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.methods = {m.strip().lower() for m in args.methods.split(",") if m.strip()}

    faiss = import_faiss()
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(
        f"faiss {faiss.__version__} ({faiss.get_compile_options()}), {args.threads} threads, "
        f"every index timed on the same {args.queries} queries"
    )
    rows: list[dict] = []
    t_all = time.perf_counter()
    for n in (parse_size(s) for s in args.sizes.split(",")):
        rows += run_size(n, args, faiss)
    summarise(rows, args.target_qps, args.target_recall)
    print(f"\ntotal {time.perf_counter() - t_all:.0f}s")


if __name__ == "__main__":
    main()
