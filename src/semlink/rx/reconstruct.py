"""Image reconstruction at the Multi-SC receiver: received texts (+ the received crop and box) → image.

Backends (``create_reconstructor(spec, ...)``)
----------------------------------------------
* ``kb-compose`` (default, offline) - the receiver holds its own image library with captions
  (:class:`CaptionLibrary`, built once by captioning the library images with the transmitter's
  captioner, cut into the same ``grid × grid`` blocks and joined as the transmitter joins them).
  The received texts, fused (:func:`fuse_texts`), are ranked against the library captions with
  TF-IDF (scikit-learn ``TfidfVectorizer``: English stop words removed, sublinear tf, L2 rows) and
  cosine similarity; the best entry (lowest index on ties; the library's mean image when no word
  matches) is scaled to cover the requested size and centre-cropped, and the received crop is
  resized to the received box (clipped to the image first) and pasted there. The library must be
  disjoint from the sent images (:meth:`KbComposeReconstructor.check_disjoint`): it is receiver
  knowledge, never sent.
* ``ip-adapter:<dir>`` - diffusers Stable Diffusion (``StableDiffusionPipeline``) + IP-Adapter:
  text-to-image from the fused text, conditioned on the received crop with image-prompt weight
  ``ip_scale`` = λ (``set_ip_adapter_scale``); λ = 0 is plain text-to-image (the IP-Adapter is then
  not loaded and no crop is needed). ``steps`` (30), ``guidance`` (7.5), ``seed`` (0; a CPU
  ``torch.Generator``, so a seed gives the same image on every run), generated at the model's native
  square size and scaled/centre-cropped to the requested size.

``ip-adapter:<dir>`` folder layout (``StableDiffusionPipeline.save_pretrained`` plus the IP-Adapter
files in the layout of the public IP-Adapter release's ``models/`` folder)::

    <dir>/model_index.json
    <dir>/unet/{config.json, diffusion_pytorch_model.safetensors}
    <dir>/vae/{config.json, diffusion_pytorch_model.safetensors}
    <dir>/text_encoder/{config.json, model.safetensors}
    <dir>/tokenizer/{tokenizer.json or vocab.json + merges.txt, tokenizer_config.json}
    <dir>/scheduler/scheduler_config.json
    <dir>/ip_adapter/ip-adapter_sd15.safetensors          (option ip_adapter_weights=, .safetensors or .bin)
    <dir>/ip_adapter/image_encoder/{config.json, model.safetensors}   (CLIPVisionModelWithProjection;
                                                           option image_encoder=)

(``safety_checker/`` and ``feature_extractor/`` may be present and are not used: no safety checker
runs, and the IP-Adapter's CLIP image processor is built from the image encoder's input size when the
folder has none.) The IP-Adapter file holds ``image_proj.*`` and ``ip_adapter.<n>.to_{k,v}_ip.weight``
tensors, as diffusers' ``load_ip_adapter`` reads them.

What crosses the channel for Multi-SC: the texts, the crop (a small image) and the box
(:func:`semlink.tx.segment.encode_box`, 64 bits). The requested output size is the sent image's
size, a system setting both ends know.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.data.base import ImageDataset
from semlink.errors import SemlinkError, require
from semlink.imaging import Box, as_rgb_image, clamp_box, image_digest, parse_size, paste, resize_cover
from semlink.local_models import load_from_dir, require_model_dir, torch_dtype
from semlink.registry import Registry
from semlink.tx.caption import Captioner, split_blocks


def fuse_texts(texts: Sequence[str]) -> str:
    """The received texts as one: stripped, empty ones dropped, joined by ``". "`` (one sentence each)."""
    parts = [t.strip().rstrip(".").strip() for t in texts]
    return ". ".join(p for p in parts if p)


class Reconstructor(abc.ABC):
    """Builds an image from what the receiver got. Subclasses set :attr:`name`, :attr:`uses_crop`."""

    name: str
    #: Whether :meth:`reconstruct` uses the crop (and box): if not, the system need not send them.
    uses_crop: bool = True

    @abc.abstractmethod
    def reconstruct(
        self,
        texts: Sequence[str],
        size: int | tuple[int, int],
        crop: np.ndarray | None = None,
        box: Box | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """``[H, W, 3] uint8`` image of ``size = (H, W)`` from the received texts, crop ``[h,w,3] uint8``
        and box ``(top, left, bottom, right)`` (either may be ``None`` when lost or not sent)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


