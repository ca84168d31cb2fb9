"""Layered LDPC decoders (numba, CPU) against Sionna's flooding BP: quality, decoder speed, whole chain.

Codes:
  A  (1024, 2048) QPSK over AWGN (flat)
  B  (256, 512) 16-QAM over AWGN (flat)
  C  (912, 1824) QPSK over OFDM TDL-A (100 ns) with LS channel estimation (nn interpolation)

Eb/N0 operating points are Sionna BP's (20 iterations) BLER ~1e-1, ~1e-2 and ~1e-3, measured once
here and fixed below; every section prints the BLER it sees, so a drift shows.

Section 0 - numba: compiling the kernels from scratch (a fresh process with an empty cache
  directory; full run only) and this process's warm-up (loading them from numba's cache); not
  counted anywhere below.
Section 1 - quality: every decoder decodes the same LLRs (common random numbers) at Eb/N0 points
  around BLER 1e-2; the Eb/N0 where each waterfall crosses 1e-2 (log-linear interpolation) and the
  offset to Sionna's BP. Targets: layered-bp <= +0.05 dB with at most the same 20 iterations,
  layered-nms <= +0.2 dB. Also the paired one-sided McNemar test of each fast decoder at
  (reference Eb/N0 + its bound) against the reference: p < 1e-3 would mean "significantly worse".
Section 2 - decoder throughput: information Mb/s of each decoder on the same LLRs at the BLER 1e-1
  and 1e-3 points, 2 cores (numba threads; Sionna's BP gets the faster of 1 and 2 torch threads),
  median of alternating repetitions (min-max in brackets), mean iterations. Targets: >= 20x
  Sionna's BP at BLER 1e-3 and >= 5x at BLER 1e-1.
Section 3 - whole chain: ``DigitalLink.simulate`` (what ``semlink phy ber`` runs) at BLER 1e-3,
  today's chain (Sionna's encoder, ``Demapper("app")`` and BP) against the fast one (numba encoder,
  per-dimension demapper, best fast decoder), each with the better of 1 and 2 torch threads (the
  numba kernels always use 2). Target >= 10x.

The LAST line is one JSON object ``{"ratio_bler_1e-3": x, "ratio_bler_1e-1": y}``: over the codes,
the smallest ratio (to Sionna's BP) of the fastest fast decoder that met its quality bound in
section 1 (0 if none did).

Plain script (not collected by pytest): ``python benchmarks/ldpc_decoder.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numba
import torch

from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig, OfdmConfig
from semlink.phy.coding import LdpcCodec
from semlink.phy.ldpc import LayeredDecoder
from semlink.phy.ldpc.compare import decode_runs, ebno_at_bler, worse_pvalue
from semlink.seeding import seed_everything

REFERENCE = "sionna-bp"
FAST = ("layered-bp", "layered-nms")
BOUND_DB = {"layered-bp": 0.05, "layered-nms": 0.2}
ITERATIONS = 20
SEED = 2024


@dataclass(frozen=True)
class Code:
    name: str
    cfg: DigitalLinkConfig
    ebno_1e1: float  # Sionna BP BLER ~1e-1
    ebno_1e2: float  # ~1e-2
    ebno_1e3: float  # ~1e-3
    quality_grid: tuple[float, ...]  # Eb/N0 offsets from ebno_1e2 for the waterfall of section 1
    blocks: int  # blocks per quality point (full run)


CODES = (
    Code("A (1024,2048) QPSK AWGN", DigitalLinkConfig(code_k=1024, code_n=2048, ofdm=None),
         1.31, 1.60, 1.90, (-0.5, -0.25, 0.0, 0.25), 3000),
    Code("B (256,512) 16QAM AWGN", DigitalLinkConfig(modulation="16qam", code_k=256, code_n=512, ofdm=None),
         3.78, 4.45, 5.00, (-0.6, -0.3, 0.0, 0.3), 6000),
    Code("C (912,1824) QPSK TDL-A LS",
         DigitalLinkConfig(code_k=912, code_n=1824, channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"),
         14.0, 19.6, 24.5, (-2.0, -1.0, 0.0, 1.0), 3000),
)


def codecs_for(link: DigitalLink) -> dict[str, LdpcCodec]:
    k, n, bps = link.k, link.n, link.bits_per_symbol
    return {name: LdpcCodec(k, n, bps, ITERATIONS, decoder=name) for name in (REFERENCE, *FAST)}


# -- section 0 -------------------------------------------------------------------------------------
_COLD = """
import time
t = time.perf_counter()
from semlink.phy import DigitalLink, DigitalLinkConfig
from semlink.phy.ldpc import LayeredDecoder
imported, cpu = time.perf_counter(), time.process_time()
LayeredDecoder.warm_up()
DigitalLink(DigitalLinkConfig(code_k=40, code_n=80, ofdm=None, decoder="layered-nms")).simulate(2, 3.0)
print(time.perf_counter() - imported, time.process_time() - cpu)
"""


def cold_compile_seconds() -> tuple[float, float]:
    """Wall and CPU seconds to compile every kernel (decoder, encoder, demapper) with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        done = subprocess.run([sys.executable, "-c", _COLD], env=env, capture_output=True, text=True, check=True)
    wall, cpu = (float(v) for v in done.stdout.strip().splitlines()[-1].split())
    return wall, cpu


