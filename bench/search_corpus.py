"""Synthetic records for the search benchmark, shaped like the real ones.

The shared samples (``../shared/data``: LIDO, EDM, Dublin Core over OAI-PMH, the
Tate spreadsheet) are read with the project's own importers. Their records are
the templates: a generated record copies a template's fields, languages, entities
and value counts, and replaces every word with one drawn from the words the
samples use in that language, Zipf-distributed as words are, so field lengths,
languages and value distributions follow the real data while every record is
different. Years are shifted, coordinates jittered, creators drawn from a pool
of names made from the samples' name parts (a long tail, as in real catalogues).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from heritage.records.formats import detect_format, open_reader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ("lido", "edm", "oai-pmh", "csv")
WORD = re.compile(r"\w+|\W+", re.UNICODE)
YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-2][0-9])(?!\d)")
CREATORS = 50_000


def _sample_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        folder = SHARED / name
        if folder.is_dir():
            files += sorted(
                path
                for path in folder.rglob("*")
                if path.suffix.lower() in (".xml", ".csv")
                and "corrupt" not in path.parts
                and "manipulated" not in path.parts
            )
    return files


def templates(limit_per_file: int = 100) -> list[dict[str, Any]]:
    """Canonical JSON of the records the shared samples hold."""
    found: list[dict[str, Any]] = []
    for path in _sample_files():
        try:
            reader = open_reader(detect_format(path), path)
            for index, item in enumerate(reader):
                if index >= limit_per_file:
                    break
                if item.record is not None:
                    found.append(item.record.canonical())
        except Exception:  # noqa: S112 - a sample our importers refuse is not a template
            continue
    return found


class Corpus:
    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.templates = templates()
        if not self.templates:
            raise FileNotFoundError(f"no sample records under {SHARED}")
        words: dict[str, Counter[str]] = {}
        names: Counter[str] = Counter()
        for data in self.templates:
            for name, values in data.items():
                if not isinstance(values, list):
                    continue
                for value in values:
                    if not isinstance(value, dict) or not value.get("value"):
                        continue
                    tokens = [t for t in WORD.findall(value["value"]) if t[0].isalpha()]
                    words.setdefault(value.get("lang") or "", Counter()).update(tokens)
                    if name == "creator":
                        names.update(tokens)
        # Zipf: a word's weight is 1 / its rank in the samples' own frequency order.
        # lang -> (words by frequency, cumulative Zipf weights)
        self.vocabulary: dict[str, tuple[list[str], list[float]]] = {}
        for lang, counter in words.items():
            ranked = [word for word, _ in counter.most_common()]
            self.vocabulary[lang] = (
                ranked,
                list(accumulate(1.0 / (rank + 1) for rank in range(len(ranked)))),
            )
        parts = [word for word, _ in names.most_common()] or self.vocabulary[""][0]
        self.creators = [
            f"{self.random.choice(parts)} {self.random.choice(parts)}" for _ in range(CREATORS)
        ]
        self.creator_weights = list(accumulate(1.0 / (rank + 1) ** 0.8 for rank in range(CREATORS)))
        self._word_cache: dict[str, list[str]] = {}

    def _draw(self, lang: str, count: int) -> list[str]:
        ranked, weights = (
            self.vocabulary.get(lang)
            or self.vocabulary.get("")
            or next(iter(self.vocabulary.values()))
        )
        return self.random.choices(ranked, cum_weights=weights, k=count)

    def _text(self, text: str, lang: str) -> str:
        shift = self.random.randint(-150, 150)
        pieces = WORD.findall(text)
        alpha = [index for index, piece in enumerate(pieces) if piece[0].isalpha()]
        for index, word in zip(alpha, self._draw(lang, len(alpha)), strict=True):
            pieces[index] = word
        result = "".join(pieces)
        return YEAR.sub(lambda match: str(min(2025, int(match.group(1)) + shift)), result)

    def _values(self, values: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
        changed = []
        for value in values:
            value = dict(value)
            if field == "creator" and not value.get("ref"):
                value["value"] = self.random.choices(
                    self.creators, cum_weights=self.creator_weights
                )[0]
            elif value.get("value"):
                value["value"] = self._text(value["value"], value.get("lang") or "")
            changed.append(value)
        return changed

    def record(self, number: int) -> dict[str, Any]:
        template = self.random.choice(self.templates)
        data: dict[str, Any] = {}
        for name, values in template.items():
            if name == "identifier":
                continue
            if name == "entities":
                data[name] = [self._entity(entity) for entity in values]
            elif name == "other":
                data[name] = {key: self._values(items, key) for key, items in values.items()}
            elif isinstance(values, list) and values and name != "representations":
                data[name] = self._values(values, name)
            else:
                data[name] = values
        data["identifier"] = f"bench-{number:08d}"
        return data

    def _entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        entity = dict(entity)
        for key in ("pref_label", "alt_label", "note"):
            if entity.get(key):
                entity[key] = self._values(entity[key], key)
        if entity.get("lat") is not None and entity.get("long") is not None:
            entity["lat"] = max(-90.0, min(90.0, entity["lat"] + self.random.uniform(-2, 2)))
            entity["long"] = max(-180.0, min(180.0, entity["long"] + self.random.uniform(-2, 2)))
        return entity

    def records(self, count: int) -> Iterator[dict[str, Any]]:
        for number in range(count):
            yield self.record(number)
