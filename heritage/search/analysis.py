"""Text analysis shared by every search backend.

Both backends index the terms made here, and queries are analysed the same way,
so "gemalde" finds "Gemälde" and "paintings" finds "painting" on the embedded
engine and on PostgreSQL alike:

* words are runs of letters and digits (``\\w``), lower-cased;
* diacritics are folded (NFKD without combining marks; ß, æ, ø, ł and other
  letters that do not decompose are mapped by hand);
* stems come from the Snowball stemmers (PyStemmer) of the record's language, for
  the languages in :data:`STEMMED_LANGUAGES`; a query term is stemmed in all of
  them, so a German word finds its German forms whatever language the page is in.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# ISO 639-1 code -> Snowball algorithm. The seven of Europeana's biggest providers
# first; Snowball's other European stemmers come along at no cost.
STEMMED_LANGUAGES: dict[str, str] = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "it": "italian",
    "es": "spanish",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "da": "danish",
    "sv": "swedish",
    "no": "norwegian",
    "nb": "norwegian",
    "fi": "finnish",
    "cs": "czech",
    "hu": "hungarian",
    "ro": "romanian",
    "el": "greek",
    "lt": "lithuanian",
    "ca": "catalan",
    "eu": "basque",
    "ga": "irish",
}
# The languages a query term is stemmed in when the query does not say.
QUERY_LANGUAGES = ("en", "de", "fr", "it", "es", "nl", "pl")

# Longer "words" (hashes, base64) are cut into pieces of 60: they only bloat the index.
WORD = re.compile(r"\w{1,60}", re.UNICODE)

# Letters NFKD does not split into a base letter and a mark.
_EXTRA_FOLDS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
    }
)


@lru_cache(maxsize=1)
def _combining_marks() -> dict[int, None]:
    # The basic and supplementary planes hold every combining mark in use.
    return {code: None for code in range(0x20000) if unicodedata.combining(chr(code))}


def fold_text(text: str) -> str:
    """``text`` lower-cased without diacritics: "Gemälde" -> "gemalde"."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    folded = unicodedata.normalize("NFKD", lowered.translate(_EXTRA_FOLDS))
    return folded.translate(_combining_marks())


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """One word folded as :func:`fold_text` folds it (cached: snippets fold the same
    words again and again)."""
    return fold_text(word)


def words(text: str) -> list[str]:
    """The folded words of ``text``, in order (positions matter for phrases)."""
    return WORD.findall(fold_text(text))


def language_code(tag: str | None) -> str | None:
    """The stemmer's language for a BCP 47 tag ("de-AT" -> "de"), or None."""
    if not tag:
        return None
    code = tag.split("-", 1)[0].lower()
    return code if code in STEMMED_LANGUAGES else None


@lru_cache(maxsize=len(STEMMED_LANGUAGES))
def _stemmer(code: str) -> Stemmer.Stemmer:
    stemmer = Stemmer.Stemmer(STEMMED_LANGUAGES[code])
    stemmer.maxCacheSize = 50_000
    return stemmer


def stems(folded_words: list[str], code: str) -> list[str]:
    """``folded_words`` stemmed in the language ``code``.

    Stemming runs on folded words, at index and at query time alike, so both
    sides meet whatever the stemmer makes of a missing accent.
    """
    return _stemmer(code).stemWords(folded_words)


@lru_cache(maxsize=100_000)
def query_stems(folded_word: str) -> frozenset[str]:
    """Every stem ``folded_word`` has in :data:`QUERY_LANGUAGES`, the word itself included."""
    return frozenset(
        {folded_word, *(_stemmer(code).stemWord(folded_word) for code in QUERY_LANGUAGES)}
    )