# -- section 1 -------------------------------------------------------------------------------------
def quality(code: Code, scale: float) -> dict[str, bool]:
    """Whether each fast decoder meets its bound: offset at BLER 1e-2 within it (NaN, not bracketed,
    does not) and the paired test at the bound not significant."""
    link = DigitalLink(code.cfg)
    codecs = codecs_for(link)
    blocks = max(200, int(code.blocks * scale))
    grid = [code.ebno_1e2 + d for d in code.quality_grid]
    bler: dict[str, list[float]] = {name: [] for name in codecs}
    print(f"  {code.name}: {blocks} blocks per point, same LLRs for every decoder")
    print(f"    {'Eb/N0':>6}" + "".join(f"  {name:>22}" for name in codecs))
    at_reference = None
    for ebno in grid:
        runs = decode_runs(link, codecs, ebno, blocks, seed=SEED)
        if ebno == code.ebno_1e2:
            at_reference = runs[REFERENCE]
        cells = []
        for name, run in runs.items():
            bler[name].append(run.bler)
            it = "" if run.iterations is None else f" ({run.iterations.mean():4.1f} it)"
            cells.append(f"{run.bler:.2e}{it}")
        print(f"    {ebno:6.2f}" + "".join(f"  {c:>22}" for c in cells))
    crossing = {name: ebno_at_bler(grid, bler[name], 1e-2, zero_floor=0.5 / blocks) for name in codecs}
    offsets = {name: crossing[name] - crossing[REFERENCE] for name in FAST}
    print("    Eb/N0 at BLER 1e-2: " + ", ".join(f"{name} {crossing[name]:.3f} dB" for name in codecs))
    for name in FAST:
        print(f"    offset {name:12s} {offsets[name]:+.3f} dB   (target <= +{BOUND_DB[name]:.2f} dB)")
    # the paired test at the bound: the fast decoder at reference Eb/N0 + bound, on the same draws
    if at_reference is None:
        at_reference = decode_runs(link, {REFERENCE: codecs[REFERENCE]}, code.ebno_1e2, blocks, seed=SEED)[REFERENCE]
    passed = {}
    for name in FAST:
        run = decode_runs(link, {name: codecs[name]}, code.ebno_1e2 + BOUND_DB[name], blocks, seed=SEED)[name]
        p = worse_pvalue(run.errors, at_reference.errors)
        passed[name] = p >= 1e-3
        print(f"    paired test {name} at +{BOUND_DB[name]:.2f} dB: BLER {run.bler:.2e} vs reference "
              f"{at_reference.bler:.2e}, p(worse) = {p:.3g}  ({'passes' if passed[name] else 'fails'} at 1e-3)")
    return {name: (offsets[name] <= BOUND_DB[name]) and passed[name] for name in FAST}


