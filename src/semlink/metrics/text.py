"""Text fidelity: corpus BLEU (``sacrebleu``) of received texts against the sent ones.

>>> round(bleu(["a photo of a cat on a sofa"], ["a photo of a cat on a sofa"]), 1)
100.0
>>> bleu(["a phtoo of a cta"], ["a photo of a cat on a sofa"]) < 20
True
"""

from __future__ import annotations

from collections.abc import Sequence

from semlink.errors import SemlinkError

__all__ = ["bleu"]


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0..100, sacrebleu's default 13a tokenisation) of ``hypotheses`` against ``references``."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise SemlinkError(f"bleu needs one reference per hypothesis; got {len(hypotheses)} and {len(references)}")
    if not hypotheses:
        raise SemlinkError("bleu needs at least one text")
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)
