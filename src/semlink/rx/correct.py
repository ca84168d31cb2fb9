"""Text correction at the receiver: received (bit-error-corrupted) captions → corrected captions.

Backends (``create_corrector(spec, vocabulary=...)``)
-----------------------------------------------------
* ``symspell`` (default, offline) - word-level spelling correction with ``symspellpy`` and its
  shipped English frequency dictionary (``frequency_dictionary_en_82_765.txt``, found through the
  package's resources), plus the captioner's own vocabulary (``vocabulary=`` words, added with the
  dictionary's largest count so they win ties). With ``closed_vocabulary=True`` (for a captioner
  whose vocabulary is every word it can emit, :attr:`~semlink.tx.caption.Captioner.closed_vocabulary`,
  like ``imagenet-labels``) the dictionary is the vocabulary alone, ranked among equals by English
  frequency: every received word maps onto a word the captioner can say (at 7 dB on uncoded QPSK,
  BLEU 83 instead of 76 on ImageNet-label captions; built in 0.3 s instead of ~8 s). Per
  whitespace-separated word: leading/trailing
  punctuation is split off (characters outside ``. , ; : ! ? ' " ( ) -`` are dropped there); a
  known word is kept; otherwise two readings compete and the smaller edit distance wins (the single
  word on ties): the closest dictionary words within ``max_edit_distance`` (2; 1 for words of up to
  4 characters), and the token read as run-together words (``lookup_compound``: a space hit by a
  bit error); a word with neither is kept. Among equally close words, one that forms a word pair of
  the captioner's ``phrases=`` with its neighbour wins (``"tiwer cat"`` → ``"tiger cat"``, not
  ``"tower cat"``), then the more frequent. Casing: the vocabulary's own (``"Egyptian"``;
  always, with a closed vocabulary) or the received word's first letter when it was title case,
  else lower case (undoing bit errors that flip a letter's case).
  U+FFFD and control characters count as one wrong character (or a lost space).
* ``bart:<dir>`` - a transformers seq2seq model (``AutoModelForSeq2SeqLM`` + ``AutoTokenizer``,
  e.g. a BART fine-tuned for spelling correction as in Multi-SC), greedy or beam decoding. Folder:
  ``config.json``, weights (``model.safetensors`` or ``pytorch_model.bin``, or their sharded
  index), tokenizer files (``tokenizer.json`` and/or ``vocab.json`` + ``merges.txt``, with
  ``tokenizer_config.json``), as ``save_pretrained`` writes them.
* ``none`` - identity, so "correction off" is one config value.

Correction is receiver-side processing only: the dictionary and the captioner's vocabulary are
receiver knowledge (the receiver knows which captioner the transmitter runs), nothing is sent.

>>> words = ["a", "an", "photo", "of", "or", "tabby", "Egyptian", "cat"]
>>> fix = create_corrector("symspell", vocabulary=words, closed_vocabulary=True)
>>> fix.correct(["a phto of a tabyb, or an egyptain cat."])
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

from semlink.errors import MissingResourceError, require
from semlink.local_models import WEIGHT_FILES, load_from_dir, require_model_dir, torch_dtype
from semlink.registry import Registry
from semlink.tx.caption import caption_words


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


CORRECTORS: Registry[Corrector] = Registry("corrector", {
    "none": "semlink.rx.correct:make_none",
    "symspell": "semlink.rx.correct:make_symspell",
    "bart": ("semlink.rx.correct:make_bart", "required", "<dir>"),
}, entry_points="semlink.correctors")
"""Text correctors by name (:mod:`semlink.registry`)."""


def create_corrector(
    spec: str = "symspell",
    *,
    vocabulary: Iterable[str] = (),
    phrases: Iterable[str] = (),
    closed_vocabulary: bool = False,
    **options: Any,
) -> Corrector:
    """Build a corrector: ``"symspell"``, ``"bart:<dir>"`` or ``"none"``.

    The transmitter's captioner's lexicon - ``vocabulary`` (its words,
    :attr:`semlink.tx.caption.Captioner.vocabulary`), ``phrases`` (its multi-word names) and
    ``closed_vocabulary`` (whether those words are all it can say) - is used by ``symspell`` and
    ignored by the others, so a system passes it whatever the spec and "correction off" stays one
    config value::

        create_corrector(spec, vocabulary=cap.vocabulary, phrases=cap.phrases,
                         closed_vocabulary=cap.closed_vocabulary)

    Options: ``max_edit_distance``, ``max_words`` (load only the most frequent English words,
    default all) for symspell; ``device``, ``dtype``, ``num_beams``, ``max_new_tokens``,
    ``batch_size`` for bart.

    Raises
    ------
    SemlinkError
        Unknown backend or option; :class:`MissingResourceError` for a missing model folder or file.
    """
    lexicon = {"vocabulary": vocabulary, "phrases": phrases, "closed_vocabulary": closed_vocabulary}
    return CORRECTORS.create(spec, **lexicon, **options)


def available_correctors() -> list[str]:
    return CORRECTORS.available()


# --------------------------------------------------------------------------------------------------
# none
# --------------------------------------------------------------------------------------------------


class IdentityCorrector(Corrector):
    """Returns the texts unchanged."""

    name = "none"

    def correct(self, texts: Sequence[str]) -> list[str]:
        return [str(t) for t in texts]


def make_none(
    argument: str | None, *, vocabulary: Any, phrases: Any, closed_vocabulary: Any, **options: Any
) -> Corrector:
    CORRECTORS.check_options("none", options, set())
    return IdentityCorrector()


# --------------------------------------------------------------------------------------------------
# SymSpell
# --------------------------------------------------------------------------------------------------

SAFE_PUNCTUATION = set(".,;:!?'\"()-")
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


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


def _core(word: str) -> str:
    """``word`` without leading/trailing punctuation, lower case."""
    return _WORD.match(word).group(2).lower()  # type: ignore[union-attr]


def _clean(text: str) -> str:
    """U+FFFD and control/format characters (bit-error debris) → :data:`DEBRIS`, a non-word character
    that the word lookup treats as one wrong character and the run-together lookup as a separator."""
    return "".join(
        c if c.isspace() or (c != "\ufffd" and unicodedata.category(c)[0] != "C") else DEBRIS for c in text
    )


class SymSpellCorrector(Corrector):
    """Word-level SymSpell correction (see the module docstring)."""

    def __init__(
        self,
        vocabulary: Iterable[str] = (),
        *,
        max_edit_distance: int = 2,
        max_words: int | None = None,
        closed_vocabulary: bool = False,
        phrases: Iterable[str] = (),
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
        # Lower case -> the captioner's casing. The vocabulary is a set: read in sorted order, and where a
        # word comes in several casings ("mountain" in "mountain bike", "Mountain" elsewhere) the lower-case
        # one wins, so the corrector is the same in every process (string hashing is randomised per process).
        spellings: dict[str, set[str]] = {}
        # Adjacent word pairs of the captioner's phrases ("tiger cat" -> ("tiger", "cat")): tie-breakers.
        self.pairs: set[tuple[str, str]] = set()
        words = [str(word).strip() for word in vocabulary]
        for phrase in sorted(str(p) for p in phrases):
            tokens = caption_words(phrase)
            lowered = [t.lower() for t in tokens]
            self.pairs.update(zip(lowered, lowered[1:]))
            words += tokens
        for word in words:
            if word:
                spellings.setdefault(word.lower(), set()).add(word)
        self.canonical: dict[str, str] = {
            key: key if key in forms else min(forms) for key, forms in sorted(spellings.items())
        }
        require(
            not closed_vocabulary or bool(self.canonical),
            "closed_vocabulary=True needs the captioner's vocabulary (vocabulary=...)",
        )
        self.max_edit_distance = max_edit_distance
        self.symspell = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=7)
        english: dict[str, int] = {}
        with open(symspell_dictionary_path(), encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if max_words is not None and n >= max_words:
                    break
                parts = line.split()
                if len(parts) == 2:
                    english[parts[0]] = int(parts[1])
        top_count = max(english.values(), default=1)
        if closed_vocabulary:
            # Only the captioner's words, ranked among equals by their English frequency.
            for key in self.canonical:
                self.symspell.create_dictionary_entry(key, english.get(key, 1))
        else:
            for key, count in english.items():
                self.symspell.create_dictionary_entry(key, count)
            # The captioner's words get the largest count on top, so they win ties.
            for key in self.canonical:
                self.symspell.create_dictionary_entry(key, top_count)
        self.closed_vocabulary = closed_vocabulary
        kind = "closed" if closed_vocabulary else "+"
        self.name = "symspell" + (f"[{kind}{len(self.canonical)} words]" if self.canonical else "")

    def correct_word(self, word: str, previous: str = "", following: str = "") -> str:
        """Correct one whitespace-free token (punctuation around it handled, see the module docstring).

        ``previous`` (the corrected word before) and ``following`` (the received word after), lower
        case, break ties between equally close candidates: one that forms a known phrase pair with
        a neighbour wins, then the more frequent.
        """
        from symspellpy import Verbosity

        lead, core, trail = _WORD.match(word).groups()  # type: ignore[union-attr]
        lead = "".join(c for c in lead if c in SAFE_PUNCTUATION)
        trail = "".join(c for c in trail if c in SAFE_PUNCTUATION)
        if not core or core.isdigit():
            return lead + core + trail
        key = core.lower()
        if key in self.symspell.words:
            return lead + self._cased(key, core) + trail
        # Candidates (distance, single words before run-together ones, -phrase pairs, -count, text):
        # the closest words, and the token read as run-together words (a space hit by a bit error).
        candidates: list[tuple[int, int, int, int, str]] = []
        limit = 1 if len(key) <= 4 else self.max_edit_distance
        for item in self.symspell.lookup(key, Verbosity.CLOSEST, max_edit_distance=limit):
            pairs = ((previous, item.term) in self.pairs) + ((item.term, following) in self.pairs)
            candidates.append((item.distance, 0, -pairs, -item.count, item.term))
        if len(key) >= 3:
            compound = self.symspell.lookup_compound(key, max_edit_distance=self.max_edit_distance)
            if compound and 0 < compound[0].distance <= self.max_edit_distance:
                candidates.append((compound[0].distance, 1, 0, 0, compound[0].term))
        if not candidates:
            return lead + core.replace(DEBRIS, "") + trail
        words = min(candidates)[-1].split(" ")
        fixed = [self._cased(words[0], core)] + [self._cased(w, w) for w in words[1:]]
        return lead + " ".join(fixed) + trail

    def _cased(self, term: str, received: str) -> str:
        """The vocabulary's casing if it has capitals (``"Egyptian"``); else title case if the received
        word was title case (``"Phto"`` → ``"Photo"``), else lower case (a bit error that flipped one
        letter's case, ``"magNetic"``, is undone)."""
        canonical = self.canonical.get(term, term)
        if canonical != canonical.lower() or self.closed_vocabulary:
            return canonical  # a closed vocabulary knows every word's casing
        letters = [c for c in received if c.isalpha()]
        title = bool(letters) and letters[0].isupper() and not any(c.isupper() for c in letters[1:])
        return term[:1].upper() + term[1:] if title else term

    def correct_text(self, text: str) -> str:
        """Correct one text word by word, left to right (see :meth:`correct_word`)."""
        words = _clean(text).split()
        out: list[str] = []
        for i, word in enumerate(words):
            previous = _core(out[-1].split(" ")[-1]) if out else ""
            following = _core(words[i + 1]) if i + 1 < len(words) else ""
            fixed = self.correct_word(word, previous, following)
            if fixed:
                out.append(fixed)
        return " ".join(out)

    def correct(self, texts: Sequence[str]) -> list[str]:
        return [self.correct_text(str(t)) for t in texts]


def make_symspell(
    argument: str | None,
    *,
    vocabulary: Iterable[str],
    phrases: Iterable[str],
    closed_vocabulary: bool,
    **options: Any,
) -> Corrector:
    CORRECTORS.check_options("symspell", options, {"max_edit_distance", "max_words"})
    return SymSpellCorrector(vocabulary, phrases=phrases, closed_vocabulary=closed_vocabulary, **options)


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

        from semlink.devices import resolve_device

        self.device = resolve_device(device)
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


def make_bart(
    argument: str | None, *, vocabulary: Any, phrases: Any, closed_vocabulary: Any, **options: Any
) -> Corrector:
    CORRECTORS.check_options("bart", options, {"num_beams", "max_new_tokens", "device", "dtype", "batch_size"})
    assert argument is not None
    return Seq2SeqCorrector(argument, **options)
