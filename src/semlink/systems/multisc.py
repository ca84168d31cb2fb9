"""Multi-text semantic transmission (Huang & Li 2025) and its single-text ablations.

==================  =============================================================================
type                what crosses the channel (per image, within the budget B)
==================  =============================================================================
``multi-sc``        the main object's crop (an image path) + its box + one caption per block of a
                    ``grid × grid`` cut (default 2 × 2), each text its own stream
``single-text-sc``  the crop + its box + one caption of the whole image
``vlm-csc``         one caption of the whole image, no crop (VLM-CSC: caption → generation)
==================  =============================================================================

**Transmitter.** Segmentation (:mod:`semlink.tx.segment`) boxes the main object; its crop is
resized to ``crop_size²`` and crosses an image path of the baselines at ``crop_fraction · B``
channel uses: ``bpg+ldpc`` (BPG rate-matched to the transport block of that allocation, as the
separation baseline sends a whole image: :class:`~semlink.systems.image_path.DigitalImagePath`) or
``deep-jscc`` (trained on the run's training images at ``crop_size²`` through the analog link). The
box (4 × 16 bits) and each caption (:mod:`semlink.tx.caption`, UTF-8 frames with a length header,
:mod:`semlink.tx.text`) go in transport blocks of their own — the paper's orthogonal channels — the box
in the smallest allocation that carries 64 bits, each caption in an equal share of what is left of
B, its text cut at whole words to fit its transport block.

**The same footing as the separation baseline.** Crop, box and captions are 5G NR transport blocks at
one MCS (:class:`~semlink.systems.specs.image.McsFamily`: the same tables and the same rule as
``bpg+ldpc``: a family of MCS chosen per (budget, channel, SNR) on the validation split).

**Receiver.** It knows its allocations (configuration), not the sent lengths: each caption's whole
transport block is decoded as a text frame (a length header inside it says where the text ends;
damaged bits make damaged text, which the corrector then works on: :mod:`semlink.rx.correct`;
``corrector = "none"`` turns it off); a box whose CRC failed is unknown, a crop whose CRC failed is
lost. With the crop pasted at the received box, the texts are turned into an image
(:mod:`semlink.rx.reconstruct`): ``kb-compose`` retrieves the best-matching image of the receiver's
own library (the run's training images, captioned at the receiver; disjoint from the queries) or
``ip-adapter:<dir>`` generates one with Stable Diffusion.

Channel uses: every allocation sent (crop, box, captions): ``channel_uses_sent`` per image, beside the
budget ``channel_uses`` — so CBR is comparable with every other scheme. The output image has the sent
image's size, which the receiver knows as configuration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.phy.budget import TransportLayout
from semlink.systems.base import Received, SystemBase, TextOutcome
from semlink.systems.image_path import DigitalImagePath, JsccCodecs, send_analog
from semlink.systems.specs.image import mcs_variant
from semlink.tx.segment import BOX_BITS

__all__ = ["MultiSc"]

#: The smallest caption frame worth sending: the 16-bit length header and one byte.
MIN_TEXT_BITS = 24
#: Random crops (at random scales and places, flipped at random) of each receiver-side library image that
#: the deep-JSCC crop path learns from: objects come as crops of all sizes, never as the sent scenes.
CROPS_PER_IMAGE = 64


def random_crops(images: np.ndarray, size: tuple[int, int], per_image: int, seed: int) -> np.ndarray:
    """``per_image`` random square crops of each image (side 20-100 % of its shorter side, anywhere, flipped
    half the time), resized to ``size``: ``[N * per_image, *size, 3] uint8``.

    >>> random_crops(np.zeros((2, 40, 30, 3), np.uint8), (16, 16), 3, seed=0).shape
    (6, 16, 16, 3)
    """
    from semlink.imaging import as_rgb_image, resize

    rng = np.random.default_rng([seed, 0x43524F50])  # "CROP"
    out = []
    for image in images:
        image = as_rgb_image(image)
        height, width = image.shape[:2]
        for _ in range(per_image):
            side = max(2, int(round(rng.uniform(0.2, 1.0) * min(height, width))))
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            crop = image[top : top + side, left : left + side]
            out.append(resize(crop[:, ::-1] if rng.random() < 0.5 else crop, size))
    return np.stack(out)


class CropJsccCodecs(JsccCodecs):
    """The deep-JSCC codec of Multi-SC's crop path: trained on :data:`CROPS_PER_IMAGE` random crops of each
    receiver-side library image (validated on crops of the validation images), not on the sent scenes."""

    def _images(self, images: np.ndarray) -> np.ndarray:
        return random_crops(images, self.resize, CROPS_PER_IMAGE, self.seed)


class _Transmitter:
    """What one Multi-SC entry computes once for all its members (MCS): the stages, and per query set the
    captions of every block, the boxes and the crops (channel-independent)."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self._stages: dict[str, Any] | None = None
        self._sent: dict[str, dict[str, Any]] = {}

    def stages(self, ctx) -> dict[str, Any]:
        if self._stages is None:
            from semlink.data import ImageDataset
            from semlink.rx import create_corrector, create_reconstructor
            from semlink.tx import create_captioner, create_segmenter

            spec, own = self.spec, ctx.library
            captioner = create_captioner(spec.captioner)
            corrector = create_corrector(spec.corrector, vocabulary=captioner.vocabulary,
                                         phrases=captioner.phrases, closed_vocabulary=captioner.closed_vocabulary)
            options = dict(spec.reconstructor_options)
            if spec.reconstructor.startswith("kb-compose"):
                if own.images is None or not len(own.images):
                    raise SemlinkError("reconstructor 'kb-compose' needs the run's training images as its library")
                labels = own.labels if own.labels is not None else np.zeros(len(own.images), np.int64)
                library = ImageDataset(own.images, labels, own.class_names or [str(i) for i in
                                       range(int(labels.max()) + 1)], name="receiver-library", split="train")
                options.update(library=library, captioner=captioner, grid=int(spec.blocks**0.5))
            elif spec.reconstructor.startswith("ip-adapter"):
                options.setdefault("ip_scale", spec.ip_scale if spec.sends_crop else 0.0)
            reconstructor = create_reconstructor(spec.reconstructor, **options)
            segmenter = create_segmenter(spec.segmenter) if spec.sends_crop and reconstructor.uses_crop else None
            self._stages = {"captioner": captioner, "corrector": corrector, "reconstructor": reconstructor,
                            "segmenter": segmenter}
        return self._stages

    def sent(self, ctx) -> dict[str, Any]:
        """Per query of ``ctx.queries``: its blocks' captions, box and crop (None without a crop)."""
        name = ctx.queries.name
        if name not in self._sent:
            from semlink.imaging import as_rgb_image, resize
            from semlink.tx import split_blocks

            stages = self.stages(ctx)
            reconstructor = stages["reconstructor"]
            if hasattr(reconstructor, "check_disjoint") and ctx.queries.images is not None:
                reconstructor.check_disjoint(ctx.queries.images)
            images = [as_rgb_image(im) for im in ctx.queries.images]
            grid, per = int(self.spec.blocks**0.5), self.spec.blocks
            captions = stages["captioner"].caption([b for im in images for b in split_blocks(im, grid)])
            sent: dict[str, Any] = {"captions": [captions[i * per : (i + 1) * per] for i in range(len(images))],
                                    "boxes": None, "crops": None}
            if stages["segmenter"] is not None:
                segments = stages["segmenter"].segment_batch(images)
                size = (self.spec.crop_size, self.spec.crop_size)
                sent["boxes"] = [s.box for s in segments]
                sent["crops"] = np.stack([resize(s.crop, size) for s in segments])
            self._sent[name] = sent
        return self._sent[name]


