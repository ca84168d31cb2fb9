"""Multi-SC stage benchmark: time per image of each offline-default stage, side by side in one run.

Stages, per sent image (the ``photos`` test split, 256 × 256 by default):

* segment      - ``create_segmenter("u2netp")``: saliency → largest component → box → crop
* caption      - ``split_blocks(image, 2)`` + ``create_captioner("imagenet-labels").caption`` (4 blocks)
* text bits    - the 4 captions and the box → bits (``TextCodec``, ``encode_box``) → uncoded QPSK over
                 AWGN at ``--snr-db`` (8 dB: bit error rate ~0.6 %, so the corrector has work) → back
* correct      - ``create_corrector("symspell", ...)`` with the captioner's (closed) vocabulary and
                 phrases, on the 4 received texts
* kb-compose   - ``create_reconstructor("kb-compose")`` over the ``photos`` train split: retrieve + paste

Every repetition runs all stages on all images in turn (so load changes on the shared machine hit
every stage alike); a stage's figure is the median over repetitions of its mean time per image.
Set-up costs (model loading, the SymSpell dictionary, captioning the receiver's library) are paid
once and printed apart.

    python benchmarks/multisc_stages.py                    # 2 threads, 5 repetitions
    python benchmarks/multisc_stages.py --threads 1 --repeats 3 --image-size 512

Target: the whole offline chain in <= 1 s per image on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument(
        "--u2netp-size", type=int, default=None, help="U2-Net-p input side (default: native 320)"
    )
    parser.add_argument(
        "--snr-db", type=float, default=8.0, help="Es/N0 (dB) of the uncoded QPSK AWGN text link"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from semlink.data import load_dataset
    from semlink.phy import ChannelConfig, DigitalLink, DigitalLinkConfig
    from semlink.rx import create_corrector, create_reconstructor
    from semlink.tx import TextCodec, create_captioner, create_segmenter, decode_box, encode_box, split_blocks

    queries = load_dataset("photos", split="test", image_size=args.image_size)
    library = load_dataset("photos", split="train", image_size=args.image_size)
    size = (args.image_size, args.image_size)

    setup: dict[str, float] = {}

    def timed_setup(name: str, make: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        out = make()
        setup[name] = time.perf_counter() - t0
        return out

    u2netp_options = {"input_size": args.u2netp_size} if args.u2netp_size else {}
    segmenter = timed_setup(
        "u2netp session", lambda: create_segmenter("u2netp", num_threads=args.threads, **u2netp_options)
    )
    captioner = timed_setup("ImageNet-label captioner", lambda: create_captioner("imagenet-labels"))
    corrector = timed_setup(
        "SymSpell (closed vocabulary)",
        lambda: create_corrector(
            "symspell",
            vocabulary=captioner.vocabulary,
            phrases=captioner.phrases,
            closed_vocabulary=captioner.closed_vocabulary,
        ),
    )
    reconstructor = timed_setup(
        f"kb-compose library ({len(library)} images captioned)",
        lambda: create_reconstructor("kb-compose", library=library, captioner=captioner),
    )
    codec = TextCodec()
    link = DigitalLink(
        DigitalLinkConfig(
            modulation="qpsk", code_k=None, code_n=None, channel=ChannelConfig("awgn"), ofdm=None
        )
    )

    # one warm-up pass (first-call allocations, oneDNN primitive creation), then the timed passes
    state: dict[int, dict[str, object]] = {}

    def run_stage(stage: str, i: int) -> None:
        image, s = queries.images[i], state.setdefault(i, {})
        if stage == "segment":
            s["seg"] = segmenter.segment(image)
        elif stage == "caption":
            s["texts"] = captioner.caption(split_blocks(image, 2))
        elif stage == "text bits":
            packed = codec.encode_batch(s["texts"])
            bits = torch.cat([packed.bits.reshape(-1), encode_box(s["seg"].box)])[None]  # one frame per image
            received = link.transmit(bits, snr_db=args.snr_db).bits_hat[0]
            text_bits = received[: packed.bits.numel()].reshape(packed.bits.shape)
            s["received"] = codec.decode_batch(text_bits, packed.num_bits)
            s["box"] = decode_box(received[packed.bits.numel() :], size)
        elif stage == "correct":
            s["corrected"] = corrector.correct(s["received"])
        elif stage == "kb-compose":
            s["out"] = reconstructor.reconstruct(s["corrected"], size, crop=s["seg"].crop, box=s["box"])

    stages = ["segment", "caption", "text bits", "correct", "kb-compose"]
    for i in range(len(queries)):
        for stage in stages:
            run_stage(stage, i)
    per_image: dict[str, list[float]] = {stage: [] for stage in stages}
    for _ in range(args.repeats):
        totals = dict.fromkeys(stages, 0.0)
        for i in range(len(queries)):
            for stage in stages:
                t0 = time.perf_counter()
                run_stage(stage, i)
                totals[stage] += time.perf_counter() - t0
        for stage in stages:
            per_image[stage].append(totals[stage] / len(queries))

    print(f"Multi-SC offline stages: {len(queries)} photos at {size[0]}x{size[1]}, {args.threads} threads, "
          f"median of {args.repeats} repetitions; texts over uncoded QPSK/AWGN at {args.snr_db:g} dB")  # fmt: skip
    print("\nset-up (once):")
    for name, seconds in setup.items():
        print(f"  {name:<42s} {seconds:7.2f} s")
    print("\nper image:")
    chain = 0.0
    for stage in stages:
        median = statistics.median(per_image[stage])
        chain += median
        print(
            f"  {stage:<12s} {median * 1e3:9.2f} ms   "
            f"(min {min(per_image[stage]) * 1e3:.2f}, max {max(per_image[stage]) * 1e3:.2f})"
        )
    verdict = "meets" if chain <= TARGET_S else "misses"
    print(f"  {'whole chain':<12s} {chain * 1e3:9.2f} ms   target <= {TARGET_S * 1e3:.0f} ms: {verdict}")

    print("\nwhat the offline defaults produce:")
    for i in range(len(queries)):
        s = state[i]
        name = queries.class_names[queries.labels[i]]
        match = reconstructor.retrieve(s["corrected"])
        got = library.class_names[library.labels[match.index]] if match.index >= 0 else "(mean image)"
        print(
            f"  {name}: box {s['seg'].box} (found={s['seg'].found}), "
            f"library match {got} (cosine {match.score:.2f})"
        )
        for sent, got_text, fixed in zip(s["texts"], s["received"], s["corrected"]):
            print(f"      sent {sent!r}\n        received {got_text!r}\n        corrected {fixed!r}")


if __name__ == "__main__":
    main()
