"""The 5G NR transport-block chain: LDPC decoder parity inside it, TB vs standalone block, the LS variance fix.

Section 1 - decoders inside the TB chain (flat AWGN, 20 iterations; every decoder decodes the
  same LLRs, common random numbers): BLER of sionna-bp, layered-bp and layered-nms at five SNRs
  around BLER 1e-1 for three allocations of TS 38.214 table 1:
    A  MCS 0 (QPSK 120/1024), 900 REs: TBS 208, one BG2 block, rate 0.12 (bits repeated)
    B  MCS 9 (QPSK 679/1024), 1500 REs: TBS 2024, one BG2 block, rate 0.68
    C  MCS 20 (64QAM 567/1024), 1200 REs: TBS 3968, one BG1 block, rate 0.55
  The SNR where each waterfall crosses BLER 1e-1 (log-linear interpolation) and the offset to
  sionna-bp; targets (as benchmarks/ldpc_decoder.py): layered-bp <= +0.05 dB, layered-nms <= +0.2 dB.
  Then the paired one-sided McNemar test of each layered decoder at (reference SNR + its bound)
  against sionna-bp at the reference SNR (its BLER ~1e-1) on the same draws: p < 1e-3 would mean
  "significantly worse". (Layered decoding converges in about half the iterations of flooding, so
  at 20 iterations the layered decoders are expected to be *better*; the offsets come out negative.)
  Information Mb/s of each TB decoder (TBS bits per second of decoding: rate recovery, LDPC, CRCs)
  over all points; the machine is shared, so read the ratios, not the absolute numbers.
Section 2 - TB chain vs the standalone single-block path at equal information rate (TDL-A 100 ns,
  OFDM, LS nn, layered-bp): MCS 4 (QPSK 308/1024) in 392 REs carries TBS 240 bits with a CRC16, the
  old path a (240, 784) code block checked by its syndrome; BLER with 95 % Wilson intervals and
  undetected errors (receiver says ok, bits wrong). MCS 0 in 392 REs (88 bits, rate 0.11) has no
  standalone counterpart: the old path refuses rates below 1/5.
Section 3 - the LS error-variance fix (TDL-A 100 ns, OFDM, LS with linear interpolation, MCS 4 in a
  whole slot of 864 REs, layered-bp): TB BLER with the error variance of the interpolated estimate
  (sum w^2 no, now) and the interpolated variance (sum w no, before), on the same draws (only the
  variance the equaliser and demapper see differs); paired McNemar p both ways. Nearest-neighbour
  interpolation is unchanged by the fix (one-hot weights).

The LAST line is one JSON object with the section 1 offsets and p-values, the section 2 BLERs and
the section 3 BLERs.

Plain script (not collected by pytest): ``python benchmarks/tb_chain.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numba
import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.metrics import binomial_ci
from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig, OfdmConfig
from semlink.phy.budget import code_for_budget
from semlink.phy.estimation import ls_time_weights, pilot_layout
from semlink.phy.ldpc.compare import ebno_at_bler, worse_pvalue
from semlink.phy.transport import TransportBlockDecoder
from semlink.seeding import seed_everything

REFERENCE = "sionna-bp"
FAST = ("layered-bp", "layered-nms")
BOUND_DB = {"layered-bp": 0.05, "layered-nms": 0.2}
TARGET_BLER = 0.1
SEED = 19


@dataclass(frozen=True)
class Case:
    name: str
    mcs_index: int
    channel_uses: int
    snrs_db: tuple[float, ...]  # bracketing every decoder's BLER 1e-1
    reference_db: float  # the grid point nearest sionna-bp's BLER 1e-1 (measured once), for the paired test
    blocks: int  # TBs per point (full run)


CASES = (
    Case("A MCS 0 (QPSK 120/1024) 900 REs", 0, 900, (-6.25, -6.0, -5.75, -5.5, -5.25), -5.5, 1200),
    Case("B MCS 9 (QPSK 679/1024) 1500 REs", 9, 1500, (3.0, 3.125, 3.25, 3.375, 3.5), 3.5, 800),
    Case("C MCS 20 (64QAM 567/1024) 1200 REs", 20, 1200, (11.25, 11.375, 11.5, 11.625, 11.75), 11.625, 300),
)


def tb_errors(decoder: TransportBlockDecoder, bits: torch.Tensor, llr: torch.Tensor) -> tuple[np.ndarray, float]:
    """``(TB wrong [N] bool, decoding seconds)``."""
    start = time.perf_counter()
    out = decoder(llr)
    seconds = time.perf_counter() - start
    return (~(out.bits == bits).all(dim=1)).numpy(), seconds


# -- section 1 -------------------------------------------------------------------------------------
def parity(case: Case, scale: float, batch: int) -> dict[str, float]:
    link = DigitalLink(DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": case.mcs_index}, ofdm=None))
    encoder, _ = link.transport_block_chain(case.channel_uses)
    layout = encoder.layout
    decoders = {name: TransportBlockDecoder(encoder, name, num_iter=20) for name in (REFERENCE, *FAST)}
    blocks = max(100, int(case.blocks * scale))
    print(f"  {case.name}: TBS {layout.tbs}, {layout.num_cbs} x {layout.base_graph} block(s) of {layout.cb_bits} "
          f"bits, rate {layout.code_rate:.3f}, {layout.repeated_bits} repeated bits; {blocks} TBs per point")
    print(f"    {'SNR dB':>7}" + "".join(f"  {name:>12}" for name in decoders))

    def draws(snr: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
        seed_everything(SEED)  # the same bits and noise draws at every SNR (the noise scales with it)
        return [link.transport_block_llrs(min(batch, blocks - s), snr, case.channel_uses)
                for s in range(0, blocks, batch)]

    bler: dict[str, list[float]] = {name: [] for name in decoders}
    seconds = dict.fromkeys(decoders, 0.0)
    decoded = dict.fromkeys(decoders, 0)
    reference_errors = None
    for snr in case.snrs_db:
        chunks = draws(snr)
        row = []
        for name, decoder in decoders.items():
            errors = []
            for bits, llr in chunks:
                wrong, took = tb_errors(decoder, bits, llr)
                errors.append(wrong)
                seconds[name] += took
                decoded[name] += len(wrong)
            errors_all = np.concatenate(errors)
            bler[name].append(float(errors_all.mean()))
            row.append(f"{errors_all.mean():.3e}")
            if name == REFERENCE and snr == case.reference_db:
                reference_errors = errors_all
        print(f"    {snr:7.3f}" + "".join(f"  {c:>12}" for c in row))
    crossing = {name: ebno_at_bler(case.snrs_db, bler[name], TARGET_BLER, zero_floor=0.5 / blocks)
                for name in decoders}
    result: dict[str, float] = {}
    print("    SNR at BLER 1e-1: " + ", ".join(f"{name} {crossing[name]:.3f} dB" for name in decoders))
    assert reference_errors is not None
    for name in FAST:
        offset = crossing[name] - crossing[REFERENCE]
        chunks = draws(case.reference_db + BOUND_DB[name])
        errors = np.concatenate([tb_errors(decoders[name], bits, llr)[0] for bits, llr in chunks])
        p = worse_pvalue(errors, reference_errors)
        result[f"{name}_offset_db"] = round(offset, 3)
        result[f"{name}_p_worse"] = round(p, 4)
        print(f"    offset {name:12s} {offset:+.3f} dB (target <= +{BOUND_DB[name]:.2f} dB); paired test at "
              f"+{BOUND_DB[name]:.2f} dB: BLER {errors.mean():.3e} vs {reference_errors.mean():.3e}, "
              f"p(worse) = {p:.3g} ({'passes' if p >= 1e-3 else 'FAILS'} at 1e-3)")
    rates = {name: decoded[name] * layout.tbs / seconds[name] / 1e6 for name in decoders}
    print("    information Mb/s of decoding: " + ", ".join(
        f"{name} {rates[name]:.3f} ({rates[name] / rates[REFERENCE]:.0f}x)" for name in decoders))
    result.update({f"{name}_mbps": round(rates[name], 4) for name in decoders})
    return result


# -- section 2 -------------------------------------------------------------------------------------
def interval(errors: int, total: int) -> str:
    low, high = binomial_ci(errors, total)
    return f"{errors / total:.3f} [{low:.3f}, {high:.3f}]"


def tb_vs_block(blocks: int, batch: int) -> dict[str, dict[str, float]]:
    common = dict(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls", decoder="layered-bp")
    uses = 392
    tb_link = DigitalLink(DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": 4}, **common))
    layout = tb_link.transport_block_layout(uses)
    k, n = layout.tbs, uses * layout.mcs.bits_per_symbol
    block_link = DigitalLink(DigitalLinkConfig(code_k=k, code_n=n, **common))
    print(f"  TDL-A, LS (nn), {uses} REs, {blocks} per point: TB {layout.mcs.label}, TBS {k} + CRC{layout.tb_crc_bits} "
          f"(LDPC rate {layout.code_rate:.3f}, {layout.base_graph}) vs standalone ({k}, {n}) (rate {k / n:.3f})")
    try:
        mcs0 = DigitalLink(DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": 0}, **common))
        tbs0 = mcs0.transport_block_layout(uses).tbs
        code_for_budget(uses, 2, tbs0 / (2 * uses))
        print("  MCS 0 in 392 REs: the standalone path accepts it too")
    except SemlinkError as err:
        reason = str(err).split("): ", 1)[-1].split("; accepted")[0]
        print(f"  MCS 0 in 392 REs carries a TB of {tbs0} bits (rate {tbs0 / (2 * uses):.3f}); the standalone path "
              f"refuses it: {reason}")
    print(f"    {'SNR dB':>7}  {'TB BLER [95% CI]':>24} {'undetected':>10}  {'block BLER [95% CI]':>24} {'undetected':>10}")
    out: dict[str, dict[str, float]] = {"tb": {}, "block": {}}
    for snr in (4.0, 8.0, 12.0, 16.0):
        counts = {}
        for name in ("tb", "block"):
            seed_everything(SEED)
            wrong = undetected = 0
            for start in range(0, blocks, batch):
                bits = torch.randint(0, 2, (min(batch, blocks - start), k)).float()
                if name == "tb":
                    tx = tb_link.transmit_transport_blocks(bits, snr, uses)
                    said_ok = tx.tb_ok
                else:
                    tx = block_link.transmit(bits, snr)
                    said_ok = tx.block_ok.all(dim=1)
                bad = ~(tx.bits_hat == bits).all(dim=1)
                wrong += int(bad.sum())
                undetected += int((bad & said_ok).sum())
            counts[name] = (wrong, undetected)
            out[name][str(snr)] = round(wrong / blocks, 4)
        print(f"    {snr:7.1f}  {interval(counts['tb'][0], blocks):>24} {counts['tb'][1]:>10}  "
              f"{interval(counts['block'][0], blocks):>24} {counts['block'][1]:>10}")
    return out


# -- section 3 -------------------------------------------------------------------------------------
def use_interpolated_variance(link: DigitalLink) -> None:
    """Give ``link``'s LS receiver the variance it reported before the fix, sum_p w_p no / |p|^2."""
    receiver = link._core._receiver  # benchmark-only: swap one buffer to measure the old behaviour
    grid = link.resource_grid
    weights = ls_time_weights(grid, link.cfg.interpolation)
    _, pilots = pilot_layout(grid)
    old = torch.einsum("tp,pf->tf", weights, 1.0 / pilots.abs().square().float())
    receiver._err_unit = old.flatten()[receiver._data_ind.cpu()].to(receiver._err_unit.device)


