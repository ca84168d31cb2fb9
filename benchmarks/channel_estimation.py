"""Channel estimation on OFDM TDL-A: LS (nearest / linear) against LMMSE, and what it buys a link.

TDL-A, 100 ns delay spread, 3 m/s, 3.5 GHz, the default grid (72 subcarriers at 30 kHz, 14 OFDM
symbols, pilots on symbols 2 and 11). Three sections, all in one run with one seed:

1. Channel-estimate MSE over the data REs at -7, 0 and 10 dB (Es/N0 per RE), with the error
   variance LMMSE estimation reports next to it. Target: LMMSE below both LS variants everywhere.
2. Uncoded QPSK BER through :class:`semlink.phy.DigitalLink` with each CSI mode at 0 and 10 dB.
3. BLER of the 5G LDPC (912, 1824) code with QPSK through ``DigitalLink``, LS (nn) vs LMMSE (and
   perfect CSI for reference) at one SNR. Target: LMMSE BLER below LS BLER.

Every SNR point uses its own seed, the same for every CSI mode (paired: the same bits, channels and
noise). Intervals: 95 %, over independent slots (MSE, BER) or blocks (BLER, Wilson).

    python benchmarks/channel_estimation.py [--slots 2000] [--blocks 2000] [--bler-snr-db 6]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

SNRS_MSE = (-7.0, 0.0, 10.0)
SNRS_BER = (0.0, 10.0)
CSI_MODES = {"perfect": ("perfect", "nn"), "ls-nn": ("ls", "nn"), "ls-lin": ("ls", "lin"), "lmmse": ("lmmse", "nn")}


def mean_ci(values: torch.Tensor) -> tuple[float, float]:
    """Mean and the half-width of its 95 % normal interval over i.i.d. ``values``."""
    values = values.double()
    return float(values.mean()), 1.96 * float(values.std()) / math.sqrt(len(values))


def estimation_mse(channel, slots: int, seed: int) -> None:
    from sionna.phy.ofdm import ResourceGridMapper

    from semlink.phy import OfdmConfig
    from semlink.phy.channels import OfdmChannel
    from semlink.phy.covariance import channel_covariance
    from semlink.phy.grid import make_resource_grid
    from semlink.phy.receiver import OfdmReceiver
    from semlink.seeding import point_seed, seed_everything

    ofdm = OfdmConfig()
    rg = make_resource_grid(ofdm)
    receivers = {name: OfdmReceiver(rg, csi, interp, covariance=channel_covariance(channel, ofdm) if csi == "lmmse"
                                    else None) for name, (csi, interp) in CSI_MODES.items() if name != "perfect"}
    print(f"== 1. channel-estimate MSE over data REs, {slots} slots per point (95 % CI) ==")
    print(f"  {'SNR':>6}  " + "  ".join(f"{name:>18}" for name in receivers) + f"  {'LMMSE reported':>15}")
    met = True
    for i, snr in enumerate(SNRS_MSE):
        seed_everything(point_seed(seed, 1, i))
        no = torch.full((slots,), 10 ** (-snr / 10))
        x = torch.zeros(slots, 1, 1, rg.num_data_symbols, dtype=torch.complex64)  # data do not matter here
        y, h = OfdmChannel(channel, rg)(ResourceGridMapper(rg)(x), no)
        truth = OfdmReceiver(rg, "perfect").true_channel(h)
        cells, mses = [], {}
        for name, receiver in receivers.items():
            h_hat, err_var = receiver.estimate(y, None, no)
            mean, half = mean_ci((h_hat - truth).abs().square().mean(dim=1))
            mses[name] = mean
            cells.append(f"{mean:9.4f} ± {half:6.4f}")
            if name == "lmmse":
                reported = float(err_var.mean())
        met &= mses["lmmse"] < min(mses["ls-nn"], mses["ls-lin"])
        print(f"  {snr:4.0f}dB  " + "  ".join(f"{c:>18}" for c in cells) + f"  {reported:15.4f}")
    print(f"  target LMMSE < LS (nn, lin) at every SNR: {'MET' if met else 'NOT MET'}")


def uncoded_ber(channel, slots: int, seed: int) -> None:
    from semlink.phy import DigitalLink, DigitalLinkConfig, OfdmConfig
    from semlink.seeding import point_seed, seed_everything

    print(f"== 2. uncoded QPSK BER, {slots} slots x 1728 bits per point (95 % CI over slots) ==")
    print(f"  {'SNR':>6}  " + "  ".join(f"{name:>20}" for name in CSI_MODES))
    for i, snr in enumerate(SNRS_BER):
        cells = []
        for csi, interp in CSI_MODES.values():
            link = DigitalLink(DigitalLinkConfig(code_k=None, code_n=None, channel=channel, ofdm=OfdmConfig(),
                                                 csi=csi, interpolation=interp))
            seed_everything(point_seed(seed, 2, i))
            res = link.simulate(slots, snr)  # uncoded: one block = one slot of 864 QPSK symbols
            mean, half = mean_ci((res.bits != res.bits_hat).float().mean(dim=1))
            cells.append(f"{mean:.2e} ± {half:.1e}")
        print(f"  {snr:4.0f}dB  " + "  ".join(f"{c:>20}" for c in cells))


def coded_bler(channel, blocks: int, snr: float, seed: int) -> None:
    from semlink.metrics import binomial_ci
    from semlink.phy import DigitalLink, DigitalLinkConfig, OfdmConfig
    from semlink.seeding import point_seed, seed_everything

    print(f"== 3. BLER, 5G LDPC (912, 1824) QPSK, 20 BP iterations, {snr:g} dB, {blocks} blocks (95 % Wilson) ==")
    failed = {}
    for name in ("perfect", "ls-nn", "lmmse"):
        csi, interp = CSI_MODES[name]
        link = DigitalLink(DigitalLinkConfig(code_k=912, code_n=1824, channel=channel, ofdm=OfdmConfig(),
                                             csi=csi, interpolation=interp))
        seed_everything(point_seed(seed, 3))
        failed[name] = torch.cat([~link.simulate(min(500, blocks - start), snr).block_ok
                                  for start in range(0, blocks, 500)])
        failures = int(failed[name].sum())
        low, high = binomial_ci(failures, blocks)
        print(f"  {name:8s} BLER {failures / blocks:.4f}  [{low:.4f}, {high:.4f}]  ({failures} failures)")
    # Paired: the same bits, channels and noise for every mode; blocks only one receiver decodes.
    ls_only = int((failed["ls-nn"] & ~failed["lmmse"]).sum())
    lmmse_only = int((failed["lmmse"] & ~failed["ls-nn"]).sum())
    print(f"  blocks lost by LS only: {ls_only}, by LMMSE only: {lmmse_only}")
    met = int(failed["lmmse"].sum()) < int(failed["ls-nn"].sum())
    print(f"  target LMMSE < LS: {'MET' if met else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=2000, help="slots per MSE / BER point")
    parser.add_argument("--blocks", type=int, default=2000, help="code blocks for the BLER point")
    parser.add_argument("--bler-snr-db", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from semlink.phy import ChannelConfig

    channel = ChannelConfig("tdl-a", delay_spread_ns=100.0, carrier_frequency_hz=3.5e9, speed_mps=3.0)
    start = time.perf_counter()
    estimation_mse(channel, args.slots, args.seed)
    uncoded_ber(channel, args.slots, args.seed)
    coded_bler(channel, args.blocks, args.bler_snr_db, args.seed)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
