"""The link's cost in training and in evaluation, against what is inherent.

Section 1 - training through the link (KBSC k = 256 and 128: 128 and 64 complex symbols, batch 128,
packed into OFDM TDL-A slots, LS + linear interpolation, as ``configs/kbsc_offline.toml`` trains):
link forward + backward per batch with a fresh channel realisation per slot against a channel
bank of 4096 slots (:class:`semlink.phy.AnalogLink` ``channel_bank``), side by side.

Section 2 - one evaluation point of the main job (2000 queries): the analog link with one example
per OFDM slot (TDL-A, LS), split into its stages (channel generation, grid mapping, channel and
noise on the grid, estimation + equalisation), against a plain tensor channel with the same number
of independent realisations (flat Rayleigh, one coefficient per example: y = h x + n, x_hat = y / h),
and the digital path of ``kbsc-digital-16qam`` (256 bits, LDPC (256, 512), 16-QAM: 128 symbols per
example, one per slot) split into LDPC encoding, mapping, the OFDM link, demapping and decoding.

    python benchmarks/link_speed.py [--threads 1] [--repeats 3]

Times are the best of ``--repeats`` (other processes' load makes single figures noisy).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return best


def main() -> None:
    import semlink.threads  # noqa: F401  (before torch: OpenMP waits passively)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()

    import torch

    from semlink.phy import (
        AnalogLink,
        AnalogLinkConfig,
        ChannelConfig,
        DigitalLink,
        DigitalLinkConfig,
        OfdmConfig,
    )
    from semlink.seeding import seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(0)
    tdl = ChannelConfig(name="tdl-a", delay_spread_ns=100.0, speed_mps=3.0)
    analog = AnalogLinkConfig(channel=tdl, ofdm=OfdmConfig(), csi="ls", interpolation="lin")
    results: dict[str, dict[str, float]] = {}

    print(f"1. training step through the link (batch 128, packed slots, {args.threads} thread(s)): ms per batch")
    fresh, banked = AnalogLink(analog, pack_examples=True), AnalogLink(analog, pack_examples=True, channel_bank=4096)
    tic = time.perf_counter()
    banked._core._channel.bank()
    print(f"   bank of 4096 slots made in {time.perf_counter() - tic:.2f} s (once per seed)")
    for symbols in (128, 64):
        x = torch.randn(128, symbols, dtype=torch.complex64, requires_grad=True)

        def step(link: AnalogLink, x: torch.Tensor = x) -> None:
            out = link(x, torch.full((128,), 4.0))
            (out.estimate.real.sum() + out.error_var.sum()).backward()

        times = {name: 1e3 * _best(lambda link=link: [step(link) for _ in range(10)], args.repeats) / 10
                 for name, link in (("fresh", fresh), ("bank", banked))}
        results[f"train_k{2 * symbols}_ms"] = {k: round(v, 2) for k, v in times.items()}
        print(f"   k = {2 * symbols:3d}: fresh {times['fresh']:6.2f} ms, bank {times['bank']:6.2f} ms "
              f"({times['fresh'] / times['bank']:.2f}x)")

    n = args.queries
    print(f"\n2. one evaluation point: {n} examples of 128 symbols, each in its own slot (ms)")
    link = AnalogLink(analog, pack_examples=False)
    x = torch.randn(n, 128, dtype=torch.complex64)
    core = link._core
    no = torch.full((n,), 0.1)
    with torch.no_grad():
        whole = 1e3 * _best(lambda: link(x, 10.0), args.repeats)
        gen = 1e3 * _best(lambda: core._channel.generate(n), args.repeats)
        rows = torch.zeros(n, core.symbols_per_slot, dtype=torch.complex64)
        grid = core._mapper(rows.reshape(n, 1, 1, -1))
        mapping = 1e3 * _best(lambda: core._mapper(rows.reshape(n, 1, 1, -1)), args.repeats)
        h = core._channel.generate(n)
        apply = 1e3 * _best(lambda: core._channel._apply_channel(grid, h, no), args.repeats)
        y = core._channel._apply_channel(grid, h, no)
        receive = 1e3 * _best(lambda: core._receiver(y, h, no), args.repeats)
        flat = AnalogLink(AnalogLinkConfig(channel=ChannelConfig("rayleigh"), ofdm=None), pack_examples=False)
        flat_ms = 1e3 * _best(lambda: flat(x, 10.0), args.repeats)

        def plain() -> torch.Tensor:
            g = torch.Generator().manual_seed(1)
            coeff = torch.complex(torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g)) * 0.5 ** 0.5
            noise = torch.complex(torch.randn(n, 128, generator=g), torch.randn(n, 128, generator=g)) * 0.05 ** 0.5
            on_air = x * torch.rsqrt(x.abs().square().mean(1, keepdim=True))
            return (coeff * on_air + noise) / coeff

        plain_ms = 1e3 * _best(plain, args.repeats)
    split = {"channel generation": gen, "grid mapping": mapping, "channel + noise on the grid": apply,
             "estimation + equalisation": receive}
    print(f"   analog link, OFDM TDL-A + LS: {whole:8.1f}")
    for name, ms in split.items():
        print(f"      {name:32s} {ms:8.1f}")
    print(f"   analog link, flat Rayleigh:   {flat_ms:8.1f}")
    print(f"   plain tensor channel:         {plain_ms:8.1f}   (OFDM / plain: {whole / plain_ms:.0f}x)")
    results["eval_analog_ms"] = {"ofdm_tdl_ls": round(whole, 1), **{k: round(v, 1) for k, v in split.items()},
                                 "flat_rayleigh_link": round(flat_ms, 1), "plain_tensor": round(plain_ms, 1)}

    digital = DigitalLink(DigitalLinkConfig(channel=tdl, ofdm=OfdmConfig(), csi="ls", interpolation="lin",
                                            modulation="16qam", code_k=256, code_n=512))
    bits = torch.randint(0, 2, (n, 256)).float()
    with torch.no_grad():
        total = 1e3 * _best(lambda: digital.transmit(bits, 4.0), args.repeats)
        codec = digital.codec
        encode = 1e3 * _best(lambda: codec.encode(bits), args.repeats)
        c = codec.encode(bits)
        mapping = 1e3 * _best(lambda: digital._mapper(c), args.repeats)
        sym = digital._mapper(c).reshape(n, -1)
        noise = torch.full((n,), 10 ** -0.4)
        link_ms = 1e3 * _best(lambda: digital._core.send_rows(sym, noise), args.repeats)
        x_hat, no_eff = digital._core.send_rows(sym, noise)
        demap = 1e3 * _best(lambda: digital._demapper(x_hat, no_eff), args.repeats)
        llr = digital._demapper(x_hat, no_eff)
        decode = 1e3 * _best(lambda: codec.decode(llr), args.repeats)
    dsplit = {"LDPC encoding": encode, "QAM mapping": mapping, "OFDM link (channel, estimation, equaliser)": link_ms,
              "APP demapping": demap, f"LDPC decoding ({digital.cfg.decoder})": decode}
    print(f"   digital link, 16-QAM LDPC (256, 512), OFDM TDL-A + LS: {total:8.1f}")
    for name, ms in dsplit.items():
        print(f"      {name:42s} {ms:8.1f}")
    results["eval_digital_ms"] = {"total": round(total, 1), **{k: round(v, 1) for k, v in dsplit.items()}}
    print(json.dumps({"benchmark": "link_speed", "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
