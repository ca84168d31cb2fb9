"""semlink.rx: receiver side - the KBSC feature decompressor, the deep-JSCC decoder, and the Multi-SC
stages (text correction, image reconstruction). Names load lazily (PEP 562)."""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

_EXPORTS = {
    "Corrector": "correct", "available_correctors": "correct", "create_corrector": "correct",
    "CaptionLibrary": "reconstruct", "Reconstructor": "reconstruct", "available_reconstructors": "reconstruct",
    "create_reconstructor": "reconstruct", "fuse_texts": "reconstruct",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover
    from semlink.rx.correct import Corrector, available_correctors, create_corrector  # noqa: F401
    from semlink.rx.reconstruct import (  # noqa: F401
        CaptionLibrary,
        Reconstructor,
        available_reconstructors,
        create_reconstructor,
        fuse_texts,
    )
