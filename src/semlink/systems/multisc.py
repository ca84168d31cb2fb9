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
from semlink.phy import MODULATIONS, code_for_budget, payload_bits_for_budget
from semlink.systems.base import Received, SystemBase, TextOutcome, is_noiseless, training_seed

__all__ = ["MultiSc"]

BOX_BITS = 64


class MultiSc(SystemBase):
    """``multi-sc``, ``single-text-sc`` and ``vlm-csc`` at one budget (see the module docstring)."""

    def __init__(self, spec, budget: int) -> None:
        super().__init__(spec, budget)
        self._stages: dict[str, Any] | None = None
        self._sent: dict[str, Any] | None = None
        self._jscc: dict[Any, Any] = {}
        self.crop_uses, self.text_uses, self.box_uses = self._allocate()

    # -- budget ------------------------------------------------------------------------------------
    def _text_link_params(self, uses: int) -> tuple[str, tuple[int, int] | str]:
        modulation = self.spec.text_modulation
        if self.spec.text_rate is None:
            return modulation, "uncoded"
        return modulation, code_for_budget(uses, MODULATIONS[modulation], self.spec.text_rate)

    def _payload_bits(self, uses: int, modulation: str, code) -> int:
        if code == "uncoded":
            return payload_bits_for_budget(uses, MODULATIONS[modulation], None, None)
        return payload_bits_for_budget(uses, MODULATIONS[modulation], *code)

    def _allocate(self) -> tuple[int, int, int]:
        """(crop, per-caption, box) channel uses within the budget."""
        spec, budget = self.spec, self.budget
        if not spec.sends_crop:
            return 0, budget, 0
        crop = int(spec.crop_fraction * budget)
        box = -(-BOX_BITS // MODULATIONS[spec.text_modulation]) if spec.text_rate is None else None
        if box is None:  # coded: whole code blocks of the box's own code
            k, n = code_for_budget(max(64, BOX_BITS), MODULATIONS[spec.text_modulation], spec.text_rate)
            box = -(-BOX_BITS // k) * (n // MODULATIONS[spec.text_modulation])
        per_text = (budget - crop - box) // spec.blocks
        if per_text < 16:
            raise SemlinkError(
                f"system {self.name!r}: a budget of {budget} channel uses leaves {per_text} per caption after the "
                f"crop ({crop}) and box ({box}); raise channel_uses or lower crop_fraction"
            )
        return crop, per_text, box

    def channel_uses_with_padding(self, ctx, channel) -> int:
        return ctx.analog_link(channel).channel_uses(self.budget)

    # -- stages -------------------------------------------------------------------------------------
    def _stage(self, ctx) -> dict[str, Any]:
        if self._stages is None:
            from semlink.data import ImageDataset
            from semlink.rx import create_corrector, create_reconstructor
            from semlink.tx import create_captioner, create_segmenter

            spec = self.spec
            captioner = create_captioner(spec.captioner)
            corrector = create_corrector(spec.corrector, vocabulary=captioner.vocabulary,
                                         phrases=captioner.phrases, closed_vocabulary=captioner.closed_vocabulary)
            options = dict(spec.reconstructor_options)
            if spec.reconstructor.startswith("kb-compose"):
                if ctx.train_images is None or not len(ctx.train_images):
                    raise SemlinkError("reconstructor 'kb-compose' needs the run's training images as its library")
                labels = ctx.train_labels if ctx.train_labels is not None else np.zeros(len(ctx.train_images), np.int64)
                library = ImageDataset(ctx.train_images, labels, ctx.class_names or [str(i) for i in
                                       range(int(labels.max()) + 1)], name="receiver-library", split="train")
                options.update(library=library, captioner=captioner, grid=int(spec.blocks**0.5))
            elif spec.reconstructor.startswith("ip-adapter"):
                options.setdefault("ip_scale", spec.ip_scale if spec.sends_crop else 0.0)
            reconstructor = create_reconstructor(spec.reconstructor, **options)
            if hasattr(reconstructor, "check_disjoint") and ctx.query_images is not None:
                reconstructor.check_disjoint(ctx.query_images)
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
        images = [as_rgb_image(im) for im in ctx.query_images]
        grid = int(self.spec.blocks**0.5)
        blocks = [b for im in images for b in split_blocks(im, grid)]
        captions = stages["captioner"].caption(blocks)
        per = self.spec.blocks
        texts = [captions[i * per : (i + 1) * per] for i in range(len(images))]
        modulation, code = self._text_link_params(self.text_uses)
        budget_bits = self._payload_bits(self.text_uses, modulation, code)
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
    def _crop_code(self) -> tuple[int, int]:
        return code_for_budget(self.crop_uses, MODULATIONS[self.spec.crop_modulation], self.spec.crop_rate)

    def _bpg_payloads(self, ctx, crops: np.ndarray) -> list[bytes]:
        if "bpg" not in self._jscc:
            from semlink.tx.codecs import create_codec, fit_to_budget

            codec = create_codec("bpg")
            bits = payload_bits_for_budget(self.crop_uses, MODULATIONS[self.spec.crop_modulation], *self._crop_code())
            fitted = fit_to_budget(codec, crops, bits, cache=ctx.encode_cache())
            self._jscc["bpg"] = (codec, [f.encoded.payload if f.fits else b"" for f in fitted])
        return self._jscc["bpg"][1]

    def _jscc_codec(self, ctx, channel):
        if channel in self._jscc:
            return self._jscc[channel]
        from semlink.imaging import as_rgb_image, resize
        from semlink.systems.checkpoints import load_or_train
        from semlink.systems.jscc_model import (
            JsccTrainSettings,
            history_dict,
            load_jscc,
            save_jscc,
            symbol_channel,
            train_jscc,
        )

        size = (self.spec.crop_size, self.spec.crop_size)

        def resized(images):
            return np.stack([resize(as_rgb_image(im), size) for im in images])

        settings = JsccTrainSettings(epochs=self.spec.crop_epochs, snr_db=tuple(ctx.train.snr_db),
                                     batch_size=min(32, max(2, len(ctx.train_images) // 2)))
        provenance = {"system": f"{self.name} crop", "budget": self.crop_uses, "channel": channel.model_dump(mode="json"),
                      "link": ctx.link.model_dump(mode="json", exclude={"channel"}), "image_shape": [*size, 3],
                      "data": ctx.data_fingerprint, "seed": ctx.seed, "epochs": self.spec.crop_epochs,
                      "codec_class": "MultiScCropJscc"}
        codec, _ = load_or_train(
            ctx, f"{self.name}-crop__{self.crop_uses}cu__{channel.name}", provenance,
            load=lambda d: load_jscc(d, map_location=ctx.queries.device),
            train=lambda: (lambda c, h: (c, history_dict(h)))(*train_jscc(
                resized(ctx.train_images), resized(ctx.val_images), symbol_channel(ctx.analog_link(channel, packed=True)),
                self.crop_uses, settings, seed=training_seed(ctx.seed, 0), device=ctx.queries.device)),
            save=lambda c, d, h: save_jscc(c, d, history=h, **provenance),
            what=f"{self.name} crop path @ {self.crop_uses} [{channel.name}]",
        )
        self._jscc[channel] = codec.eval()
        return self._jscc[channel]

    def prepare(self, ctx, channel) -> None:
        sent = self._transmitter(ctx)
        if sent["crops"] is None:
            return
        if self.spec.crop_scheme == "deep-jscc":
            self._jscc_codec(ctx, channel)
        else:
            self._bpg_payloads(ctx, sent["crops"])

    def _send_crops(self, ctx, channel, snr_db: float, crops: np.ndarray) -> tuple[list[np.ndarray | None], np.ndarray]:
        """Received crops (None where lost) and the channel uses each took."""
        if self.spec.crop_scheme == "deep-jscc":
            from semlink.systems.jscc_model import symbol_channel, transmit_images

            out = transmit_images(self._jscc_codec(ctx, channel), crops, symbol_channel(ctx.analog_link(channel)),
                                  snr_db, batch_size=ctx.eval_batch_size)
            return list(out.images.cpu().numpy()), np.full(len(crops), self.crop_uses)
        codec, payloads = self._jscc["bpg"]
        link = ctx.digital_link(channel, self.spec.crop_modulation, self._crop_code())
        if is_noiseless(snr_db):
            received, intact = payloads, [True] * len(payloads)
            uses = np.array([link.payload_channel_uses(8 * len(p)) for p in payloads])
        else:
            out = link.transmit_payloads([np.unpackbits(np.frombuffer(p, np.uint8)) for p in payloads], snr_db,
                                         ctx.eval_batch_size)
            received = [np.packbits(b).tobytes() for b in out.bits_hat]
            intact = [bool(ok.all()) for ok in out.block_ok]
            uses = out.channel_uses
        whole = [i for i, p in enumerate(payloads) if p and intact[i]]
        decoded: list[np.ndarray | None] = [None] * len(payloads)
        shape = (self.spec.crop_size, self.spec.crop_size, 3)
        for i, image in zip(whole, codec.decode([received[i] for i in whole], expected_shape=shape)):
            decoded[i] = image
        return decoded, uses

    # -- one point ---------------------------------------------------------------------------------------
    def describe(self, ctx, channel) -> dict[str, Any]:
        modulation, code = self._text_link_params(self.text_uses)
        row = ctx.link.describe(channel, digital=True, modulation=modulation, code=code)
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
        modulation, code = self._text_link_params(self.text_uses)
        text_link = ctx.digital_link(channel, modulation, code)
        frames = [f for row in sent["frames"] for f in row]
        boxes = [encode_box(b).numpy().astype(np.uint8) for b in sent["boxes"]] if sent["boxes"] else []
        if is_noiseless(snr_db):
            got, text_uses = frames + boxes, np.array([text_link.payload_channel_uses(len(f)) for f in frames + boxes])
        else:
            out = text_link.transmit_payloads(frames + boxes, snr_db, ctx.eval_batch_size)
            got, text_uses = out.bits_hat, out.channel_uses
        codec = TextCodec()
        received = [codec.decode(b) for b in got[: len(frames)]]
        corrected = stages["corrector"].correct(received)
        uses = text_uses[: len(frames)].reshape(count, per).sum(axis=1).astype(np.float64)
        crops: list[np.ndarray | None] = [None] * count
        box_rx: list[Any] = [None] * count
        height, width = ctx.query_images.shape[1:3]
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
                                                box_rx[i], seed=ctx.seed)
            for i in range(count)
        ])
        if ctx.query_images.ndim == 3:  # grayscale data: compare in the data's own format
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
