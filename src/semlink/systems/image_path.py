"""Image paths: how an image crosses the link, shared by the image schemes and Multi-SC's crop.

- :class:`DigitalImagePath`: an image codec (BPG by default) rate-matched to the transport block a
  channel-use budget carries at an MCS (:class:`~semlink.phy.budget.TransportLayout`), sent through
  5G NR's transport-block chain; what decodes is shown, the receiver's fallback image where nothing does.
- :class:`JsccCodecs`: deep-JSCC codecs (:mod:`semlink.systems.jscc_model`), one per channel,
  trained through the analog link (:class:`~semlink.systems.trained.TrainedCodecs`), and
  :func:`send_analog` to send images with an analog image codec (deep JSCC, the linear analog code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semlink.systems.trained import TrainedCodecs

__all__ = ["CodecPath", "DigitalImagePath", "JsccCodecs", "PathOutcome", "send_analog"]


@dataclass
class PathOutcome:
    """What crossed a digital image path, per image: ``decoded`` (None where nothing decoded),
    ``intact`` (the transport block passed its CRC; nothing sent counts as intact), ``channel_uses``
    (REs of the allocation sent; 0 for nothing), ``undetected`` (the CRC passed but the bits differ from
    the sent ones: a ground-truth diagnostic the receiver never sees); and the code blocks sent and
    failed (their CRC) in all."""

    decoded: list[np.ndarray | None]
    intact: np.ndarray
    channel_uses: np.ndarray
    undetected: np.ndarray
    sent_blocks: int
    failed_blocks: int


class CodecPath:
    """An image codec with rate matching and a memoised decoder (what every codec scheme shares).

    :param codec: codec name (:func:`semlink.tx.codecs.create_codec`); ``codec_options`` its options.
    :param image_shape: the image shape the receiver knows (configuration), ``(H, W)`` or ``(H, W, 3)``.
    :param max_bits: the payload bits a budget carries (rate matching's default budget).
    """

    def __init__(self, codec: str, codec_options: dict[str, Any], image_shape: tuple[int, ...],
                 max_bits: int = 0) -> None:
        self.codec_name = codec
        self.codec_options = dict(codec_options)
        self.image_shape = tuple(image_shape)
        self.max_bits = int(max_bits)
        self._codec = None
        self._decoded: dict[bytes, np.ndarray | None] = {}

    @property
    def codec(self):
        if self._codec is None:
            from semlink.tx.codecs import create_codec

            self._codec = create_codec(self.codec_name, **self.codec_options)
        return self._codec

    def fit(self, cache, images: np.ndarray, budgets=None) -> list:
        """Per image the best quality whose payload fits ``budgets`` (default: ``max_bits``)
        (:func:`semlink.tx.codecs.fit_to_budget`; encodes through ``cache``)."""
        from semlink.tx.codecs import fit_to_budget

        return fit_to_budget(self.codec, images, self.max_bits if budgets is None else budgets, cache=cache)

    def decode(self, payloads: list[bytes]) -> list[np.ndarray | None]:
        """Decoded images of ``payloads`` (memoised: a payload decodes the same at every SNR). Whatever
        the bytes — an undetected channel error included — this never raises: undecodable is None."""
        todo = sorted({p for p in payloads if p not in self._decoded})
        if todo:
            for payload, image in zip(todo, self.codec.decode(todo, expected_shape=self.image_shape)):
                self._decoded[payload] = image
        return [self._decoded[p] for p in payloads]


class DigitalImagePath(CodecPath):
    """A :class:`CodecPath` over 5G NR transport blocks at one MCS, in a fixed allocation of the budget.

    The payload is rate-matched to the transport block the budget's ``channel_uses`` REs carry at
    ``mcs`` (:class:`~semlink.phy.budget.TransportLayout`: TB and code-block CRCs paid), zero-padded to
    it, and sent in the budget's allocation — the same for every image, so the receiver knows it from
    configuration (no per-image signalling). The receiver learns a failure
    from the CRC only and decodes what it received (a payload's own header says how long it is; the
    padding is ignored). With ``decode_damaged`` it also decodes a payload whose CRC failed (what cannot
    be decoded falls back); by default a failed CRC loses the image.
    """

    def __init__(self, codec: str, codec_options: dict[str, Any], mcs, channel_uses: int,
                 image_shape: tuple[int, ...], decode_damaged: bool = False) -> None:
        from semlink.phy.budget import TransportLayout

        layout = TransportLayout(mcs)
        super().__init__(codec, codec_options, image_shape, layout.max_bits(channel_uses))
        self.mcs = mcs
        self.allocation = layout.allocation(channel_uses)  # the budget's REs; 0 when it carries no TB
        self.decode_damaged = bool(decode_damaged)

    def link(self, links, channel):
        return links.transport(channel, self.mcs)

    def send(self, links, channel, snr_db: float, payloads: list[bytes], batch_size: int) -> PathOutcome:
        """Send each payload (``b""``: nothing) in a transport block of its own across ``channel`` at ``snr_db``."""
        count = len(payloads)
        decoded: list[np.ndarray | None] = [None] * count
        intact, undetected = np.ones(count, dtype=bool), np.zeros(count, dtype=bool)
        uses = np.zeros(count, dtype=np.int64)
        received: list[bytes] = [b""] * count
        sent = [i for i, p in enumerate(payloads) if p]
        sent_blocks = failed_blocks = 0
        if sent:
            link = self.link(links, channel)
            tbs = self.max_bits
            frame = np.zeros((len(sent), tbs), dtype=np.float32)
            for row, i in enumerate(sent):
                bits = np.unpackbits(np.frombuffer(payloads[i], dtype=np.uint8))
                frame[row, : bits.size] = bits
            for start in range(0, len(sent), batch_size):
                rows = sent[start : start + batch_size]
                out = link.transmit_transport_blocks(torch.from_numpy(frame[start : start + len(rows)]), snr_db,
                                                     self.allocation)
                hat = out.bits_hat.cpu().numpy().astype(np.uint8)
                ok, cb_ok = out.tb_ok.cpu().numpy(), out.cb_ok.cpu().numpy()
                sent_blocks += cb_ok.size
                failed_blocks += int((~cb_ok).sum())
                for r, i in enumerate(rows):
                    received[i] = np.packbits(hat[r]).tobytes()
                    intact[i] = bool(ok[r])
                    undetected[i] = bool(ok[r]) and not np.array_equal(hat[r], frame[start + r].astype(np.uint8))
                    uses[i] = self.allocation
        whole = [i for i in sent if intact[i]]
        for i, image in zip(whole, self.decode([received[i] for i in whole])):
            decoded[i] = image
        damaged = [i for i in sent if not intact[i]]
        if damaged and self.decode_damaged:
            for i, image in zip(damaged, self.codec.decode([received[i] for i in damaged],
                                                           expected_shape=self.image_shape)):
                decoded[i] = image
        return PathOutcome(decoded, intact, uses, undetected, sent_blocks, failed_blocks)


class JsccCodecs(TrainedCodecs):
    """Deep-JSCC codecs of one owner, per channel, at ``image_shape``, serving ``budgets`` (one codec for
    all of them: the latent is masked to each budget, :mod:`semlink.systems.jscc_model`).

    :param settings: :class:`~semlink.systems.jscc_training.JsccTrainSettings`, or a function of the
        :class:`~semlink.systems.context.TrainingData` that gives them (when they depend on the data).
    :param images: which training images (:meth:`TrainingData.images_of`: ``"split"`` or ``"pool"``).
    :param resize: images are resized to ``image_shape`` before training (Multi-SC's crop path); None:
        the training images have that shape already.
    :param provenance: extra provenance keys (what else the training reads).
    """

    def __init__(self, name: str, budgets, setting, settings, image_shape: tuple[int, ...],
                 train_index: int = 0, codec_class: str = "DeepJscc", resize: tuple[int, int] | None = None,
                 provenance: dict[str, Any] | None = None, images: str = "split", member: str = "") -> None:
        budgets = sorted({int(b) for b in ([budgets] if isinstance(budgets, int) else budgets)})
        super().__init__(name, max(budgets), setting, train_index, codec_class=codec_class, member=member)
        self.budgets = budgets
        self.settings = settings
        self.image_shape = tuple(image_shape)
        self.resize = resize
        self.images = images
        self.extra = dict(provenance or {})

    def provenance_extra(self, ctx, channel) -> dict[str, Any]:
        data = ctx.training
        pool = {"pool": data.pool_fingerprint} if self.images == "pool" and data is not None else {}
        return {**self.extra, "budgets": self.budgets, **pool}

    def _images(self, images: np.ndarray) -> np.ndarray:
        if self.resize is None:
            return images
        from semlink.imaging import as_rgb_image, resize

        return np.stack([resize(as_rgb_image(im), self.resize) for im in images])

    def train(self, ctx, channel):
        from semlink.systems.analog_codec import symbol_channel
        from semlink.systems.jscc_training import history_dict, train_jscc

        data = ctx.require_training(f"{self.what} [{channel.key}]")
        settings = self.settings(data) if callable(self.settings) else self.settings
        codec, history = train_jscc(
            self._images(data.images_of(self.images)), self._images(data.val_images),
            symbol_channel(ctx.links.analog(channel, packed=True)), self.budgets, settings, seed=self.seed,
            name=f"{self.what} [{channel.key}]", device=ctx.device,
        )
        ctx.log(f"{self.what} [{channel.key}]: best validation PSNR {history.best_val_psnr:.2f} dB at epoch "
                f"{history.best_epoch + 1} ({history.train_seconds:.0f} s)")
        return codec, history_dict(history)

    # A chain of small convolutions: deep JSCC on Fashion-MNIST trains 1.0-1.2x faster at 2 threads than at 1,
    # two 1-thread trainings side by side 2x (KBSC's MLP: 1.7x from a second thread; it stays in the run's process).
    side_by_side = True

    def training_work(self, ctx) -> float:
        data = ctx.training
        if data is None:
            return 0.0
        settings = self.settings(data) if callable(self.settings) else self.settings
        return float(len(data.images_of(self.images)) * settings.max_epochs)

    def load(self, ctx, directory):
        from semlink.systems.jscc_model import load_jscc

        return load_jscc(directory, map_location=ctx.device, expect_image_shape=self.image_shape,
                         expect_channel_uses=self.budget)

    def save(self, codec, directory, history, provenance) -> None:
        from semlink.systems.jscc_model import save_jscc

        save_jscc(codec, directory, history=history, **provenance)

    def columns(self, codec, history) -> dict[str, Any]:
        return {"train_seed": self.seed, "best_epoch": history.get("best_epoch"),
                "best_val_psnr": history.get("best_val_psnr"), "train_seconds": history.get("train_seconds"),
                "snr_at_transmitter": codec.snr_at_transmitter}


def send_analog(codec, images: np.ndarray, links, channel, snr_db: float, batch_size: int,
                channel_uses: int | None = None) -> np.ndarray:
    """Images ``[N, H, W(, C)] uint8`` through an analog image ``codec`` (deep JSCC, linear) and the analog link
    on ``channel`` at ``channel_uses`` (default the codec's) → received, same shape."""
    from semlink.systems.analog_codec import symbol_channel, transmit_images

    out = transmit_images(codec, images, symbol_channel(links.analog(channel)), snr_db, batch_size=batch_size,
                          channel_uses=channel_uses)
    return out.images.cpu().numpy().reshape(images.shape)