RECONSTRUCTORS: Registry[Reconstructor] = Registry("reconstructor", {
    "kb-compose": "semlink.rx.reconstruct:make_kb_compose",
    "ip-adapter": ("semlink.rx.reconstruct:make_ip_adapter", "required", "<dir>"),
}, entry_points="semlink.reconstructors")
"""Image reconstructors by name (:mod:`semlink.registry`)."""


def create_reconstructor(spec: str = "kb-compose", **options: Any) -> Reconstructor:
    """Build a reconstructor: ``"kb-compose"`` or ``"ip-adapter:<dir>"``.

    Options: ``library`` (an :class:`ImageDataset`, required) and ``captioner`` (default
    ``create_captioner("imagenet-labels")``; pass the transmitter's), ``grid`` (2) for kb-compose;
    ``ip_scale`` (λ, 0.5), ``steps`` (30), ``guidance`` (7.5), ``seed`` (0), ``negative_prompt``,
    ``ip_adapter_weights``, ``image_encoder``, ``device``, ``dtype`` for ip-adapter.

    Raises
    ------
    SemlinkError
        Unknown backend or option; :class:`MissingResourceError` for a missing model folder or file.
    """
    return RECONSTRUCTORS.create(spec, **options)


def available_reconstructors() -> list[str]:
    return RECONSTRUCTORS.available()


# --------------------------------------------------------------------------------------------------
# kb-compose
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CaptionLibrary:
    """The receiver's captioned image library.

    Attributes
    ----------
    images:
        ``[N, H, W, 3] uint8``.
    captions:
        ``N`` texts, each the fused captions of the image's ``grid × grid`` blocks.
    labels, class_names:
        From the source dataset (for reports: which class was retrieved).
    captioner:
        Name of the captioner that wrote the captions.
    """

    images: np.ndarray
    captions: list[str]
    labels: np.ndarray
    class_names: list[str]
    captioner: str

    @classmethod
    def build(cls, dataset: ImageDataset, captioner: Captioner, grid: int = 2) -> CaptionLibrary:
        """Caption every image of ``dataset`` as the transmitter does: ``grid × grid`` blocks, fused."""
        require(len(dataset) > 0, f"the receiver library {dataset.name!r}/{dataset.split} is empty")
        images = np.stack([as_rgb_image(im) for im in dataset.images])
        blocks = [b for im in images for b in split_blocks(im, grid)]
        texts = captioner.caption(blocks)
        per = grid * grid
        captions = [fuse_texts(texts[i * per : (i + 1) * per]) for i in range(len(images))]
        return cls(images, captions, dataset.labels.copy(), list(dataset.class_names), captioner.name)

    def __len__(self) -> int:
        return len(self.captions)


@dataclass(frozen=True)
class Retrieval:
    """The library entry chosen for a query: ``index`` (-1: none matched, mean image used), cosine ``score``."""

    index: int
    score: float


