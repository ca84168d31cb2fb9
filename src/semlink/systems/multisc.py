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
channel uses: ``bpg+ldpc`` (BPG rate-matched to whole 5G LDPC code blocks at ``crop_modulation`` and
``crop_rate``; a failed block loses the crop) or ``deep-jscc`` (trained on the run's training
images at ``crop_size²`` through the analog link). The box (4 × 16 bits) and the captions
(:mod:`semlink.tx.caption`, UTF-8 frames with a length header, :mod:`semlink.tx.text`) cross the
digital link at ``text_modulation`` (uncoded, or LDPC at ``text_rate``), each its own stream — the
paper's orthogonal channels — each caption rate-matched to an equal share of what is left of B.

**Receiver.** Texts are decoded (undecodable bytes replaced), corrected
(:mod:`semlink.rx.correct`; ``corrector = "none"`` turns it off) and, with the crop pasted at the
received box, turned into an image (:mod:`semlink.rx.reconstruct`): ``kb-compose`` retrieves the
best-matching image of the receiver's own library (the run's training images, captioned at the
receiver; disjoint from the queries) or ``ip-adapter:<dir>`` generates one with Stable Diffusion.

Channel uses are counted for everything sent (texts as long as they are, box, crop payload):
``channel_uses_sent`` per image, beside the budget ``channel_uses`` — so CBR is comparable with every
other scheme. The output image has the sent image's size, which the receiver knows as configuration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from semlink.errors import SemlinkError
from semlink.phy.budget import CodeLayout
from semlink.phy.config import MODULATIONS
from semlink.systems.base import Received, SystemBase, TextOutcome
from semlink.systems.image_path import DigitalImagePath, JsccCodecs, send_jscc
from semlink.tx.segment import BOX_BITS

__all__ = ["MultiSc"]


