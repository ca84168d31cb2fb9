"""Throughput of semlink.phy against the same chain built inline from stock Sionna blocks.

Section 1 - DigitalLink (OFDM TDL-A, LS + nn interpolation, QPSK, 5G LDPC k=912/n=1824, 20 BP
iterations, Sionna's BP decoder) vs a bare Sionna chain: BinarySource -> LDPC5GEncoder -> Mapper ->
ResourceGridMapper -> OFDMChannel(TDL) -> LSChannelEstimator -> LMMSEEqualizer -> Demapper(app) ->
LDPC5GDecoder, with the same slot layout (one code block of 912 symbols per example, zero-padded to
2 slots of 864 data REs). Like with like: the bare chain samples the channel as DigitalLink does
(a static channel drawn once per slot, not per OFDM symbol); the cost of Sionna's per-symbol
sampling is printed as its own line, and so is semlink's fast layered decoder. Information bits
per second for batches 1/16/64/256, all measured in this process, alternating (warm-up first);
target: semlink >= 0.95 x bare Sionna at batch 64.

Section 2 - AnalogLink over OFDM TDL-A with LS on the evaluation grid (12 SNRs x 5000 examples x
128 symbols), one example per OFDM slot as ``semlink run`` evaluates, vs a plain AWGN tensor
channel (y = x + n) on the same tensors.

Plain script (not collected by pytest): ``python benchmarks/phy_throughput.py [--threads 1]``.
torch runs single-threaded by default: on small shared machines intra-op threads mostly wait on
each other in Sionna's many small decoder ops.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch


class _StaticTdlChannel:
    """Sionna's TDL sampled once per slot (``num_time_steps=1``) → ``cir_to_ofdm_channel`` → broadcast over
    the slot's OFDM symbols → ``ApplyOFDMChannel``: how DigitalLink samples a static channel (the same
    distribution as ``OFDMChannel``, which samples every OFDM symbol)."""

    def __init__(self, rg) -> None:
        from sionna.phy.channel import ApplyOFDMChannel, subcarrier_frequencies
        from sionna.phy.channel.tr38901 import TDL

        self._tdl = TDL("A", 100e-9, 3.5e9)
        self._apply = ApplyOFDMChannel()
        self._frequencies = subcarrier_frequencies(rg.fft_size, rg.subcarrier_spacing)
        self._symbols = rg.num_ofdm_symbols
        self._sampling = 1.0 / rg.ofdm_symbol_duration

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        from sionna.phy.channel import cir_to_ofdm_channel

        a, tau = self._tdl(x.shape[0], 1, self._sampling)
        h = cir_to_ofdm_channel(self._frequencies, a, tau, normalize=False)  # [B, 1, 1, 1, 1, 1, F]
        h = h.expand(*h.shape[:-2], self._symbols, h.shape[-1])
        return self._apply(x, h, no)


def build_bare_chain(snr_db: float, per_symbol_channel: bool = False) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """The reference: stock Sionna blocks wired inline, same layout as semlink's DigitalLink.

    ``per_symbol_channel``: Sionna's ``OFDMChannel``, which samples the channel at every OFDM
    symbol (the same statistics for a static channel, more work); default: one sample per slot.
    """
    from sionna.phy.channel import OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import BinarySource, Demapper, Mapper
    from sionna.phy.mimo import StreamManagement
    from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, ResourceGrid, ResourceGridMapper

    k, n, bps = 912, 1824, 2
    rg = ResourceGrid(
        num_ofdm_symbols=14,
        fft_size=72,
        subcarrier_spacing=30e3,
        cyclic_prefix_length=6,
        pilot_pattern="kronecker",
        pilot_ofdm_symbol_indices=[2, 11],
    )
    source = BinarySource()
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bps)
    decoder = LDPC5GDecoder(encoder, num_iter=20)
    mapper = Mapper("qam", bps)
    demapper = Demapper("app", "qam", bps)
    rg_mapper = ResourceGridMapper(rg)
    channel = OFDMChannel(TDL("A", 100e-9, 3.5e9), rg, normalize_channel=False) if per_symbol_channel \
        else _StaticTdlChannel(rg)
    estimator = LSChannelEstimator(rg, interpolation_type="nn")
    equalizer = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1]), 1))
    per_slot = rg.num_data_symbols
    num_sym = n // bps
    slots = -(-num_sym // per_slot)
    no = torch.tensor(10 ** (-snr_db / 10))

    @torch.no_grad()
    def run(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        bits = source([batch, k])
        x = mapper(encoder(bits))
        x = torch.nn.functional.pad(x, (0, slots * per_slot - num_sym)).reshape(batch * slots, 1, 1, per_slot)
        y = channel(rg_mapper(x), no)
        h_hat, err_var = estimator(y, no)
        x_hat, no_eff = equalizer(y, h_hat, err_var, no)
        x_hat = x_hat.reshape(batch, -1)[:, :num_sym]
        no_eff = no_eff.reshape(batch, -1)[:, :num_sym]
        return bits, decoder(demapper(x_hat, no_eff))

    return run


def build_semlink_chain(snr_db: float, decoder: str = "sionna-bp") -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig, OfdmConfig

    link = DigitalLink(
        DigitalLinkConfig(
            modulation="qpsk",
            code_k=912,
            code_n=1824,
            channel=ChannelConfig("tdl-a"),
            ofdm=OfdmConfig(),
            csi="ls",
            interpolation="nn",
            bp_iterations=20,
            decoder=decoder,
        )
    )

    def run(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        res = link.simulate(batch, snr_db)
        return res.bits, res.bits_hat

    return run


def timed(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def digital_section(batches: list[int], reps: int, snr_db: float) -> None:
    print(f"== DigitalLink vs bare Sionna: OFDM TDL-A, LS/nn, QPSK, LDPC 912/1824, 20 it, SNR {snr_db} dB ==")
    chains = {
        "bare": build_bare_chain(snr_db),
        "semlink": build_semlink_chain(snr_db),
        "bare, per-symbol channel": build_bare_chain(snr_db, per_symbol_channel=True),
        "semlink, layered-bp": build_semlink_chain(snr_db, decoder="layered-bp"),
    }
    for name, chain in chains.items():  # warm-up (numba compiles), and a check that every chain decodes
        bits, bits_hat = chain(32)
        print(f"  warm-up {name:26s} BLER at {snr_db} dB (32 blocks): "
              f"{float((bits != bits_hat).any(dim=1).float().mean()):.2f}")
    print(f"  {'batch':>5}  {'bare Sionna':>12}  {'semlink':>12}  {'ratio':>6}   [information bit/s, like with like]")
    extra = []
    for batch in batches:
        calls = max(1, 64 // batch)
        times = {name: [] for name in chains}
        names = list(chains)
        for rep in range(reps):  # rotate which chain goes first
            for name in names[rep % len(names):] + names[: rep % len(names)]:
                times[name].append(timed(lambda chain=chains[name], batch=batch: chain(batch), calls))
        rate = {name: batch * 912 / statistics.median(t) for name, t in times.items()}
        flag = "  (target >= 0.95)" if batch == 64 else ""
        print(f"  {batch:5d}  {rate['bare']:12.0f}  {rate['semlink']:12.0f}  {rate['semlink'] / rate['bare']:6.2f}{flag}")
        extra.append((batch, rate))
    print("  the differences, each on its own line (not in the ratio above):")
    for batch, rate in extra:
        print(f"  {batch:5d}  Sionna's per-OFDM-symbol channel sampling: {rate['bare, per-symbol channel']:10.0f} bit/s "
              f"({rate['bare, per-symbol channel'] / rate['bare']:.2f} x bare);  semlink with layered-bp: "
              f"{rate['semlink, layered-bp']:10.0f} bit/s ({rate['semlink, layered-bp'] / rate['semlink']:.1f} x semlink)")


def analog_section(num_examples: int, num_symbols: int, snrs: list[float]) -> None:
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig

    print(f"== AnalogLink eval grid: {len(snrs)} SNRs x {num_examples} examples x {num_symbols} symbols, "
          "one example per slot ==")
    # One example per slot, each its own channel realisation: as `semlink run` evaluates.
    link = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("tdl-a"), ofdm=OfdmConfig(), csi="ls"),
                      pack_examples=False)
    x = torch.randn(num_examples, num_symbols, dtype=torch.complex64)
    x = x / x.abs().square().mean(dim=1, keepdim=True).sqrt()

    @torch.no_grad()
    def ofdm_tdl() -> None:
        for snr in snrs:
            link(x, snr)

    @torch.no_grad()
    def plain_awgn() -> None:
        for snr in snrs:
            no = 10 ** (-snr / 10)
            _ = x + torch.randn_like(x) * np.sqrt(no)

    link(x[:16], 0.0)  # warm-up
    t_plain = timed(plain_awgn, 1)
    t_link = timed(ofdm_tdl, 1)
    print(f"  plain AWGN tensor channel : {t_plain:7.2f} s")
    print(f"  AnalogLink OFDM TDL-A, LS : {t_link:7.2f} s   (target <= 60 s)")
    print(f"  ratio AnalogLink / plain  : {t_link / t_plain:7.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--reps", type=int, default=5, help="alternating timing repetitions per batch")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--skip-digital", action="store_true")
    parser.add_argument("--skip-analog", action="store_true")
    parser.add_argument("--analog-examples", type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from semlink.seeding import seed_everything

    seed_everything(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")
    start = time.perf_counter()
    if not args.skip_digital:
        digital_section(args.batches, args.reps, args.snr_db)
    if not args.skip_analog:
        analog_section(args.analog_examples, 128, [float(s) for s in range(-5, 31, 3)])
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