class KbComposeReconstructor(Reconstructor):
    """Retrieve the library image whose caption best matches the texts, paste the crop at the box."""

    def __init__(self, library: CaptionLibrary) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.library = library
        self.vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
        try:
            self.matrix = self.vectorizer.fit_transform(library.captions)  # [N, vocab] L2-normalised rows
        except ValueError:  # every caption empty or stop words only
            self.matrix = None
        self.mean_image = library.images.astype(np.float64).mean(axis=0).round().astype(np.uint8)
        self._digests = {image_digest(im) for im in library.images}
        self.name = f"kb-compose[{len(library)} images, {library.captioner}]"

    def retrieve(self, texts: Sequence[str]) -> Retrieval:
        """The best library entry for the fused ``texts`` (TF-IDF cosine)."""
        if self.matrix is None:
            return Retrieval(-1, 0.0)
        query = self.vectorizer.transform([fuse_texts(texts)])
        scores = (self.matrix @ query.T).toarray().ravel()
        best = int(np.argmax(scores))
        if scores[best] <= 0.0:
            return Retrieval(-1, 0.0)
        return Retrieval(best, float(scores[best]))

    def check_disjoint(self, images: Sequence[np.ndarray] | np.ndarray) -> None:
        """Raise :class:`SemlinkError` if any of ``images`` (the ones to be sent) is in the library."""
        for i, image in enumerate(images):
            if image_digest(as_rgb_image(image)) in self._digests:
                raise SemlinkError(
                    f"image {i} to be sent is also in the receiver's library; the library must be "
                    f"disjoint from the sent images (e.g. library = the train split, queries = test)"
                )

    def reconstruct(
        self,
        texts: Sequence[str],
        size: int | tuple[int, int],
        crop: np.ndarray | None = None,
        box: Box | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        size = parse_size(size, "output size")
        match = self.retrieve(texts)
        base = self.library.images[match.index] if match.index >= 0 else self.mean_image
        out = resize_cover(base, size)
        if crop is not None and box is not None:
            placed = clamp_box(box, size)
            if placed is not None:
                out = paste(out, as_rgb_image(crop, "crop"), placed)
        return out


def make_kb_compose(argument: str | None, **options: Any) -> Reconstructor:
    RECONSTRUCTORS.check_options("kb-compose", options, {"library", "captioner", "grid"})
    library = options.get("library")
    if isinstance(library, CaptionLibrary):
        return KbComposeReconstructor(library)
    if not isinstance(library, ImageDataset):
        raise SemlinkError(
            "reconstructor 'kb-compose' needs library= (an ImageDataset the receiver holds, disjoint from "
            "the sent images, e.g. load_dataset('photos', split='train'), or a built CaptionLibrary)"
        )
    captioner = options.get("captioner")
    if captioner is None:
        from semlink.tx.caption import create_captioner

        captioner = create_captioner("imagenet-labels")
    return KbComposeReconstructor(CaptionLibrary.build(library, captioner, grid=options.get("grid", 2)))


# --------------------------------------------------------------------------------------------------
# Stable Diffusion + IP-Adapter
# --------------------------------------------------------------------------------------------------

SD_LAYOUT = (
    "model_index.json",
    "unet/config.json",
    "vae/config.json",
    "text_encoder/config.json",
    "tokenizer",
    "scheduler/scheduler_config.json",
)
DEFAULT_IP_ADAPTER_WEIGHTS = "ip_adapter/ip-adapter_sd15.safetensors"
DEFAULT_IMAGE_ENCODER = "ip_adapter/image_encoder"


class DiffusionReconstructor(Reconstructor):
    """Stable Diffusion (+ IP-Adapter for λ > 0) from a local folder; see the module docstring."""

    def __init__(
        self,
        folder: str | Path,
        *,
        ip_scale: float = 0.5,
        steps: int = 30,
        guidance: float = 7.5,
        seed: int = 0,
        negative_prompt: str | None = None,
        ip_adapter_weights: str = DEFAULT_IP_ADAPTER_WEIGHTS,
        image_encoder: str = DEFAULT_IMAGE_ENCODER,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> None:
        backend = "Stable Diffusion + IP-Adapter reconstructor"
        require(0.0 <= float(ip_scale) <= 2.0, f"ip_scale (λ) {ip_scale!r}; accepted: 0 to 2 (0 = text only)")
        require(isinstance(steps, int) and 1 <= steps <= 1000, f"steps {steps!r}; accepted: 1 to 1000")
        require(0.0 <= float(guidance) <= 50.0, f"guidance {guidance!r}; accepted: 0 to 50")
        require(isinstance(seed, int) and seed >= 0, f"seed {seed!r}; accepted: a non-negative integer")
        root = Path(os.path.expanduser(str(folder)))
        weights_rel = Path(os.path.expanduser(ip_adapter_weights))
        encoder_rel = Path(os.path.expanduser(image_encoder))
        needs: list[str | tuple[str, ...]] = list(SD_LAYOUT)
        if ip_scale > 0:
            needs += [str(weights_rel), str(encoder_rel / "config.json")]  # absolute paths win in Path join
        path = require_model_dir(root, backend, needs)
        from diffusers import StableDiffusionPipeline
        from transformers import CLIPVisionModelWithProjection

        from semlink.devices import resolve_device

        self.device = resolve_device(device)
        dt = torch_dtype(dtype)
        pipe = load_from_dir(
            lambda: StableDiffusionPipeline.from_pretrained(
                str(path), safety_checker=None, requires_safety_checker=False, local_files_only=True, dtype=dt
            ),
            path,
            backend,
        )
        if ip_scale > 0:
            encoder_dir, weights_file = path / encoder_rel, path / weights_rel
            encoder = load_from_dir(
                lambda: CLIPVisionModelWithProjection.from_pretrained(str(encoder_dir), dtype=dt),
                encoder_dir,
                backend,
            )
            pipe.register_modules(image_encoder=encoder)
            load_from_dir(
                lambda: pipe.load_ip_adapter(
                    str(weights_file.parent),
                    subfolder="",
                    weight_name=weights_file.name,
                    image_encoder_folder=None,
                    local_files_only=True,
                ),
                weights_file,
                backend,
            )
            pipe.set_ip_adapter_scale(float(ip_scale))
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.ip_scale, self.steps, self.guidance, self.seed = float(ip_scale), steps, float(guidance), seed
        self.negative_prompt = negative_prompt
        self.uses_crop = ip_scale > 0
        native = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        self.generation_size = native
        self.name = f"ip-adapter:{path}[λ={self.ip_scale:g}, {steps} steps, cfg {self.guidance:g}]"

    def reconstruct(
        self,
        texts: Sequence[str],
        size: int | tuple[int, int],
        crop: np.ndarray | None = None,
        box: Box | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        from PIL import Image

        size = parse_size(size, "output size")
        kwargs: dict[str, Any] = {}
        if self.ip_scale > 0:
            if crop is None:
                raise SemlinkError(
                    f"reconstructor {self.name} has image-prompt weight λ = {self.ip_scale:g} and needs the "
                    f"received crop; pass crop=, or use ip_scale=0 for text only"
                )
            kwargs["ip_adapter_image"] = Image.fromarray(as_rgb_image(crop, "crop"))
        generator = torch.Generator("cpu").manual_seed(self.seed if seed is None else int(seed))
        with torch.no_grad():
            result = self.pipe(
                prompt=fuse_texts(texts),
                negative_prompt=self.negative_prompt,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                height=self.generation_size,
                width=self.generation_size,
                generator=generator,
                output_type="np",
                **kwargs,
            )
        image = (np.clip(result.images[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return resize_cover(image, size)


def make_ip_adapter(argument: str | None, **options: Any) -> Reconstructor:
    accepted = {
        "ip_scale",
        "steps",
        "guidance",
        "seed",
        "negative_prompt",
        "ip_adapter_weights",
        "image_encoder",
    }
    RECONSTRUCTORS.check_options("ip-adapter", options, accepted | {"device", "dtype"})
    assert argument is not None
    return DiffusionReconstructor(argument, **options)


__all__ = [
    "CaptionLibrary",
    "DiffusionReconstructor",
    "KbComposeReconstructor",
    "Reconstructor",
    "Retrieval",
    "available_reconstructors",
    "create_reconstructor",
    "fuse_texts",
]
