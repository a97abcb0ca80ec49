"""IIIF Presentation 2.1 and 3.0 manifests as records.

One manifest is one record, identified by the manifest's URI. What maps where:

* ``label`` -> title, ``summary`` (P3) / ``description`` (P2) -> description, with
  their languages (P3 language maps, ``none`` meaning no language; P2 ``@language``);
  HTML in values is reduced to its text.
* ``metadata`` pairs whose label, in any of its languages, is a spreadsheet header of
  a field (see :data:`~heritage.records.fields.FIELDS`: "Author" -> creator,
  "Date" -> date) go to that field; a value that is one HTML link becomes a link with
  its text as label. Other pairs are kept, label and value together ("Physical
  Description: 1 painting : oil on canvas"), in ``Record.other["hc:metadata"]``:
  the model has no field for free label/value pairs, and putting them into
  ``description`` or ``dc:format`` would say something the source did not.
* ``rights`` (P3) / ``license`` (P2) -> rights; ``requiredStatement`` /
  ``attribution`` -> rights_statement; ``homepage`` / ``related`` -> is_shown_at;
  ``thumbnail`` -> preview; ``provider`` agents -> data_provider (links labelled with
  the agent's name); logos (P3 provider ``logo``, P2 ``logo``) ->
  ``other["foaf:logo"]``; ``partOf`` / ``within`` -> is_part_of; ``navDate`` -> date
  when the metadata gave none.
* The content painted on the canvases (images, audio, video, 3D models; the first
  option of a choice) becomes external representations with media type, size and
  the IIIF Image API service; the first is the primary one. The EDM type is that of
  most canvases (3D, VIDEO, SOUND, IMAGE, TEXT in that order on a tie).

A collection file yields the manifests it embeds (and those of embedded
collections); manifests it only references are reported, not fetched. Files that
are not manifests or collections (annotation pages, sequences) are refused with an
explanation. JSON is read with a size limit and errors name the line and column.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from heritage.records.fields import FIELDS_BY_NAME, ValueKind
from heritage.records.importers.base import SourceError, SourceRecord, register
from heritage.records.importers.column_mapping import target_for_header
from heritage.records.model import Record, Representation, Value
from heritage.records.problems import Problem

MAX_BYTES = 20 * 1024 * 1024
MAX_REPRESENTATIONS = 10_000
MAX_DEPTH = 8  # collections within collections
_EDM_OF_BODY = {
    "image": "IMAGE",
    "dctypes:image": "IMAGE",
    "sound": "SOUND",
    "audio": "SOUND",
    "dctypes:sound": "SOUND",
    "video": "VIDEO",
    "dctypes:movingimage": "VIDEO",
    "model": "3D",
    "text": "TEXT",
    "dctypes:text": "TEXT",
}
_PRECEDENCE = ("3D", "VIDEO", "SOUND", "IMAGE", "TEXT")
_NOT_IMPORTABLE = {
    "annotationpage": "a page of annotations",
    "annotation": "a single annotation",
    "annotationcollection": "a collection of annotation pages",
    "sc:annotationlist": "a list of annotations",
    "oa:annotation": "a single annotation",
    "sc:sequence": "a sequence of canvases",
    "canvas": "a single canvas",
    "sc:canvas": "a single canvas",
    "range": "a range (table of contents)",
    "sc:range": "a range (table of contents)",
}


def load_json(path: Path, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON in ``path``, read defensively: size-limited, errors with line and column."""
    source = path.name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                f"the file has {size} bytes, more than the {max_bytes} a manifest may have",
                source=source,
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise SourceError(f"cannot be read: {error.strerror}", source=source) from None
    if len(data) > max_bytes:
        raise SourceError(f"the file is larger than {max_bytes} bytes", source=source)
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise SourceError(
            f"not valid JSON: {error.msg} (column {error.colno})", source=source, line=error.lineno
        ) from None
    except UnicodeDecodeError as error:
        raise SourceError(
            f"not UTF-8 text ({error.reason} at byte {error.start})", source=source
        ) from None
    except RecursionError:
        raise SourceError("the JSON is nested too deeply", source=source) from None