class MultiSc(SystemBase):
    """``multi-sc``, ``single-text-sc`` and ``vlm-csc`` at one budget and MCS (see the module docstring)."""

    def __init__(self, spec, setting, budget: int, mcs=None, family: bool = False,
                 transmitter: _Transmitter | None = None) -> None:
        super().__init__(spec, setting, budget)
        self.mcs = mcs if mcs is not None else spec.family(setting.link)[0]
        self.selection_metric = spec.selection_metric if family else None
        self.variant = mcs_variant(self.mcs) if family or spec.mcs is not None else ""
        self.transmitter = transmitter or _Transmitter(spec)
        layout = TransportLayout(self.mcs)
        self.crop_uses, self.text_uses, self.box_uses = self._allocate(layout)
        self.text_allocation, self.text_bits = layout.allocation(self.text_uses), layout.max_bits(self.text_uses)
        self.box_allocation = layout.allocation(self.box_uses) if self.box_uses else 0
        self.box_bits = layout.max_bits(self.box_uses) if self.box_uses else 0
        self._crop_payloads: dict[str, list[bytes]] = {}
        self._frames: dict[str, tuple[list[list[str]], list[np.ndarray]]] = {}
        size = (spec.crop_size, spec.crop_size)
        self.crop_path = self.crop_codecs = None
        if spec.sends_crop and spec.crop_scheme == "deep-jscc":
            self.crop_codecs = CropJsccCodecs(
                f"{self.name}-crop", self.crop_uses, setting, self._crop_train_settings, (*size, 3),
                codec_class="MultiScCropJscc", resize=size, member=self.variant,
                provenance={"source_shape": [*size, 3], "epochs": spec.crop_epochs,
                            "crops_per_image": CROPS_PER_IMAGE},
            )
        elif spec.sends_crop:
            self.crop_path = DigitalImagePath("bpg", {}, self.mcs, self.crop_uses, (*size, 3))

    @classmethod
    def expand(cls, spec, setting, budget: int) -> list[MultiSc]:
        members = [m for m in spec.family(setting.link) if cls.carries(spec, budget, m)]
        if not members:
            raise SemlinkError(f"system {spec.display_name!r}: a budget of {budget} channel uses carries its box and "
                               "captions at none of its MCS; raise channel_uses or lower crop_fraction")
        shared = _Transmitter(spec)
        return [cls(spec, setting, budget, m, len(members) > 1, shared) for m in members]

    # -- budget ------------------------------------------------------------------------------------
    @staticmethod
    def _split(spec, budget: int, layout: TransportLayout) -> tuple[int, int, int]:
        """(crop, per-caption, box) channel uses within the budget at ``layout``'s MCS."""
        if not spec.sends_crop:
            return 0, budget, 0
        crop = int(spec.crop_fraction * budget)
        box = layout.symbols(BOX_BITS)
        return crop, (budget - crop - box) // spec.blocks, box

    @classmethod
    def carries(cls, spec, budget: int, mcs) -> bool:
        """Whether ``budget`` carries the box and a caption of at least one character at ``mcs``."""
        layout = TransportLayout(mcs)
        _, text, _ = cls._split(spec, budget, layout)
        return text > 0 and layout.max_bits(text) >= MIN_TEXT_BITS

    def _allocate(self, layout: TransportLayout) -> tuple[int, int, int]:
        crop, text, box = self._split(self.spec, self.budget, layout)
        if text <= 0 or layout.max_bits(text) < MIN_TEXT_BITS:
            raise SemlinkError(
                f"system {self.name!r}: a budget of {self.budget} channel uses leaves {text} per caption after the "
                f"crop ({crop}) and box ({box}) at {self.mcs.label}, too few for a caption; raise channel_uses or "
                "lower crop_fraction"
            )
        return crop, text, box

    def _crop_train_settings(self, data):
        from semlink.systems.jscc_training import JsccTrainSettings

        return JsccTrainSettings(max_epochs=self.spec.crop_epochs, snr_db=tuple(self.setting.train_snr_db),
                                 batch_size=min(32, max(2, CROPS_PER_IMAGE * len(data.images) // 2)))

    def _text_link(self, links, channel):
        return links.transport(channel, self.mcs)

    def ebno_offset_db(self, links, channel) -> float:
        return self._text_link(links, channel).ebno_to_snr_db(0.0, self.text_allocation)

    # -- the transmitter ------------------------------------------------------------------------------
    def _sent_frames(self, ctx) -> tuple[list[list[str]], list[np.ndarray]]:
        """The captions as they fit their transport block, and their frames (``[text_bits] uint8`` each)."""
        from semlink.tx import TextCodec

        name = ctx.queries.name
        if name not in self._frames:
            sent, codec = self.transmitter.sent(ctx), TextCodec()
            texts = [[codec.fit(t, self.text_bits) for t in row] for row in sent["captions"]]
            frames = []
            for row in sent["captions"]:
                for text in row:
                    bits = codec.encode(text, self.text_bits).numpy().astype(np.uint8)
                    frames.append(np.pad(bits, (0, self.text_bits - bits.size)))
            self._frames[name] = (texts, frames)
        return self._frames[name]

    def trained_codecs(self) -> list:
        return [self.crop_codecs] if self.crop_codecs is not None else []

    def prepare(self, ctx, channel) -> None:
        sent = self.transmitter.sent(ctx)
        if sent["crops"] is None:
            return
        if self.crop_codecs is not None:
            self.crop_codecs.get(ctx, channel)
        elif ctx.queries.name not in self._crop_payloads:
            fitted = self.crop_path.fit(ctx.encode_cache(), sent["crops"])
            self._crop_payloads[ctx.queries.name] = [f.encoded.payload if f.fits else b"" for f in fitted]

    def _send_crops(self, ctx, channel, snr_db: float, crops: np.ndarray) -> tuple[list[np.ndarray | None], np.ndarray]:
        """Received crops (None where lost) and the channel uses each took."""
        if self.crop_codecs is not None:
            received = send_analog(self.crop_codecs.get(ctx, channel), crops, ctx.links, channel, snr_db,
                                   ctx.queries.batch_size)
            return list(received), np.full(len(crops), self.crop_uses)
        out = self.crop_path.send(ctx.links, channel, snr_db, self._crop_payloads[ctx.queries.name],
                                  ctx.queries.batch_size)
        return out.decoded, out.channel_uses

    @staticmethod
    def _send_blocks(link, rows: list[np.ndarray], allocation: int, snr_db: float, batch: int):
        """Rows of one transport block's bits each, sent in ``allocation`` REs: ``(bits_hat [N, TBS] uint8,
        tb_ok [N], allocation)``."""
        frame = torch.from_numpy(np.stack(rows).astype(np.float32))
        hats, oks = [], []
        for start in range(0, len(rows), batch):
            out = link.transmit_transport_blocks(frame[start : start + batch], snr_db, allocation)
            hats.append(out.bits_hat.cpu().numpy().astype(np.uint8))
            oks.append(out.tb_ok.cpu().numpy())
        return np.concatenate(hats), np.concatenate(oks), allocation

    # -- one point ---------------------------------------------------------------------------------------
    def describe(self, links, channel) -> dict[str, Any]:
        row = links.describe(channel, digital=True, mcs=self.mcs, channel_uses=self.text_allocation)
        return {**row, "link": "digital+" + ("analog" if self.spec.crop_scheme == "deep-jscc" else "digital"),
                "grid": int(self.spec.blocks**0.5), "crop_scheme": self.spec.crop_scheme if self.spec.sends_crop else None,
                "corrector": self.spec.corrector, "reconstructor": self.spec.reconstructor,
                "ip_scale": self.spec.ip_scale, "crop_channel_uses": self.crop_uses,
                "text_channel_uses": self.text_uses, "box_channel_uses": self.box_uses,
                "text_tb_bits": self.text_bits}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.imaging import resize
        from semlink.tx import TextCodec, decode_box, encode_box

        self.prepare(ctx, channel)
        stages, sent = self.transmitter.stages(ctx), self.transmitter.sent(ctx)
        texts, frames = self._sent_frames(ctx)
        count, per = len(texts), self.spec.blocks
        link, batch = self._text_link(ctx.links, channel), ctx.queries.batch_size
        got, text_ok, text_allocation = self._send_blocks(link, frames, self.text_allocation, snr_db, batch)
        codec = TextCodec()
        # The receiver decodes each whole transport block: it knows its allocation, not the sent length.
        received = [codec.decode(bits) for bits in got]
        corrected = stages["corrector"].correct(received)
        uses = np.full(count, per * text_allocation, dtype=np.float64)
        crops: list[np.ndarray | None] = [None] * count
        box_rx: list[Any] = [None] * count
        query_images = ctx.queries.images
        height, width = query_images.shape[1:3]
        if sent["crops"] is not None:
            boxes = [np.pad(encode_box(b).numpy().astype(np.uint8), (0, self.box_bits - BOX_BITS)) for b in sent["boxes"]]
            box_hat, box_ok, box_allocation = self._send_blocks(link, boxes, self.box_allocation, snr_db, batch)
            box_rx = [decode_box(bits[:BOX_BITS], (height, width)) if ok else None for bits, ok in zip(box_hat, box_ok)]
            uses += box_allocation
            crop_rx, crop_uses = self._send_crops(ctx, channel, snr_db, sent["crops"])
            uses += crop_uses
            for i, (crop, box) in enumerate(zip(crop_rx, box_rx)):
                if crop is not None and box is not None:
                    crops[i] = resize(crop, (box[2] - box[0], box[3] - box[1]))
        images = np.stack([
            stages["reconstructor"].reconstruct(corrected[i * per : (i + 1) * per], (height, width), crops[i],
                                                box_rx[i], seed=ctx.artifacts.seed)
            for i in range(count)
        ])
        if query_images.ndim == 3:  # grayscale data: compare in the data's own format
            images = images.mean(axis=-1).round().astype(np.uint8)
        flat_sent = [t for row in texts for t in row]

        def joined(values, n=4):  # the first queries' texts, one string per query (blocks joined by " | ")
            return np.array([" | ".join(values[i * per : (i + 1) * per]) for i in range(min(n, count))])

        examples = {"texts_sent": joined(flat_sent), "texts_received": joined(received),
                    "texts_corrected": joined(corrected)}
        if sent["crops"] is not None:
            examples["crops"] = sent["crops"][:4]
        return Received(
            images=images,
            texts=TextOutcome(sent=flat_sent, received=received, corrected=corrected),
            channel_uses_sent=uses,
            extras={
                "text_exact_rate": float(np.mean([a == b for a, b in zip(received, flat_sent)])),
                "text_block_failure_rate": float(np.mean(~text_ok)),
                "crop_loss_rate": float(np.mean([c is None for c in crops])) if sent["crops"] is not None else None,
            },
            examples=examples,
        )