# -- section 2 -------------------------------------------------------------------------------------
def timed_reps(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Seconds per call of each function, ``reps`` rounds in alternating order."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def throughput(code: Code, ebno: float, ref_blocks: int, fast_blocks: int, reps: int) -> dict[str, float]:
    """Information Mb/s of every decoder at ``ebno`` and the ratios to Sionna's BP."""
    link = DigitalLink(code.cfg)
    codecs = codecs_for(link)
    seed_everything(SEED)
    bits, llr = link.channel_llrs(fast_blocks, link.ebno_to_snr_db(ebno))
    ref_llr = llr[:ref_blocks].clone()
    k = link.k
    rates: dict[str, tuple[float, float, float]] = {}
    for threads in (1, 2):  # Sionna's BP: the better of one and two torch threads
        torch.set_num_threads(threads)
        t = timed_reps({REFERENCE: lambda: codecs[REFERENCE].decode(ref_llr)}, reps)[REFERENCE]
        cand = (ref_blocks * k / statistics.median(t) / 1e6, ref_blocks * k / max(t) / 1e6, ref_blocks * k / min(t) / 1e6)
        print(f"    {REFERENCE} with {threads} torch thread(s): {cand[0]:8.3f} Mb/s")
        if REFERENCE not in rates or cand[0] > rates[REFERENCE][0]:
            rates[REFERENCE] = cand
    torch.set_num_threads(2)
    times = timed_reps({name: (lambda c=codecs[name]: c.decode(llr)) for name in FAST}, reps)
    for name in FAST:
        t = times[name]
        rates[name] = (fast_blocks * k / statistics.median(t) / 1e6, fast_blocks * k / max(t) / 1e6,
                       fast_blocks * k / min(t) / 1e6)
    print(f"    {'decoder':12s} {'blocks':>6} {'BLER':>9} {'iter':>5} {'Mb/s':>9} {'(min-max)':>17} {'ratio':>7}")
    for name, codec in codecs.items():
        blocks = ref_blocks if name == REFERENCE else fast_blocks
        bits_hat, _ = codec.decode(ref_llr if name == REFERENCE else llr)
        bler = float((bits_hat != bits[:blocks]).any(dim=-1).float().mean())
        it = ITERATIONS if codec.last_iterations is None else float(codec.last_iterations.float().mean())
        med, low, high = rates[name]
        print(f"    {name:12s} {blocks:6d} {bler:9.2e} {it:5.2f} {med:9.3f} ({low:7.3f}-{high:7.3f}) "
              f"{med / rates[REFERENCE][0]:6.1f}x")
    return {name: rates[name][0] / rates[REFERENCE][0] for name in FAST}


# -- section 3 -------------------------------------------------------------------------------------
def todays_link(cfg: DigitalLinkConfig) -> DigitalLink:
    """``DigitalLink`` as before the fast path: Sionna's encoder, ``Demapper("app")`` and BP."""
    from sionna.phy.mapping import Demapper

    link = DigitalLink(replace(cfg, decoder=REFERENCE))
    link._demapper = Demapper("app", constellation=link._mapper.constellation, device=link.device)
    codec = link.codec
    assert codec is not None
    codec.encode = lambda bits: codec.encoder(bits)  # bypass the numba encoder
    return link


def best_rate(name: str, fn: Callable[[], object], bits: int, reps: int) -> float:
    """Mb/s of ``fn`` (``bits`` information bits per call): the better of 1 and 2 torch threads."""
    best = 0.0
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fn()  # warm-up of the torch ops at this batch size and thread count
        t = timed_reps({name: fn}, reps)[name]
        rate = bits / statistics.median(t) / 1e6
        print(f"    {name}, {threads} torch thread(s): {rate:8.3f} Mb/s "
              f"({bits / max(t) / 1e6:.3f}-{bits / min(t) / 1e6:.3f})")
        best = max(best, rate)
    torch.set_num_threads(2)
    return best


def whole_chain(code: Code, decoder: str, before_blocks: int, after_blocks: int, reps: int) -> float:
    before = todays_link(code.cfg)
    after = DigitalLink(replace(code.cfg, decoder=decoder))
    snr = before.ebno_to_snr_db(code.ebno_1e3)
    k = before.k
    rate_before = best_rate("today's chain (Sionna BP)", lambda: before.simulate(before_blocks, snr),
                            before_blocks * k, reps)
    rate_after = best_rate(f"fast chain ({decoder})", lambda: after.simulate(after_blocks, snr),
                           after_blocks * k, reps)
    ratio = rate_after / rate_before
    print(f"    ratio {ratio:.1f}x   (target >= 10x)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a quarter of the blocks, 2 repetitions")
    parser.add_argument("--reps", type=int, default=None, help="timing repetitions (default 3, quick 2)")
    parser.add_argument("--codes", default="ABC", help="which codes, e.g. 'AB'")
    parser.add_argument("--skip-chain", action="store_true")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    reps = args.reps or (2 if args.quick else 3)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(2)
    codes = [c for c in CODES if c.name[0] in args.codes.upper()]
    print(f"torch {torch.__version__}, numba {numba.__version__} ({numba.get_num_threads()} threads), cpu")
    start = time.perf_counter()

    print("== 0. numba compile and warm-up (not counted) ==")
    if not args.quick:
        wall, cpu = cold_compile_seconds()
        print(f"  compiling all kernels with an empty cache (fresh process): {wall:.1f} s wall, {cpu:.1f} s CPU")
    warm = LayeredDecoder.warm_up()
    link = DigitalLink(replace(CODES[0].cfg, decoder="layered-nms"))
    t0 = time.perf_counter()
    link.simulate(4, 3.0)  # encoder kernel and the rest of the chain
    print(f"  decoder kernels {warm:.2f} s, encoder kernel and first chain call {time.perf_counter() - t0:.2f} s")

    print("== 1. quality: Eb/N0 at BLER 1e-2, offsets to Sionna's BP (20 iterations) ==")
    meets: dict[str, dict[str, bool]] = {}
    for code in codes:
        meets[code.name] = quality(code, scale)

    print("== 2. decoder throughput (information bits) ==")
    ratios: dict[str, dict[str, float]] = {"1e-1": {}, "1e-3": {}}
    fastest: dict[str, str] = {}
    ref_blocks = 60 if args.quick else 200
    for code in codes:
        fast_blocks = max(200, int(4000 * scale)) if code.cfg.code_k >= 512 else max(500, int(10000 * scale))
        per_point = {}
        for label, ebno in (("1e-1", code.ebno_1e1), ("1e-3", code.ebno_1e3)):
            print(f"  {code.name} at Eb/N0 {ebno} dB (Sionna BP BLER ~{label})")
            per_point[label] = throughput(code, ebno, ref_blocks * (4 if code.cfg.code_k < 512 else 1),
                                          fast_blocks, reps)
        ok = [name for name in FAST if meets[code.name][name]]
        for label in ratios:
            ratios[label][code.name] = max((per_point[label][name] for name in ok), default=0.0)
        fastest[code.name] = max(ok, key=lambda name: per_point["1e-3"][name]) if ok else "layered-nms"
        print(f"  best fast decoder meeting its bound: {fastest[code.name] if ok else 'none'}; "
              f"ratios {ratios['1e-3'][code.name]:.1f}x at 1e-3 (target >= 20x), "
              f"{ratios['1e-1'][code.name]:.1f}x at 1e-1 (target >= 5x)")

    if not args.skip_chain:
        print("== 3. whole chain DigitalLink.simulate at BLER ~1e-3 ==")
        for code in codes:
            print(f"  {code.name} at Eb/N0 {code.ebno_1e3} dB")
            whole_chain(code, fastest[code.name], max(20, int(100 * scale)), max(200, int(2000 * scale)), reps)

    print(f"total {time.perf_counter() - start:.0f} s")
    summary = {f"ratio_bler_{label}": round(min(ratios[label].values()), 2) if ratios[label] else 0.0
               for label in ("1e-3", "1e-1")}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