# -- small readers of IIIF values -------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.extend(value for name, value in attrs if name == "href" and value)
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _plain(text: str) -> tuple[str, list[str]]:
    """Text without HTML markup, and the links of its anchors."""
    if "<" not in text:
        return " ".join(text.split()), []
    parser = _Text()
    parser.feed(text)
    parser.close()
    return " ".join("".join(parser.parts).split()), parser.links


def _texts(value: Any) -> list[tuple[str, str | None]]:
    """(text, language) pairs of a P3 language map or P2 string / @value / list."""
    out: list[tuple[str, str | None]] = []
    if isinstance(value, str):
        out.append((value, None))
    elif isinstance(value, list):
        for item in value:
            out.extend(_texts(item))
    elif isinstance(value, dict):
        if "@value" in value:
            if isinstance(value["@value"], str):
                language = value.get("@language")
                out.append((value["@value"], language if isinstance(language, str) else None))
        else:
            for language, items in value.items():
                lang = None if language in ("none", "@none") else str(language)
                for item in items if isinstance(items, list) else [items]:
                    if isinstance(item, str):
                        out.append((item, lang))
    return out


def _ids(value: Any) -> list[str]:
    """The URIs of a reference: a string, an object with id / @id, or a list of those."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        found = value.get("id") or value.get("@id")
        return [found] if isinstance(found, str) else []
    if isinstance(value, list):
        return [uri for item in value for uri in _ids(item)]
    return []


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _kind(data: dict[str, Any]) -> str:
    kind = data.get("type") or data.get("@type") or ""
    return str(kind) if not isinstance(kind, list) else str(kind[0] if kind else "")


def _version(data: dict[str, Any]) -> int:
    contexts = " ".join(str(item) for item in _list(data.get("@context")))
    if "presentation/3" in contexts:
        return 3
    if "presentation/2" in contexts or _kind(data).startswith("sc:"):
        return 2
    return 3


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# -- one manifest -----------------------------------------------------------------------------


class _Manifest:
    def __init__(self, data: dict[str, Any], location: str):
        self.data = data
        self.v = _version(data)
        self.location = location
        self.problems: list[Problem] = []
        self.fields: dict[str, list[Value]] = {}
        self.other: dict[str, list[Value]] = {}

    def warn(self, code: str, message: str, hint: str = "", field: str | None = None) -> None:
        self.problems.append(
            Problem.warning(code, message, hint, field=field, location=self.location)
        )

    def value(self, text: str, lang: str | None, ref: str | None = None) -> Value | None:
        try:
            return Value(value=text, lang=lang, ref=ref)
        except ValidationError:
            pass
        try:
            value = Value(value=text[:100_000], ref=ref)
        except ValidationError:
            return None
        if lang:
            self.warn("iiif.language", f"'{lang}' is not a language tag; the text kept without it")
        return value

    def add(self, name: str, text: str, lang: str | None, *, linked: bool = False) -> None:
        plain, links = _plain(text)
        ref = links[0] if linked and len(links) == 1 else None
        if plain.startswith(("http://", "https://")) and " " not in plain:
            ref, plain = plain, ""
        value = self.value(plain, lang, ref)
        if value is None:
            return
        target = self.other if ":" in name else self.fields
        items = target.setdefault(name, [])
        if value not in items:
            items.append(value)

    def map(self) -> SourceRecord:
        data = self.data
        identifier = data.get("id") if self.v == 3 else data.get("@id")
        if not isinstance(identifier, str) or not identifier.strip():
            problem = Problem.error(
                "iiif.no-id",
                "the manifest has no id, so it cannot be imported as a record",
                "Give the manifest its URI in 'id' (or '@id' in Presentation 2).",
                field="identifier",
                location=self.location,
            )
            return SourceRecord(None, self.location, [problem])
        for text, lang in _texts(data.get("label")):
            self.add("title", text, lang)
        if not self.fields.get("title"):
            self.warn("iiif.no-label", "the manifest has no label", field="title")
        summary = data.get("summary") if self.v == 3 else data.get("description")
        for text, lang in _texts(summary):
            self.add("description", text, lang)
        self.metadata()
        rights, is_shown_at, preview = self.aggregation()
        representations, edm_type = self.representations()
        record_data: dict[str, Any] = {
            "identifier": identifier,
            **self.fields,
            "other": self.other,
            "rights": rights,
            "is_shown_at": is_shown_at,
            "preview": preview,
            "representations": representations,
            "edm_type": edm_type,
        }
        record = self.build(record_data)
        return SourceRecord(record, self.location, self.problems, identifier=identifier)

    def metadata(self) -> None:
        for pair in _list(self.data.get("metadata")):
            if not isinstance(pair, dict):
                continue
            labels = _texts(pair.get("label"))
            values = _texts(pair.get("value"))
            target = None
            for label, _lang in labels:
                target = target_for_header(_plain(label)[0])
                if target:
                    break
            if target == "identifier":
                target = "identifiers"  # the record's identifier is the manifest's URI
            spec = FIELDS_BY_NAME.get(target or "")
            if spec is not None:
                for text, lang in values:
                    linked = spec.kind is ValueKind.LINKED
                    self.add(
                        spec.name,
                        text,
                        None if spec.kind is ValueKind.CODE else lang,
                        linked=linked,
                    )
                continue
            label_text = _plain(labels[0][0])[0] if labels else ""
            for text, lang in values:
                in_lang = [t for t, lab_lang in labels if lab_lang == lang]
                name = _plain(in_lang[0])[0] if in_lang else label_text
                plain = _plain(text)[0]
                self.add("hc:metadata", f"{name}: {plain}" if name else plain, lang)

    def aggregation(self) -> tuple[str | None, str | None, str | None]:
        data = self.data
        licences = _ids(data.get("rights") if self.v == 3 else data.get("license"))
        if len(licences) > 1:
            self.warn(
                "iiif.rights", "several licences; the first is the record's rights", field="rights"
            )
        statement = data.get("requiredStatement") if self.v == 3 else data.get("attribution")
        if isinstance(statement, dict) and "value" in statement:
            statement = statement["value"]
        for text, lang in _texts(statement):
            self.add("rights_statement", text, lang)
        homepage = data.get("homepage") if self.v == 3 else data.get("related")
        thumbnails = _ids(data.get("thumbnail"))
        for agent in _list(data.get("provider")):
            if not isinstance(agent, dict):
                continue
            refs = _ids(agent)
            names = _texts(agent.get("label")) or [("", None)]
            value = self.value(_plain(names[0][0])[0], names[0][1], refs[0] if refs else None)
            if value is not None:
                self.fields.setdefault("data_provider", []).append(value)
            for logo in _ids(agent.get("logo")):
                self.add("foaf:logo", logo, None)
        for logo in _ids(data.get("logo")):
            self.add("foaf:logo", logo, None)
        for parent in _list(data.get("partOf") if self.v == 3 else data.get("within")):
            names = _texts(parent.get("label")) if isinstance(parent, dict) else []
            for ref in _ids(parent):
                value = self.value(
                    names[0][0] if names else "", names[0][1] if names else None, ref
                )
                if value is not None:
                    self.fields.setdefault("is_part_of", []).append(value)
        nav_date = data.get("navDate")
        if isinstance(nav_date, str) and not self.fields.get("date"):
            self.add("date", nav_date, None)
        pages = _ids(homepage)
        return (
            licences[0] if licences else None,
            pages[0] if pages else None,
            thumbnails[0] if thumbnails else None,
        )

    # -- painted content ----------------------------------------------------------------------

    def canvases(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each canvas with the resources painted on it."""
        if self.v == 3:
            for canvas in _list(self.data.get("items")):
                if not isinstance(canvas, dict):
                    continue
                bodies: list[dict[str, Any]] = []
                for page in _list(canvas.get("items")):
                    for annotation in _list(page.get("items") if isinstance(page, dict) else None):
                        if not isinstance(annotation, dict):
                            continue
                        motivation = _list(annotation.get("motivation")) or ["painting"]
                        if "painting" in motivation:
                            bodies.extend(
                                self.resolve(body) for body in _list(annotation.get("body"))
                            )
                yield canvas, [body for body in bodies if body]
            return
        sequences = [s for s in _list(self.data.get("sequences")) if isinstance(s, dict)]
        for sequence in sequences[:1]:  # only the first sequence must be embedded
            for canvas in _list(sequence.get("canvases")):
                if not isinstance(canvas, dict):
                    continue
                bodies = [
                    self.resolve(image.get("resource"))
                    for image in _list(canvas.get("images"))
                    if isinstance(image, dict)
                ]
                yield canvas, [body for body in bodies if body]

    def resolve(self, body: Any) -> dict[str, Any]:
        """The resource itself: the first (default) option of a choice, the source of a
        specific resource (a region of an image)."""
        for _ in range(4):
            if not isinstance(body, dict):
                return {}
            kind = _kind(body).lower()
            if kind in ("choice", "oa:choice"):
                body = body.get("default") or next(
                    iter(_list(body.get("items") or body.get("item"))), None
                )
            elif kind in ("specificresource", "oa:specificresource"):
                body = body.get("source") or body.get("full")
            else:
                return body
        return {}

    def representations(self) -> tuple[list[Representation], str | None]:
        found: list[Representation] = []
        kinds: Counter[str] = Counter()
        for canvas, bodies in self.canvases():
            canvas_kinds: set[str] = set()
            labels = [
                value
                for text, lang in _texts(canvas.get("label"))
                if (value := self.value(_plain(text)[0], lang)) is not None
            ]
            for body in bodies:
                kind = _EDM_OF_BODY.get(_kind(body).lower())
                urls = _ids(body)
                if not urls or kind is None:
                    continue  # textual bodies and the like: nothing to show
                canvas_kinds.add(kind)
                if len(found) >= MAX_REPRESENTATIONS:
                    continue
                service = _image_service(body)
                try:
                    found.append(
                        Representation(
                            url=urls[0],
                            role="view" if found else "primary",
                            media_type=body.get("format")
                            if isinstance(body.get("format"), str)
                            else None,
                            label=labels,
                            iiif_service=service[0] if service else None,
                            iiif_profile=service[1] if service else None,
                            width=_int(body.get("width"))
                            or (_int(canvas.get("width")) if kind == "IMAGE" else None),
                            height=_int(body.get("height"))
                            or (_int(canvas.get("height")) if kind == "IMAGE" else None),
                        )
                    )
                except ValidationError as error:
                    self.warn(
                        "iiif.resource",
                        f"resource {urls[0][:200]} skipped: {error.errors()[0]['msg']}",
                    )
            for kind in _PRECEDENCE:
                if kind in canvas_kinds:
                    kinds[kind] += 1
                    break
        if len(found) >= MAX_REPRESENTATIONS:
            self.warn("iiif.too-many", f"only the first {MAX_REPRESENTATIONS} resources are kept")
        if not found:
            self.warn("iiif.no-content", "no image, audio, video or model is painted on a canvas")
        if not kinds:
            return found, None
        top = max(kinds.values())
        return found, next(kind for kind in _PRECEDENCE if kinds[kind] == top)

    def build(self, data: dict[str, Any]) -> Record | None:
        for _attempt in range(4):
            try:
                return Record(**data)
            except ValidationError as error:
                for item in error.errors():
                    name = str(item["loc"][0]) if item["loc"] else ""
                    self.problems.append(
                        Problem.error(
                            "iiif.invalid-value",
                            f"{name}: {str(item['msg']).removeprefix('Value error, ')}",
                            field=name or None,
                            location=self.location,
                        )
                    )
                    if name in ("", "identifier") or name not in data:
                        return None
                    data.pop(name)
        return None


