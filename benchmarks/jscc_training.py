"""Deep-JSCC on Fashion-MNIST: PSNR against training time, per budget and channel.

Trains one codec per channel serving every budget (``--per-budget``: one per budget) with
:func:`semlink.systems.jscc_training.train_jscc` through the real :class:`semlink.phy.AnalogLink`,
then sends the test images one per slot at each test SNR and prints the mean per-image PSNR, the
training wall time and the training CPU time (process time: a fairer figure than wall time on a
shared machine; on an idle machine wall ≈ CPU / threads). The quality targets and the linear
reference are in ``benchmarks/jscc_quality.py``.

    python benchmarks/jscc_training.py [--budgets 64,128,392] [--channels awgn-flat,tdl-a] [--max-epochs 6]
"""

from __future__ import annotations

import argparse
import time


def _link(channel: str, packed: bool):
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig, OfdmConfig

    if channel == "awgn-flat":
        return AnalogLink(AnalogLinkConfig(channel=ChannelConfig(name="awgn"), ofdm=None, csi="perfect"))
    cfg = AnalogLinkConfig(channel=ChannelConfig(name=channel), ofdm=OfdmConfig(), csi="ls", interpolation="lin")
    return AnalogLink(cfg, pack_examples=packed)


def main() -> None:
    from semlink.systems.jscc_training import JsccTrainSettings

    defaults = JsccTrainSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="64,128,392", help="channel uses per image, comma-separated")
    parser.add_argument("--channels", default="awgn-flat",
                        help="awgn-flat (no grid) or OFDM channels with LS + linear interpolation (awgn, tdl-a, ...)")
    parser.add_argument("--per-budget", action="store_true", help="one codec per budget instead of one for all")
    parser.add_argument("--train", type=int, default=8000, help="training images (first N of the train split)")
    parser.add_argument("--val", type=int, default=1000, help="validation images (the next N)")
    parser.add_argument("--test", type=int, default=2000, help="test images (first N of the test split)")
    parser.add_argument("--test-snr-db", default="-4,4,10")
    parser.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--filters", type=int, default=defaults.filters)
    parser.add_argument("--train-snr-db", default=",".join(str(s) for s in defaults.snr_db))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    args = parser.parse_args()

    import torch

    from semlink.data import load_dataset
    from semlink.systems.analog_codec import symbol_channel, transmit_images
    from semlink.systems.jscc_training import train_jscc

    torch.set_num_threads(args.threads)
    train_split = load_dataset("fashion-mnist", split="train")
    test_images = load_dataset("fashion-mnist", split="test").images[: args.test]
    train_images = train_split.images[: args.train]
    val_images = train_split.images[args.train : args.train + args.val]
    settings = JsccTrainSettings(
        max_epochs=args.max_epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
        filters=args.filters, snr_db=tuple(float(s) for s in args.train_snr_db.split(",")),
    )
    test_snrs = [float(s) for s in args.test_snr_db.split(",")]
    print(f"settings: {settings}; {len(train_images)} train / {len(val_images)} val / {len(test_images)} test images")
    header = " ".join(f"{s:>+6.0f}dB" for s in test_snrs)
    print(f"{'channel':>9} {'uses':>5} {'CBR':>6} {'epochs':>6} {'wall s':>7} {'cpu s':>7} {'val dB':>7} {header}")
    total_wall = 0.0
    budgets = [int(b) for b in args.budgets.split(",")]
    groups = [[b] for b in budgets] if args.per_budget else [budgets]
    for channel in args.channels.split(","):
        for group in groups:
            cpu = time.process_time()
            log = print if args.verbose else None
            codec, history = train_jscc(train_images, val_images, symbol_channel(_link(channel, packed=True)),
                                        group, settings, seed=args.seed, log=log)
            cpu = time.process_time() - cpu
            total_wall += history.train_seconds
            evaluate = symbol_channel(_link(channel, packed=False))
            for uses in group:
                psnrs = [float(transmit_images(codec, test_images, evaluate, snr, channel_uses=uses).psnr_db.mean())
                         for snr in test_snrs]
                cells = " ".join(f"{p:8.2f}" for p in psnrs)
                print(f"{channel:>9} {uses:>5} {uses / codec.layout.source_values:6.3f} {len(history.val_psnr):>6} "
                      f"{history.train_seconds:7.1f} {cpu:7.1f} {history.best_val_psnr:7.2f} {cells}", flush=True)
    print(f"total training wall time {total_wall:.1f} s")


if __name__ == "__main__":
    main()