class MultiSc(SystemBase):
    """``multi-sc``, ``single-text-sc`` and ``vlm-csc`` at one budget (see the module docstring)."""

    def __init__(self, spec, setting, budget: int) -> None:
        super().__init__(spec, setting, budget)
        self._stages: dict[str, Any] | None = None
        self._sent: dict[str, Any] | None = None
        self._crop_payloads: list[bytes] | None = None
        self.text_layout = self._text_layout()
        self.crop_uses, self.text_uses, self.box_uses = self._allocate()
        self.text_code = self._text_code(self.text_uses)
        size = (spec.crop_size, spec.crop_size)
        self.crop_path = self.crop_codecs = None
        if spec.sends_crop and spec.crop_scheme == "deep-jscc":
            self.crop_codecs = JsccCodecs(
                f"{self.name}-crop", self.crop_uses, setting, self._crop_train_settings, (*size, 3),
                codec_class="MultiScCropJscc", resize=size,
                provenance={"source_shape": [*size, 3], "epochs": spec.crop_epochs},
            )
        elif spec.sends_crop:
            layout = CodeLayout.filling(self.crop_uses, MODULATIONS[spec.crop_modulation], spec.crop_rate)
            self.crop_path = DigitalImagePath("bpg", {}, spec.crop_modulation, layout.code,
                                              layout.max_bits(self.crop_uses), (*size, 3))

    # -- budget ------------------------------------------------------------------------------------
    def _text_layout(self) -> CodeLayout:
        """The text link's layout at the box's size (coded: the box's own code)."""
        bps = MODULATIONS[self.spec.text_modulation]
        if self.spec.text_rate is None:
            return CodeLayout(bps)
        return CodeLayout.filling(max(64, BOX_BITS), bps, self.spec.text_rate)

    def _text_code(self, uses: int) -> tuple[int, int] | str:
        if self.spec.text_rate is None:
            return "uncoded"
        return CodeLayout.filling(uses, MODULATIONS[self.spec.text_modulation], self.spec.text_rate).code

    def _allocate(self) -> tuple[int, int, int]:
        """(crop, per-caption, box) channel uses within the budget."""
        spec, budget = self.spec, self.budget
        if not spec.sends_crop:
            return 0, budget, 0
        crop = int(spec.crop_fraction * budget)
        box = self.text_layout.symbols(BOX_BITS)
        per_text = (budget - crop - box) // spec.blocks
        if per_text < 16:
            raise SemlinkError(
                f"system {self.name!r}: a budget of {budget} channel uses leaves {per_text} per caption after the "
                f"crop ({crop}) and box ({box}); raise channel_uses or lower crop_fraction"
            )
        return crop, per_text, box

    def _crop_train_settings(self, data):
        from semlink.systems.jscc_training import JsccTrainSettings

        return JsccTrainSettings(epochs=self.spec.crop_epochs, snr_db=tuple(self.setting.train_snr_db),
                                 batch_size=min(32, max(2, len(data.images) // 2)))

    # -- stages -------------------------------------------------------------------------------------
    def _stage(self, ctx) -> dict[str, Any]:
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
            if hasattr(reconstructor, "check_disjoint") and ctx.queries.images is not None:
                reconstructor.check_disjoint(ctx.queries.images)
            segmenter = create_segmenter(spec.segmenter) if spec.sends_crop and reconstructor.uses_crop else None
            self._stages = {"captioner": captioner, "corrector": corrector, "reconstructor": reconstructor,
                            "segmenter": segmenter}
        return self._stages

    def _transmitter(self, ctx) -> dict[str, Any]:
        """What the transmitter sends for every query (channel-independent, computed once)."""
        if self._sent is not None:
            return self._sent
        from semlink.imaging import as_rgb_image, resize
        from semlink.tx import TextCodec, split_blocks

        stages = self._stage(ctx)
        images = [as_rgb_image(im) for im in ctx.queries.images]
        grid = int(self.spec.blocks**0.5)
        blocks = [b for im in images for b in split_blocks(im, grid)]
        captions = stages["captioner"].caption(blocks)
        per = self.spec.blocks
        texts = [captions[i * per : (i + 1) * per] for i in range(len(images))]
        code = self.text_code
        budget_bits = CodeLayout(MODULATIONS[self.spec.text_modulation],
                                 None if code == "uncoded" else code).max_bits(self.text_uses)
        codec = TextCodec()
        sent: dict[str, Any] = {
            "texts": [[codec.fit(t, budget_bits) for t in row] for row in texts],
            "frames": [[codec.encode(t, budget_bits).numpy().astype(np.uint8) for t in row] for row in texts],
            "boxes": None, "crops": None,
        }
        if stages["segmenter"] is not None:
            segments = stages["segmenter"].segment_batch(images)
            sent["boxes"] = [s.box for s in segments]
            size = (self.spec.crop_size, self.spec.crop_size)
            sent["crops"] = np.stack([resize(s.crop, size) for s in segments])
        self._sent = sent
        return sent

    # -- the crop's image path -------------------------------------------------------------------------
    def prepare(self, ctx, channel) -> None:
        sent = self._transmitter(ctx)
        if sent["crops"] is None:
            return
        if self.crop_codecs is not None:
            self.crop_codecs.get(ctx, channel)
        elif self._crop_payloads is None:
            fitted = self.crop_path.fit(ctx.encode_cache(), sent["crops"])
            self._crop_payloads = [f.encoded.payload if f.fits else b"" for f in fitted]

    def _send_crops(self, ctx, channel, snr_db: float, crops: np.ndarray) -> tuple[list[np.ndarray | None], np.ndarray]:
        """Received crops (None where lost) and the channel uses each took."""
        if self.crop_codecs is not None:
            received = send_jscc(self.crop_codecs.get(ctx, channel), crops, ctx.links, channel, snr_db,
                                 ctx.queries.batch_size)
            return list(received), np.full(len(crops), self.crop_uses)
        out = self.crop_path.send(ctx.links, channel, snr_db, self._crop_payloads, ctx.queries.batch_size)
        return out.decoded, out.channel_uses

    # -- one point ---------------------------------------------------------------------------------------
    def describe(self, links, channel) -> dict[str, Any]:
        row = links.describe(channel, digital=True, modulation=self.spec.text_modulation, code=self.text_code)
        return {**row, "link": "digital+" + ("analog" if self.spec.crop_scheme == "deep-jscc" else "digital"),
                "grid": int(self.spec.blocks**0.5), "crop_scheme": self.spec.crop_scheme if self.spec.sends_crop else None,
                "corrector": self.spec.corrector, "reconstructor": self.spec.reconstructor,
                "ip_scale": self.spec.ip_scale, "crop_channel_uses": self.crop_uses,
                "text_channel_uses": self.text_uses, "box_channel_uses": self.box_uses}

    @torch.no_grad()
    def transmit(self, ctx, channel, snr_db: float) -> Received:
        from semlink.imaging import resize
        from semlink.tx import TextCodec, decode_box, encode_box

        self.prepare(ctx, channel)
        sent, stages = self._transmitter(ctx), self._stage(ctx)
        count, per = len(sent["frames"]), self.spec.blocks
        text_link = ctx.links.digital(channel, self.spec.text_modulation, self.text_code)
        frames = [f for row in sent["frames"] for f in row]
        boxes = [encode_box(b).numpy().astype(np.uint8) for b in sent["boxes"]] if sent["boxes"] else []
        out = text_link.transmit_payloads(frames + boxes, snr_db, ctx.queries.batch_size)
        got, text_uses = out.bits_hat, out.channel_uses
        codec = TextCodec()
        received = [codec.decode(b) for b in got[: len(frames)]]
        corrected = stages["corrector"].correct(received)
        uses = text_uses[: len(frames)].reshape(count, per).sum(axis=1).astype(np.float64)
        crops: list[np.ndarray | None] = [None] * count
        box_rx: list[Any] = [None] * count
        query_images = ctx.queries.images
        height, width = query_images.shape[1:3]
        if sent["crops"] is not None:
            box_rx = [decode_box(b, (height, width)) for b in got[len(frames):]]
            uses += text_uses[len(frames):]
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
        flat_sent = [t for row in sent["texts"] for t in row]

        def joined(texts, n=4):  # the first queries' texts, one string per query (blocks joined by " | ")
            return np.array([" | ".join(texts[i * per : (i + 1) * per]) for i in range(min(n, count))])

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
                "crop_loss_rate": float(np.mean([c is None for c in crops])) if sent["crops"] is not None else None,
            },
            examples=examples,
        )