def _image_service(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """The body's IIIF Image API service: its URL and the compliance level URI it
    implements (``http://iiif.io/api/image/2/level1.json``), None when its version is
    not said."""
    for service in _list(body.get("service")):
        if not isinstance(service, dict):
            continue
        kind = _kind(service)
        profile = " ".join(str(p) for p in _list(service.get("profile")))
        context = " ".join(str(c) for c in _list(service.get("@context")))
        if (
            "ImageService" in kind
            or "api/image" in profile + context
            or profile.startswith("level")
        ):
            ids = _ids(service)
            if ids:
                return ids[0], _compliance_level(kind, profile, context)
    return None


_API_VERSION = re.compile(r"(?:ImageService|api/image/)([123])")
_LEVEL = re.compile(r"level([012])")


def _compliance_level(kind: str, profile: str, context: str) -> str | None:
    version = _API_VERSION.search(f"{kind} {context} {profile}")
    if version is None:
        return None
    level = _LEVEL.search(profile)
    return f"http://iiif.io/api/image/{version.group(1)}/level{level.group(1) if level else 0}.json"


# -- files ------------------------------------------------------------------------------------


def _items(data: dict[str, Any], version: int) -> list[tuple[str, Any]]:
    if version == 3:
        return [(f"items[{i}]", item) for i, item in enumerate(_list(data.get("items")))]
    out: list[tuple[str, Any]] = []
    for key in ("collections", "manifests", "members"):
        out.extend((f"{key}[{i}]", item) for i, item in enumerate(_list(data.get(key))))
    return out


def _collection(data: dict[str, Any], location: str, depth: int) -> Iterator[SourceRecord]:
    version = _version(data)
    for key, item in _items(data, version):
        if not isinstance(item, dict):
            continue
        where = f"{location}.{key}"
        kind = _kind(item).lower().removeprefix("sc:")
        ids = _ids(item)
        embedded = "items" in item if version == 3 else "sequences" in item
        if kind == "collection":
            embedded = "items" in item or "manifests" in item or "collections" in item
        if kind not in ("manifest", "collection"):
            continue
        if not embedded:
            problem = Problem.warning(
                "iiif.referenced",
                f"the {kind} {ids[0] if ids else '(without id)'} is only referenced from the "
                "collection, not embedded; it was not fetched",
                f"Import the {kind} file (or its URL) itself.",
                location=where,
            )
            yield SourceRecord(None, where, [problem], identifier=ids[0] if ids else None)
        elif kind == "manifest":
            yield _Manifest(item, where).map()
        elif depth < MAX_DEPTH:
            yield from _collection(item, where, depth + 1)
        else:
            problem = Problem.warning(
                "iiif.too-deep", f"collections nested deeper than {MAX_DEPTH}; skipped"
            )
            yield SourceRecord(None, where, [problem.at(where)])


def read_iiif(path: Path) -> Iterator[SourceRecord]:
    """The record of a manifest file, or of each manifest a collection file embeds."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise SourceError("the JSON is not an object, so not an IIIF manifest", source=path.name)
    kind = _kind(data)
    short = kind.lower()
    if short in ("manifest", "sc:manifest"):
        yield _Manifest(data, "$").map()
    elif short in ("collection", "sc:collection"):
        yield from _collection(data, "$", 0)
    elif short in _NOT_IMPORTABLE:
        raise SourceError(
            f"this is an IIIF {kind}, {_NOT_IMPORTABLE[short]}, not a manifest or collection: "
            "it describes no object. Import the manifest that uses it.",
            source=path.name,
        )
    elif not kind:
        raise SourceError(
            "the JSON has no 'type' (or '@type'), so it is not an IIIF manifest or collection",
            source=path.name,
        )
    else:
        raise SourceError(
            f"the JSON is of type '{kind}', not an IIIF Manifest or Collection",
            source=path.name,
        )


register("iiif")(read_iiif)
