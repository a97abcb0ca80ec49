"""A small OAI-PMH 2.0 data provider on loopback, for the harvester's tests.

It serves records taken from the real files in the shared test data (Gallica
records, the specification's examples, Europeana's harvesting fixtures, EDM
records) in pages with resumption tokens, answers with the protocol's errors,
and can misbehave on purpose: 503 with Retry-After, a malformed page, a slow
answer. Every request is logged for the tests to inspect.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

OAI = "http://www.openarchives.org/OAI/2.0/"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"


def _q(name: str) -> str:
    return f"{{{OAI}}}{name}"


@dataclass
class Item:
    identifier: str
    datestamp: str
    prefix: str
    sets: list[str]
    element: etree._Element  # the whole <record> as served


def item_from_record(record: etree._Element, prefix: str) -> Item:
    header = record.find(_q("header"))
    assert header is not None
    return Item(
        identifier=header.findtext(_q("identifier")).strip(),
        datestamp=header.findtext(_q("datestamp")).strip(),
        prefix=prefix,
        sets=[(spec.text or "").strip() for spec in header.iterfind(_q("setSpec"))],
        element=record,
    )


def records_in(path: Path) -> list[etree._Element]:
    """The <record> elements of a file: the root itself, or those of an OAI-PMH response."""
    root = etree.parse(str(path)).getroot()
    return [root] if root.tag == _q("record") else list(root.iter(_q("record")))


def build_record(
    identifier: str, datestamp: str, metadata: etree._Element, sets: tuple[str, ...] = ()
) -> etree._Element:
    record = etree.Element(_q("record"), nsmap={None: OAI})
    header = etree.SubElement(record, _q("header"))
    etree.SubElement(header, _q("identifier")).text = identifier
    etree.SubElement(header, _q("datestamp")).text = datestamp
    for spec in sets:
        etree.SubElement(header, _q("setSpec")).text = spec
    etree.SubElement(record, _q("metadata")).append(copy.deepcopy(metadata))
    return record


def dc_items(data: Path) -> list[Item]:
    """oai_dc records: Gallica's, the specification's, Europeana's harvesting fixtures."""
    files = sorted((data / "oai-pmh" / "gallica-oai_dc-records").glob("*.xml"))
    files += [
        data / "oai-pmh" / "spec-examples" / "ex-sec4.1a.xml",
        data / "oai-pmh" / "spec-examples" / "ex-sec4.5b.xml",
        data / "oai-pmh" / "europeana-harvesting" / "sampleOaiRecord.xml",
        data / "oai-pmh" / "europeana-harvesting" / "deletedOaiRecord.xml",
    ]
    return [item_from_record(record, "oai_dc") for path in files for record in records_in(path)]


def edm_items(data: Path) -> list[Item]:
    """EDM records of the Metis sandbox, each wrapped as an OAI record of the set 'sandbox'."""
    items = []
    for number, path in enumerate(sorted((data / "edm" / "metis-sandbox" / "records").glob("*"))):
        rdf = etree.parse(str(path)).getroot()
        identifier = f"oai:sandbox:{path.stem}"
        datestamp = f"2021-03-{number % 28 + 1:02d}T10:00:00Z"
        record = build_record(identifier, datestamp, rdf, ("sandbox",))
        items.append(Item(identifier, datestamp, "edm", ["sandbox"], record))
    return items


def _normal(stamp: str, end: bool = False) -> str:
    return stamp if "T" in stamp else stamp + ("T23:59:59Z" if end else "T00:00:00Z")


