"""Text correction at the receiver: received (bit-error-corrupted) captions → corrected captions.

Backends (``create_corrector(spec, vocabulary=...)``)
-----------------------------------------------------
* ``symspell`` (default, offline) - word-level spelling correction with ``symspellpy`` and its
  shipped English frequency dictionary (``frequency_dictionary_en_82_765.txt``, found through the
  package's resources), plus the captioner's own vocabulary (``vocabulary=`` words, added with the
  dictionary's largest count so they win ties). Per whitespace-separated word: leading/trailing
  punctuation is split off (characters outside ``. , ; : ! ? ' " ( ) -`` are dropped there); a
  known word is kept; otherwise two readings compete and the smaller edit distance wins (the single
  word on ties): the closest dictionary word within ``max_edit_distance`` (2; 1 for words of up to
  4 characters; the most frequent among equals), and the token read as run-together words
  (``lookup_compound``: a space hit by a bit error); a word with neither is kept. Casing: the vocabulary's own (``"Egyptian"``) or the received word's first
  letter when it was title case, else lower case (undoing bit errors that flip a letter's case).
  U+FFFD and control characters count as one wrong character (or a lost space).
* ``bart:<dir>`` - a transformers seq2seq model (``AutoModelForSeq2SeqLM`` + ``AutoTokenizer``,
  e.g. a BART fine-tuned for spelling correction as in Multi-SC), greedy or beam decoding. Folder:
  ``config.json``, weights (``model.safetensors`` or ``pytorch_model.bin``, or their sharded
  index), tokenizer files (``tokenizer.json`` and/or ``vocab.json`` + ``merges.txt``, with
  ``tokenizer_config.json``), as ``save_pretrained`` writes them.
* ``none`` - identity, so "correction off" is one config value.

Correction is receiver-side processing only: the dictionary and the captioner's vocabulary are
receiver knowledge (the receiver knows which captioner the transmitter runs), nothing is sent.

>>> fix = create_corrector("symspell", vocabulary=["tabby", "Egyptian"])  # doctest: +SKIP
>>> fix.correct(["a phto of a tabyb, or an egyptain cat."])              # doctest: +SKIP
['a photo of a tabby, or an Egyptian cat.']
"""

from __future__ import annotations

import abc
import importlib.resources
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from semlink.errors import MissingResourceError, SemlinkError, require
from semlink.local_models import WEIGHT_FILES, load_from_dir, require_model_dir, torch_dtype
from semlink.registry import Registry


class Corrector(abc.ABC):
    """Corrects received texts. Subclasses set :attr:`name` and implement :meth:`correct`."""

    name: str

    @abc.abstractmethod
    def correct(self, texts: Sequence[str]) -> list[str]:
        """One corrected text per received text."""

    def __call__(self, texts: Sequence[str]) -> list[str]:
        require(not isinstance(texts, str), "correct() takes a list of texts: wrap a single text in a list")
        return self.correct(texts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


CORRECTORS: Registry[Corrector] = Registry("corrector")


def create_corrector(spec: str = "symspell", *, vocabulary: Iterable[str] = (), **options: Any) -> Corrector:
    """Build a corrector: ``"symspell"``, ``"bart:<dir>"`` or ``"none"``.

    ``vocabulary`` - words the transmitter's captioner emits (:attr:`semlink.tx.caption.Captioner.vocabulary`);
    used by ``symspell``, ignored by the others. Options: ``max_edit_distance``, ``max_words``
    (symspell: load only the most frequent dictionary words, default all); ``device``, ``dtype``,
    ``num_beams``, ``max_new_tokens``, ``batch_size`` (bart).

    Raises
    ------
    SemlinkError
        Unknown backend or option; :class:`MissingResourceError` for a missing model folder or file.
    """
    return CORRECTORS.create(spec, vocabulary=vocabulary, **options)


def available_correctors() -> list[str]:
    return CORRECTORS.available()


def _check_options(backend: str, options: dict[str, Any], accepted: set[str]) -> None:
    extra = sorted(set(options) - accepted)
    if extra:
        raise SemlinkError(f"corrector {backend!r} takes no option(s) {extra}; accepted: {sorted(accepted)}")


# --------------------------------------------------------------------------------------------------
# none
# --------------------------------------------------------------------------------------------------


class IdentityCorrector(Corrector):
    """Returns the texts unchanged."""

    name = "none"

    def correct(self, texts: Sequence[str]) -> list[str]:
        return [str(t) for t in texts]


@CORRECTORS.register("none")
def _make_none(argument: str | None, *, vocabulary: Iterable[str] = (), **options: Any) -> Corrector:
    _check_options("none", options, set())
    return IdentityCorrector()


# --------------------------------------------------------------------------------------------------
# SymSpell
# --------------------------------------------------------------------------------------------------

SAFE_PUNCTUATION = set(".,;:!?'\"()-")
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)
_SPACES = re.compile(r"(\s+)")


