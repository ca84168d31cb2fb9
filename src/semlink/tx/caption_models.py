"""Captioners backed by transformers models in local folders: ``llava:<dir>`` and ``blip:<dir>``.

Named in :data:`semlink.tx.caption.CAPTIONERS` (imported on first use of their names); see
its docstring for the folder layout. Nothing is downloaded: a missing folder or file raises
:class:`~semlink.errors.MissingResourceError` before transformers is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from semlink.errors import MissingResourceError, require
from semlink.local_models import WEIGHT_FILES, load_from_dir, require_model_dir, torch_dtype
from semlink.tx.caption import CAPTIONERS, PAPER_QUERY, Captioner, check_batch_size

_TOKENIZER = ("tokenizer.json", "tokenizer_config.json")
_IMAGE_PROCESSOR = ("preprocessor_config.json", "processor_config.json")


def _pil_images(images: list[np.ndarray]) -> list[Any]:
    from PIL import Image

    return [Image.fromarray(im) for im in images]


def _check_new_tokens(max_new_tokens: Any) -> int:
    require(
        isinstance(max_new_tokens, int)
        and not isinstance(max_new_tokens, bool)
        and 1 <= max_new_tokens <= 1024,
        f"max_new_tokens {max_new_tokens!r}; accepted: 1 to 1024",
    )
    return int(max_new_tokens)


class LlavaCaptioner(Captioner):
    """LLaVA answering :data:`PAPER_QUERY` about each image (greedy decoding)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        query: str = PAPER_QUERY,
        max_new_tokens: int = 48,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 4,
    ) -> None:
        backend = "LLaVA captioner"
        path = require_model_dir(folder, backend, ["config.json", WEIGHT_FILES, _TOKENIZER, _IMAGE_PROCESSOR])
        self.max_new_tokens = _check_new_tokens(max_new_tokens)
        self.batch_size = check_batch_size(batch_size)
        require(isinstance(query, str) and query.strip() != "", "the LLaVA query must be a non-empty string")
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        from semlink.devices import resolve_device

        self.device = resolve_device(device)
        self.processor = load_from_dir(lambda: AutoProcessor.from_pretrained(str(path)), path, backend)
        if getattr(self.processor, "chat_template", None) is None:
            raise MissingResourceError(
                f"{backend}: model folder {str(path)!r} has no chat template (chat_template.jinja, "
                f"chat_template.json or 'chat_template' in tokenizer_config.json); the query is sent through it"
            )
        self.model = load_from_dir(
            lambda: LlavaForConditionalGeneration.from_pretrained(str(path), dtype=torch_dtype(dtype)),
            path,
            backend,
        )
        self.model.eval().to(self.device)
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # decoder-only batches generate after the last prompt token
        conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": query}]}]
        self.prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.query = query
        self.name = f"llava:{path}"

    def _caption_batch(self, images: list[np.ndarray]) -> list[str]:
        inputs = self.processor(
            images=_pil_images(images), text=[self.prompt] * len(images), return_tensors="pt", padding=True
        ).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.no_grad():
            out = self.model.generate(
                **inputs,
                do_sample=False,
                num_beams=1,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=self.pad_token_id,
            )
        new_tokens = out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


def make_llava(argument: str | None, **options: Any) -> Captioner:
    CAPTIONERS.check_options("llava", options, {"query", "max_new_tokens", "device", "dtype", "batch_size"})
    assert argument is not None
    return LlavaCaptioner(argument, **options)


class BlipCaptioner(Captioner):
    """BLIP image captioning (greedy decoding)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        prompt: str | None = None,
        max_new_tokens: int = 30,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 8,
    ) -> None:
        backend = "BLIP captioner"
        path = require_model_dir(folder, backend, ["config.json", WEIGHT_FILES, _TOKENIZER, _IMAGE_PROCESSOR])
        self.max_new_tokens = _check_new_tokens(max_new_tokens)
        self.batch_size = check_batch_size(batch_size)
        from transformers import BlipForConditionalGeneration, BlipProcessor

        from semlink.devices import resolve_device

        self.device = resolve_device(device)
        self.processor = load_from_dir(lambda: BlipProcessor.from_pretrained(str(path)), path, backend)
        self.model = load_from_dir(
            lambda: BlipForConditionalGeneration.from_pretrained(str(path), dtype=torch_dtype(dtype)),
            path,
            backend,
        )
        self.model.eval().to(self.device)
        self.prompt = prompt
        self.name = f"blip:{path}"

    def _caption_batch(self, images: list[np.ndarray]) -> list[str]:
        kwargs: dict[str, Any] = {"images": _pil_images(images), "return_tensors": "pt"}
        if self.prompt:
            kwargs["text"] = [self.prompt] * len(images)
        inputs = self.processor(**kwargs).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.no_grad():
            out = self.model.generate(
                **inputs, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens
            )
        return [t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True)]


def make_blip(argument: str | None, **options: Any) -> Captioner:
    CAPTIONERS.check_options("blip", options, {"prompt", "max_new_tokens", "device", "dtype", "batch_size"})
    assert argument is not None
    return BlipCaptioner(argument, **options)
