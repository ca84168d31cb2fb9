"""semlink.rx: receiver side - the KBSC feature decompressor and the Multi-SC stages (text
correction, image reconstruction)."""

from semlink.rx.correct import Corrector, available_correctors, create_corrector
from semlink.rx.reconstruct import (
    CaptionLibrary,
    Reconstructor,
    available_reconstructors,
    create_reconstructor,
    fuse_texts,
)

__all__ = [
    "CaptionLibrary",
    "Corrector",
    "Reconstructor",
    "available_correctors",
    "available_reconstructors",
    "create_corrector",
    "create_reconstructor",
    "fuse_texts",
]