def symspell_dictionary_path() -> Path:
    """The English unigram frequency dictionary shipped inside ``symspellpy``."""
    try:
        path = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    except ModuleNotFoundError as exc:
        raise MissingResourceError("the 'symspell' corrector needs the package symspellpy") from exc
    if not path.is_file():
        raise MissingResourceError(f"symspellpy's dictionary {str(path)!r} is missing; reinstall symspellpy")
    return Path(str(path))


DEBRIS = "#"


def _clean(text: str) -> str:
    """U+FFFD and control/format characters (bit-error debris) → :data:`DEBRIS`, a non-word character
    that the word lookup treats as one wrong character and the run-together lookup as a separator."""
    return "".join(
        c if c.isspace() or (c != "\ufffd" and unicodedata.category(c)[0] != "C") else DEBRIS for c in text
    )


class SymSpellCorrector(Corrector):
    """Word-level SymSpell correction (see the module docstring)."""

    def __init__(
        self, vocabulary: Iterable[str] = (), *, max_edit_distance: int = 2, max_words: int | None = None
    ) -> None:
        from symspellpy import SymSpell

        require(
            isinstance(max_edit_distance, int) and 1 <= max_edit_distance <= 3,
            f"max_edit_distance {max_edit_distance!r}; accepted: 1, 2 or 3",
        )
        require(
            max_words is None or (isinstance(max_words, int) and max_words >= 1),
            f"max_words {max_words!r}; accepted: a positive integer or None (the whole dictionary)",
        )
        self.max_edit_distance = max_edit_distance
        self.symspell = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=7)
        top_count = 1
        with open(symspell_dictionary_path(), encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if max_words is not None and n >= max_words:
                    break
                parts = line.split()
                if len(parts) == 2:
                    count = int(parts[1])
                    self.symspell.create_dictionary_entry(parts[0], count)
                    top_count = max(top_count, count)
        # The captioner's words, with the largest count so they win ties; casing remembered.
        self.canonical: dict[str, str] = {}
        for word in vocabulary:
            word = str(word).strip()
            if word:
                self.canonical.setdefault(word.lower(), word)
                self.symspell.create_dictionary_entry(word.lower(), top_count)
        self.name = "symspell" + (f"+{len(self.canonical)}words" if self.canonical else "")

    def correct_word(self, word: str) -> str:
        """Correct one whitespace-free token (punctuation around it handled, see the module docstring)."""
        from symspellpy import Verbosity

        lead, core, trail = _WORD.match(word).groups()  # type: ignore[union-attr]
        lead = "".join(c for c in lead if c in SAFE_PUNCTUATION)
        trail = "".join(c for c in trail if c in SAFE_PUNCTUATION)
        if not core or core.isdigit():
            return lead + core + trail
        key = core.lower()
        if key in self.symspell.words:
            return lead + self._cased(key, core) + trail
        # Candidates (distance, prefer single words on ties, text): the closest word, and the same
        # token read as run-together words (a bit error that turned a space into another character).
        candidates: list[tuple[int, int, str]] = []
        single = self.symspell.lookup(
            key, Verbosity.TOP, max_edit_distance=1 if len(key) <= 4 else self.max_edit_distance
        )
        if single:
            candidates.append((single[0].distance, 0, single[0].term))
        if len(key) >= 3:
            compound = self.symspell.lookup_compound(key, max_edit_distance=self.max_edit_distance)
            if compound and 0 < compound[0].distance <= self.max_edit_distance:
                candidates.append((compound[0].distance, 1, compound[0].term))
        if not candidates:
            return lead + core.replace(DEBRIS, "") + trail
        words = min(candidates)[2].split(" ")
        fixed = [self._cased(words[0], core)] + [self._cased(w, w) for w in words[1:]]
        return lead + " ".join(fixed) + trail

    def _cased(self, term: str, received: str) -> str:
        """The vocabulary's casing if it has capitals (``"Egyptian"``); else title case if the received
        word was title case (``"Phto"`` → ``"Photo"``), else lower case (a bit error that flipped one
        letter's case, ``"magNetic"``, is undone)."""
        canonical = self.canonical.get(term, term)
        if canonical != canonical.lower():
            return canonical
        letters = [c for c in received if c.isalpha()]
        title = bool(letters) and letters[0].isupper() and not any(c.isupper() for c in letters[1:])
        return term[:1].upper() + term[1:] if title else term

    def correct_text(self, text: str) -> str:
        parts = _SPACES.split(_clean(text))
        return "".join(p if (not p or p.isspace()) else self.correct_word(p) for p in parts).strip()

    def correct(self, texts: Sequence[str]) -> list[str]:
        return [self.correct_text(str(t)) for t in texts]


@CORRECTORS.register("symspell")
def _make_symspell(argument: str | None, *, vocabulary: Iterable[str] = (), **options: Any) -> Corrector:
    _check_options("symspell", options, {"max_edit_distance", "max_words"})
    return SymSpellCorrector(vocabulary, **options)


# --------------------------------------------------------------------------------------------------
# BART (transformers seq2seq)
# --------------------------------------------------------------------------------------------------


class Seq2SeqCorrector(Corrector):
    """A transformers encoder-decoder (e.g. BART) that rewrites each text (greedy unless ``num_beams > 1``)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        num_beams: int = 1,
        max_new_tokens: int | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 16,
    ) -> None:
        backend = "BART corrector"
        path = require_model_dir(
            folder,
            backend,
            ["config.json", WEIGHT_FILES, ("tokenizer.json", "vocab.json", "tokenizer_config.json")],
        )
        require(
            isinstance(num_beams, int) and 1 <= num_beams <= 16, f"num_beams {num_beams!r}; accepted: 1 to 16"
        )
        require(
            max_new_tokens is None or (isinstance(max_new_tokens, int) and 1 <= max_new_tokens <= 1024),
            f"max_new_tokens {max_new_tokens!r}; accepted: 1 to 1024, or None (1.5 × the input length + 8)",
        )
        require(isinstance(batch_size, int) and batch_size >= 1, f"batch_size {batch_size!r}; accepted: ≥ 1")
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from semlink.tx.encoders import _resolve_device

        self.device = _resolve_device(device)
        self.tokenizer = load_from_dir(lambda: AutoTokenizer.from_pretrained(str(path)), path, backend)
        self.model = load_from_dir(
            lambda: AutoModelForSeq2SeqLM.from_pretrained(str(path), dtype=torch_dtype(dtype)), path, backend
        )
        self.model.eval().to(self.device)
        self.num_beams, self.max_new_tokens, self.batch_size = num_beams, max_new_tokens, batch_size
        self.name = f"bart:{path}"

    def correct(self, texts: Sequence[str]) -> list[str]:
        out: list[str] = []
        items = [_clean(str(t)) for t in texts]
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            inputs = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True).to(self.device)
            limit = self.max_new_tokens or int(1.5 * inputs["input_ids"].shape[1]) + 8
            with torch.no_grad():
                generated = self.model.generate(
                    **inputs, do_sample=False, num_beams=self.num_beams, max_new_tokens=limit
                )
            out.extend(t.strip() for t in self.tokenizer.batch_decode(generated, skip_special_tokens=True))
        return out


@CORRECTORS.register("bart", takes_argument="required", argument_help="<dir>")
def _make_bart(argument: str | None, *, vocabulary: Iterable[str] = (), **options: Any) -> Corrector:
    _check_options("bart", options, {"num_beams", "max_new_tokens", "device", "dtype", "batch_size"})
    assert argument is not None
    return Seq2SeqCorrector(argument, **options)
