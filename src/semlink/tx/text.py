"""Text over bits: UTF-8 text ↔ ``[L] float32`` 0/1 bits (Sionna's convention), fitted to a bit budget.

Frame layout (every field MSB first)::

    [ n: HEADER_BITS = 16-bit unsigned, the number of payload bytes ][ payload: 8·n bits, UTF-8 ]

* The receiver learns the text's length from the 16-bit header alone, so a frame needs no
  terminator and no out-of-band length; the header is counted in every bit total
  (:meth:`TextCodec.num_bits`, :attr:`PackedTexts.num_bits`). 16 bits allow 65 535 bytes.
* A bit budget caps a frame at ``budget_bits`` bits: the text is cut to the longest prefix of whole
  characters whose UTF-8 bytes fit in ``(budget_bits - 16) // 8`` bytes (never inside a multi-byte
  character). A frame is as long as its text needs (variable length), never padded to the budget.
* Decoding never raises on channel errors: a header that claims more bytes than arrived is clamped
  to the bytes present, and bytes that are not valid UTF-8 become U+FFFD (``errors="replace"``).

>>> codec = TextCodec()
>>> bits = codec.encode("a photo of a tabby cat")
>>> bits.shape, bits.dtype
(torch.Size([192]), torch.float32)
>>> codec.decode(bits)
'a photo of a tabby cat'
>>> codec.decode(codec.encode("a photo of a tabby cat", budget_bits=100))
'a photo of'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from semlink.errors import SemlinkError, require

HEADER_BITS = 16


# --------------------------------------------------------------------------------------------------
# Integers and bytes as bits
# --------------------------------------------------------------------------------------------------


def uint_to_bits(values: Sequence[int] | np.ndarray, width: int) -> torch.Tensor:
    """Unsigned integers → ``[len(values) · width] float32`` bits, each value MSB first.

    Raises :class:`SemlinkError` when a value does not fit in ``width`` bits.
    """
    require(1 <= width <= 62, f"bit width {width}; accepted: 1 to 62")
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= 1 << width):
        raise SemlinkError(
            f"values {arr.tolist()} do not fit in {width} unsigned bits (0 to {(1 << width) - 1})"
        )
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = (arr[:, None] >> shifts) & 1
    return torch.from_numpy(bits.reshape(-1).astype(np.float32))


def bits_to_uint(bits: torch.Tensor | np.ndarray, width: int) -> np.ndarray:
    """``[k · width]`` bits (any real dtype; ≥ 0.5 reads as 1) → ``[k] int64`` unsigned integers."""
    b = _hard_bits(bits)
    require(b.size % width == 0, f"{b.size} bits are not a whole number of {width}-bit fields")
    weights = 1 << np.arange(width - 1, -1, -1, dtype=np.int64)
    return (b.reshape(-1, width).astype(np.int64) * weights).sum(axis=1)


def bytes_to_bits(data: bytes) -> torch.Tensor:
    """``bytes`` → ``[8 · len(data)] float32`` bits, each byte MSB first."""
    return torch.from_numpy(np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.float32))


def bits_to_bytes(bits: torch.Tensor | np.ndarray) -> bytes:
    """``[8 · n]`` bits (≥ 0.5 reads as 1) → ``n`` bytes; trailing bits short of a byte are dropped."""
    b = _hard_bits(bits)
    whole = (b.size // 8) * 8
    return np.packbits(b[:whole]).tobytes()


def _hard_bits(bits: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(bits, torch.Tensor):
        arr = bits.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(bits, dtype=np.float32)
    require(arr.ndim == 1, f"bits must be 1-D [L], got shape {tuple(arr.shape)}")
    return (arr >= 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Text frames
# --------------------------------------------------------------------------------------------------


def fit_utf8(text: str, max_bytes: int, whole_words: bool = False) -> bytes:
    """The UTF-8 bytes of the longest prefix of ``text`` (whole characters) that fits in ``max_bytes``.

    ``whole_words``: when the text must be cut, cut before the last word that does not fit whole (a
    half word would be "corrected" into another word at the receiver), unless no space precedes it.
    """
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return data
    cut = max(max_bytes, 0)
    # A UTF-8 continuation byte is 0b10xxxxxx: step back until the cut falls before a character start.
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    if not whole_words:
        return data[:cut]
    if data[cut : cut + 1] != b" ":
        space = data.rfind(b" ", 0, cut)
        if space > 0:
            cut = space
    return data[:cut].rstrip(b" ,;")


@dataclass(frozen=True)
class PackedTexts:
    """A batch of text frames, zero-padded to the longest.

    Attributes
    ----------
    bits:
        ``[B, L_max] float32`` 0/1; row ``i`` is frame ``i`` followed by zeros.
    num_bits:
        ``[B] int64`` bits of each frame (header included): what each text costs on the channel.
    """

    bits: torch.Tensor
    num_bits: torch.Tensor


@dataclass(frozen=True)
class TextCodec:
    """UTF-8 text frames with a :data:`HEADER_BITS`-bit length header (see the module docstring)."""

    header_bits: int = HEADER_BITS
    whole_words: bool = True  # a text cut to its budget ends at a whole word

    def __post_init__(self) -> None:
        require(8 <= self.header_bits <= 32, f"header_bits = {self.header_bits}; accepted: 8 to 32")

    @property
    def max_bytes(self) -> int:
        """The longest payload the header can announce."""
        return (1 << self.header_bits) - 1

    def payload_bytes(self, budget_bits: int | None) -> int:
        """Bytes of text that fit in a frame of at most ``budget_bits`` bits (``None``: no budget)."""
        if budget_bits is None:
            return self.max_bytes
        require(
            isinstance(budget_bits, int)
            and not isinstance(budget_bits, bool)
            and budget_bits >= self.header_bits,
            f"text bit budget {budget_bits!r}; accepted: an integer ≥ {self.header_bits} (the length header)",
        )
        return min((budget_bits - self.header_bits) // 8, self.max_bytes)

    def fit(self, text: str, budget_bits: int | None = None) -> str:
        """The part of ``text`` that a frame of ``budget_bits`` carries (what an error-free link delivers)."""
        return fit_utf8(text, self.payload_bytes(budget_bits), self.whole_words).decode("utf-8")

    def num_bits(self, text: str, budget_bits: int | None = None) -> int:
        """Frame length in bits for ``text`` (header included)."""
        return self.header_bits + 8 * len(fit_utf8(text, self.payload_bytes(budget_bits), self.whole_words))

    def encode(
        self, text: str, budget_bits: int | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``text`` → frame ``[num_bits] float32`` (0/1), on ``device`` (default CPU)."""
        require(isinstance(text, str), f"text must be a str, got {type(text).__name__}")
        payload = fit_utf8(text, self.payload_bytes(budget_bits), self.whole_words)
        bits = torch.cat([uint_to_bits([len(payload)], self.header_bits), bytes_to_bits(payload)])
        return bits if device is None else bits.to(device)

    def decode(self, bits: torch.Tensor | np.ndarray) -> str:
        """Frame bits ``[L]`` (trailing padding allowed; ≥ 0.5 reads as 1) → text; never raises on bit errors.

        Bits after the announced payload are ignored; a header announcing more bytes than arrived is
        clamped to the whole bytes present; invalid UTF-8 becomes U+FFFD.
        """
        hard = _hard_bits(bits)
        if hard.size < self.header_bits:
            return ""
        announced = int(bits_to_uint(hard[: self.header_bits], self.header_bits)[0])
        available = (hard.size - self.header_bits) // 8
        n = min(announced, available)
        payload = bits_to_bytes(hard[self.header_bits : self.header_bits + 8 * n])
        return payload.decode("utf-8", errors="replace")

    def encode_batch(
        self, texts: Sequence[str], budget_bits: int | None = None, device: torch.device | str | None = None
    ) -> PackedTexts:
        """Frames of ``texts`` stacked into ``[B, L_max]`` (zero-padded), with each frame's length."""
        require(len(texts) > 0, "encode_batch needs at least one text")
        frames = [self.encode(t, budget_bits) for t in texts]
        lengths = torch.tensor([f.numel() for f in frames], dtype=torch.int64)
        out = torch.zeros(len(frames), int(lengths.max()), dtype=torch.float32)
        for i, frame in enumerate(frames):
            out[i, : frame.numel()] = frame
        if device is not None:
            out, lengths = out.to(device), lengths.to(device)
        return PackedTexts(out, lengths)

    def decode_batch(
        self, bits: torch.Tensor | np.ndarray, num_bits: torch.Tensor | Sequence[int] | None = None
    ) -> list[str]:
        """``[B, L]`` received frames → ``B`` texts.

        ``num_bits`` (``[B]``, e.g. :attr:`PackedTexts.num_bits`) is how many bits each row's frame
        had on air - a receiver knows the size of what it received - so a header corrupted into a
        larger length cannot read the zero padding of a batch; without it whole rows are read.
        """
        rows = bits.detach().cpu() if isinstance(bits, torch.Tensor) else np.asarray(bits)
        require(rows.ndim == 2, f"decode_batch needs bits of shape [B, L], got {tuple(rows.shape)}")
        if num_bits is None:
            return [self.decode(row) for row in rows]
        lengths = [int(n) for n in (num_bits.tolist() if isinstance(num_bits, torch.Tensor) else num_bits)]
        require(len(lengths) == rows.shape[0], f"{len(lengths)} frame lengths for {rows.shape[0]} rows")
        return [self.decode(row[:n]) for row, n in zip(rows, lengths)]