@dataclass
class Repository:
    items: list[Item]
    page_size: int = 4
    granularity: str = DAY
    sets: bool = True
    canned: dict[str, bytes] = field(default_factory=dict)  # verb -> a whole response
    fail_503: int = 0  # answer this many requests with 503 first
    retry_after: str = "1"
    malformed_offsets: set[int] = field(default_factory=set)  # pages served broken once
    delay: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)
    tokens: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    # -- answers ---------------------------------------------------------------------------------

    def respond(self, args: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(args)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_503 > 0:
            self.fail_503 -= 1
            return 503, {"Retry-After": self.retry_after}, b"busy"
        verb = args.get("verb", "")
        if verb in self.canned:
            return 200, {}, self.canned[verb]
        if verb == "Identify":
            return 200, {}, self._identify(args)
        if verb == "ListSets":
            if not self.sets:
                return 200, {}, self._error(args, "noSetHierarchy", "no sets here")
            return 200, {}, self._list_sets(args)
        if verb == "ListRecords":
            return 200, {}, self._list_records(args)
        return 200, {}, self._error(args, "badVerb", "illegal verb")

    def _envelope(self, args: dict[str, str]) -> etree._Element:
        root = etree.Element(_q("OAI-PMH"), nsmap={None: OAI})
        etree.SubElement(root, _q("responseDate")).text = "2024-01-01T00:00:00Z"
        request = etree.SubElement(root, _q("request"), **args)
        request.text = "http://127.0.0.1/oai"
        return root

    def _error(self, args: dict[str, str], code: str, text: str) -> bytes:
        root = self._envelope(args)
        etree.SubElement(root, _q("error"), code=code).text = text
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _identify(self, args: dict[str, str]) -> bytes:
        root = self._envelope(args)
        body = etree.SubElement(root, _q("Identify"))
        for name, value in (
            ("repositoryName", "Loopback test repository"),
            ("baseURL", "http://127.0.0.1/oai"),
            ("protocolVersion", "2.0"),
            ("adminEmail", "nobody@example.org"),
            (
                "earliestDatestamp",
                "1981-07-01" if self.granularity == DAY else "1981-07-01T00:00:00Z",
            ),
            ("deletedRecord", "persistent"),
            ("granularity", self.granularity),
        ):
            etree.SubElement(body, _q(name)).text = value
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _list_sets(self, args: dict[str, str]) -> bytes:
        root = self._envelope(args)
        body = etree.SubElement(root, _q("ListSets"))
        for spec in sorted({spec for item in self.items for spec in item.sets}):
            node = etree.SubElement(body, _q("set"))
            etree.SubElement(node, _q("setSpec")).text = spec
            etree.SubElement(node, _q("setName")).text = spec.rsplit(":", 1)[-1]
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _bad_stamp(self, value: str) -> bool:
        if self.granularity == DAY:
            return len(value) != 10
        return len(value) not in (10, 20)

    def _list_records(self, args: dict[str, str]) -> bytes:
        token = args.get("resumptionToken")
        if token is not None:
            if set(args) != {"verb", "resumptionToken"}:
                return self._error(args, "badArgument", "resumptionToken is exclusive")
            if token not in self.tokens:
                return self._error(args, "badResumptionToken", "unknown token")
            offset, query = self.tokens[token]
        else:
            offset, query = 0, {key: value for key, value in args.items() if key != "verb"}
            if "metadataPrefix" not in query:
                return self._error(args, "badArgument", "metadataPrefix is missing")
            for name in ("from", "until"):
                if name in query and self._bad_stamp(query[name]):
                    return self._error(args, "badArgument", f"bad {name} granularity")
            if query["metadataPrefix"] not in {item.prefix for item in self.items}:
                return self._error(args, "cannotDisseminateFormat", "unknown format")
            if "set" in query and not self.sets:
                return self._error(args, "noSetHierarchy", "no sets here")
        matching = [
            item
            for item in self.items
            if item.prefix == query["metadataPrefix"]
            and ("set" not in query or query["set"] in item.sets)
            and ("from" not in query or _normal(item.datestamp) >= _normal(query["from"]))
            and (
                "until" not in query or _normal(item.datestamp) <= _normal(query["until"], end=True)
            )
        ]
        if not matching:
            return self._error(args, "noRecordsMatch", "nothing matches")
        page = matching[offset : offset + self.page_size]
        root = self._envelope(args)
        body = etree.SubElement(root, _q("ListRecords"))
        for item in page:
            body.append(copy.deepcopy(item.element))
        following = offset + self.page_size
        if token is not None or following < len(matching):
            node = etree.SubElement(
                body, _q("resumptionToken"), completeListSize=str(len(matching)), cursor=str(offset)
            )
            if following < len(matching):
                node.text = f"token-{next(self._counter)}"
                self.tokens[node.text] = (following, query)
            # on the last page the token is empty: the list is complete
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        if offset in self.malformed_offsets:
            self.malformed_offsets.discard(offset)
            return data[: len(data) // 2]  # cut off mid-page, as a dropped connection would
        return data


class _Handler(BaseHTTPRequestHandler):
    repository: Repository

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        args = {key: values[-1] for key, values in query.items()}
        status, headers, body = self.server.repository.respond(args)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@contextmanager
def serve(repository: Repository) -> Iterator[str]:
    """Run the repository on 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.repository = repository  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/oai"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