def ls_fix(blocks: int, batch: int) -> dict[str, dict[str, float]]:
    cfg = DigitalLinkConfig.for_mcs({"table": "38.214-1", "index": 4}, channel=ChannelConfig("tdl-a"),
                                    ofdm=OfdmConfig(), csi="ls", interpolation="lin", decoder="layered-bp")
    uses = 864
    new, old = DigitalLink(cfg), DigitalLink(cfg)
    use_interpolated_variance(old)
    print(f"  TDL-A, LS lin, {cfg.mcs.label} in {uses} REs (a whole slot), {blocks} TBs per point, same draws")
    print(f"    {'SNR dB':>7}  {'BLER sum w^2 (now)':>24}  {'BLER sum w (before)':>24}  {'p(now worse)':>12}  "
          f"{'p(before worse)':>15}")
    out: dict[str, dict[str, float]] = {"now": {}, "before": {}}
    for snr in (4.0, 8.0, 12.0):
        errors = {}
        for name, link in (("now", new), ("before", old)):
            seed_everything(SEED)
            wrong = []
            for start in range(0, blocks, batch):
                bits, llr = link.transport_block_llrs(min(batch, blocks - start), snr, uses)
                wrong.append(tb_errors(link.transport_block_chain(uses)[1], bits, llr)[0])
            errors[name] = np.concatenate(wrong)
            out[name][str(snr)] = round(float(errors[name].mean()), 4)
        print(f"    {snr:7.1f}  {interval(int(errors['now'].sum()), blocks):>24}  "
              f"{interval(int(errors['before'].sum()), blocks):>24}  "
              f"{worse_pvalue(errors['now'], errors['before']):12.3g}  {worse_pvalue(errors['before'], errors['now']):15.3g}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a quarter of the TBs")
    parser.add_argument("--sections", default="123", help="which sections, e.g. '13'")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    torch.set_num_threads(1)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    print(f"torch {torch.__version__} (1 thread), numba {numba.__version__} ({numba.get_num_threads()} threads), cpu")
    start = time.perf_counter()
    summary: dict[str, object] = {}
    if "1" in args.sections:
        print("== 1. LDPC decoders inside the TB chain: BLER on the same LLRs (flat AWGN) ==")
        summary["parity"] = {case.name.split()[0]: parity(case, scale, batch=200) for case in CASES}
    if "2" in args.sections:
        print("== 2. TB chain vs standalone code block at equal information rate ==")
        summary["tb_vs_block"] = tb_vs_block(max(400, int(4000 * scale)), batch=500)
    if "3" in args.sections:
        print("== 3. LS error variance: now (sum w^2) vs before (sum w) ==")
        summary["ls_lin_bler"] = ls_fix(max(400, int(4000 * scale)), batch=500)
    print(f"total {time.perf_counter() - start:.0f} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
