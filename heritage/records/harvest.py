"""An OAI-PMH 2.0 harvester: records from a repository, page by page.

``Harvester(base_url, prefix).records()`` asks for ``ListRecords`` and follows
the resumption tokens, mapping each record's metadata by its format (oai_dc,
EDM, LIDO). Deleted records come out with ``deleted=True``. The harvester keeps
the state a caller needs to go on later: ``resume_token`` (the token of the
page not yet fully yielded: resuming with it yields that page again, so nothing
is lost; importers find records again by identifier) and ``newest_datestamp``
(the ``from`` of the next incremental harvest).

Harvested records are located by their OAI identifier (``SourceRecord.location``),
which is also the identifier of deleted records, so deletions can be matched.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from lxml import etree

from heritage.records.importers import xmlsafe
from heritage.records.importers.base import SourceError, SourceRecord
from heritage.records.importers.dublincore import OAI, OAI_DC, OaiHeader, read_header
from heritage.records.problems import Problem

log = logging.getLogger(__name__)

LIDO = "http://www.lido-schema.org"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"
_DATESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")
# OAI errors that end a harvest with an explanation (noRecordsMatch is an empty harvest)
_HINTS = {
    "badArgument": "the endpoint refused the request's arguments (check set, from and until)",
    "badResumptionToken": "the resumption token is unknown or has expired; harvest again "
    "from the start or from the newest datestamp",
    "cannotDisseminateFormat": "the endpoint does not serve this metadata format "
    "(see its ListMetadataFormats)",
    "noSetHierarchy": "the endpoint does not support sets; harvest without a set",
    "badVerb": "the endpoint does not understand the request",
    "idDoesNotExist": "the endpoint does not know this identifier",
    "noMetadataFormats": "the endpoint has no metadata formats for this item",
}

Mapper = Callable[[etree._Element, str, OaiHeader], SourceRecord]


class HarvestError(Exception):
    """A harvest that cannot go on: names the endpoint and, for OAI errors, the code."""

    def __init__(self, message: str, *, endpoint: str, code: str | None = None) -> None:
        prefix = f"OAI-PMH endpoint {endpoint}"
        super().__init__(f"{prefix}: {code}: {message}" if code else f"{prefix}: {message}")
        self.endpoint = endpoint
        self.code = code


# -- metadata formats -----------------------------------------------------------------------------


def _map_oai_dc(element: etree._Element, location: str, header: OaiHeader) -> SourceRecord:
    from heritage.records.importers.dublincore import map_dc

    return map_dc(element, location, identifier=header.identifier)


def _map_edm(element: etree._Element, location: str, header: OaiHeader) -> SourceRecord:
    from heritage.records.importers.edm import map_rdf

    return map_rdf(element, location)


def _map_lido(element: etree._Element, location: str, header: OaiHeader) -> SourceRecord:
    # written by a colleague alongside this module: imported only when a LIDO record comes
    from heritage.records.importers.lido import map_record

    return map_record(element, location)


MAPPERS: dict[str, Mapper] = {"oai_dc": _map_oai_dc, "edm": _map_edm, "lido": _map_lido}
# when a repository names a format differently (europeana_edm, rdf), its root element decides
_BY_ROOT: dict[str, Mapper] = {
    f"{{{OAI_DC}}}dc": _map_oai_dc,
    f"{{{RDF}}}RDF": _map_edm,
    f"{{{LIDO}}}lido": _map_lido,
}


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identify:
    repository_name: str
    base_url: str
    protocol_version: str
    earliest_datestamp: str
    deleted_record: str
    granularity: str
    admin_emails: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OaiSet:
    spec: str
    name: str
    description: str = ""


def _format_datestamp(value: str | date | datetime, granularity: str, name: str) -> str:
    """``from``/``until`` as the repository's granularity allows (a day-granular one gets the
    day: a harvest from it may repeat records, never miss them)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = value.strip()
        if not _DATESTAMP.match(text):
            raise ValueError(f"{name} '{value}' is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    return text[:10] if granularity == DAY else text


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("Retry-After", "").strip()
    if header.isdigit():
        return float(header)
    if header:
        try:
            moment = email.utils.parsedate_to_datetime(header)
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    return float(2**attempt)


class Harvester:
    """Harvests one metadata format (``prefix``) of one OAI-PMH endpoint."""

    def __init__(
        self,
        base_url: str,
        prefix: str,
        set_spec: str | None = None,
        from_: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        client: httpx.Client | None = None,
        *,
        resume_token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        max_wait: float = 300.0,
        mappers: dict[str, Mapper] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.set_spec = set_spec
        self.from_ = from_
        self.until = until
        for name, value in (("from", from_), ("until", until)):
            if value is not None:
                _format_datestamp(value, SECONDS, name)  # refuse a malformed one early
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 15.0))
        self.retries = retries
        self.max_wait = max_wait
        self.mappers = {**MAPPERS, **(mappers or {})}
        self._sleep = sleep
        self._client = client
        self._own_client = client is None
        self._identify: Identify | None = None
        # state to persist: the token of the page not yet fully yielded, the newest datestamp
        self.resume_token: str | None = resume_token
        self.newest_datestamp: str | None = None
        self.cursor: int | None = None
        self.complete_list_size: int | None = None
        self.records_seen = 0
        self.pages = 0
        self.done = False  # the whole list has been yielded

    # -- HTTP ------------------------------------------------------------------------------------

    def __enter__(self) -> Harvester:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                follow_redirects=True, headers={"User-Agent": "HeritageCloud-OAI-harvester/1"}
            )
        return self._client

    def _error(self, message: str, code: str | None = None) -> HarvestError:
        return HarvestError(message, endpoint=self.base_url, code=code)

    def _get(self, params: dict[str, str]) -> bytes:
        """One response body; 503 (and 429) are retried after their Retry-After."""
        attempt = 0
        while True:
            try:
                response = self.client.get(self.base_url, params=params, timeout=self.timeout)
            except httpx.TimeoutException as error:
                if attempt >= self.retries:
                    raise self._error(f"no answer within the timeout ({error})") from error
                reason, wait = "timeout", float(2**attempt)
            except httpx.TransportError as error:
                if attempt >= self.retries:
                    raise self._error(f"cannot be reached: {error}") from error
                reason, wait = "connection failed", float(2**attempt)
            else:
                if response.status_code == 200:
                    return response.content
                if response.status_code not in (429, 503) or attempt >= self.retries:
                    raise self._error(
                        f"answered HTTP {response.status_code} to {params.get('verb')}",
                        code=f"http-{response.status_code}",
                    )
                reason, wait = f"HTTP {response.status_code}", _retry_after(response, attempt)
            if wait > self.max_wait:
                raise self._error(f"asks to wait {wait:.0f} s ({reason}); try again later")
            attempt += 1
            log.info("OAI-PMH %s: %s, retry %d in %.1f s", self.base_url, reason, attempt, wait)
            self._sleep(wait)

    def _request(self, params: dict[str, str]) -> etree._Element | None:
        """The verb's element of the response, or None for noRecordsMatch."""
        data = self._get(params)
        try:
            root = xmlsafe.parse_bytes(data, f"{self.base_url} ({params.get('verb')})")
        except SourceError as error:
            raise self._error(f"sent a response that is not well-formed XML: {error}") from error
        if root.tag != f"{{{OAI}}}OAI-PMH":
            raise self._error(f"sent something that is not an OAI-PMH response ({root.tag})")
        errors = root.findall(f"{{{OAI}}}error")
        codes = [item.get("code", "") for item in errors]
        if errors and all(code == "noRecordsMatch" for code in codes):
            return None
        if errors:
            item = next(e for e in errors if e.get("code") != "noRecordsMatch")
            code = item.get("code", "unknown")
            text = xmlsafe.text_of(item)
            hint = _HINTS.get(code, "the endpoint reported an error")
            raise self._error(f"{hint}" + (f" (it says: {text})" if text else ""), code=code)
        body = root.find(f"{{{OAI}}}{params['verb']}")
        if body is None:
            raise self._error(f"the response has no {params['verb']} element")
        return body

    def _pages(self, verb: str, params: dict[str, str], token: str | None) -> Iterator[Any]:
        """Each page's body element with the resumption token that follows it."""
        while True:
            request = (
                {"verb": verb, "resumptionToken": token} if token else {"verb": verb, **params}
            )
            body = self._request(request)
            if body is None:
                return
            self.pages += 1
            node = body.find(f"{{{OAI}}}resumptionToken")
            following = xmlsafe.text_of(node) if node is not None else ""
            if node is not None:
                cursor, size = node.get("cursor", ""), node.get("completeListSize", "")
                self.cursor = int(cursor) if cursor.isdigit() else self.cursor
                self.complete_list_size = int(size) if size.isdigit() else self.complete_list_size
            if following and following == token:
                raise self._error(f"returned the same resumptionToken again ({token})")
            yield body, following or None
            if not following:
                return  # no token or an empty one: the list is complete
            token = following

    # -- verbs -----------------------------------------------------------------------------------

    def identify(self) -> Identify:
        if self._identify is None:
            body = self._request({"verb": "Identify"})
            assert body is not None  # Identify has no noRecordsMatch

            def text(name: str) -> str:
                return xmlsafe.text_of(body.find(f"{{{OAI}}}{name}"))

            self._identify = Identify(
                repository_name=text("repositoryName"),
                base_url=text("baseURL"),
                protocol_version=text("protocolVersion"),
                earliest_datestamp=text("earliestDatestamp"),
                deleted_record=text("deletedRecord"),
                granularity=text("granularity") or DAY,
                admin_emails=[
                    xmlsafe.text_of(item) for item in body.iterfind(f"{{{OAI}}}adminEmail")
                ],
            )
        return self._identify

    def list_sets(self) -> list[OaiSet]:
        sets = []
        for body, _token in self._pages("ListSets", {}, None):
            for item in body.iterfind(f"{{{OAI}}}set"):
                sets.append(
                    OaiSet(
                        spec=xmlsafe.text_of(item.find(f"{{{OAI}}}setSpec")),
                        name=xmlsafe.text_of(item.find(f"{{{OAI}}}setName")),
                        description=xmlsafe.text_of(item.find(f"{{{OAI}}}setDescription")),
                    )
                )
        return sets

    def _list_params(self) -> dict[str, str]:
        params = {"metadataPrefix": self.prefix}
        if self.set_spec:
            params["set"] = self.set_spec
        for name, value in (("from", self.from_), ("until", self.until)):
            if value is None:
                continue
            precise = isinstance(value, datetime) or (isinstance(value, str) and "T" in value)
            # only a precise bound needs to know the granularity: days are always accepted
            granularity = self.identify().granularity if precise else DAY
            params[name] = _format_datestamp(value, granularity, name)
        return params

    def records(self) -> Iterator[SourceRecord]:
        """The records, page by page; ``resume_token`` follows what has been yielded."""
        params = {} if self.resume_token else self._list_params()
        self.done = False
        for body, following in self._pages("ListRecords", params, self.resume_token):
            for element in body.iterfind(f"{{{OAI}}}record"):
                result = self._record(element)
                self.records_seen += 1
                if result.datestamp and (
                    self.newest_datestamp is None or result.datestamp > self.newest_datestamp
                ):
                    self.newest_datestamp = result.datestamp
                yield result
            # the page is done: a resumed harvest starts at the next one
            self.resume_token = following
            self.done = following is None
            log.info(
                "OAI-PMH %s: page %d, %d records%s",
                self.base_url,
                self.pages,
                self.records_seen,
                f" of {self.complete_list_size}" if self.complete_list_size else "",
            )
        self.done = True  # also when the endpoint answered noRecordsMatch

    def _record(self, element: etree._Element) -> SourceRecord:
        node = element.find(f"{{{OAI}}}header")
        header = read_header(node) if node is not None else OaiHeader()
        location = header.identifier or f"record on page {self.pages} (line {element.sourceline})"
        if header.deleted:
            return SourceRecord(
                None,
                location,
                identifier=header.identifier,
                deleted=True,
                datestamp=header.datestamp,
                source_id=header.identifier,
            )
        metadata = element.find(f"{{{OAI}}}metadata")
        payload = (
            next((child for child in metadata if isinstance(child.tag, str)), None)
            if metadata is not None
            else None
        )
        if payload is None:
            result = SourceRecord(
                None,
                location,
                [
                    Problem.error(
                        "harvest.no-metadata",
                        "the record has no metadata",
                        "Ask the repository why the record is served without metadata.",
                        location=location,
                    )
                ],
            )
        else:
            mapper = self.mappers.get(self.prefix) or _BY_ROOT.get(payload.tag)
            if mapper is None:
                raise self._error(
                    f"no mapping for metadata format '{self.prefix}' ({payload.tag}); "
                    f"known: {', '.join(sorted(self.mappers))}"
                )
            try:
                result = mapper(payload, location, header)
            except ImportError as error:
                raise self._error(
                    f"the mapping for '{self.prefix}' is not available: {error}"
                ) from error
            except Exception as error:  # a mapper's bug must not end the whole harvest
                log.exception("OAI-PMH %s: mapping %s failed", self.base_url, location)
                result = SourceRecord(
                    None,
                    location,
                    [
                        Problem.error(
                            "harvest.mapping-failed",
                            f"the record could not be mapped ({type(error).__name__}: {error})",
                            "Report this record to the Heritage Cloud team.",
                            location=location,
                        )
                    ],
                )
        result.location = location
        result.identifier = result.identifier or header.identifier
        result.datestamp = header.datestamp
        result.source_id = header.identifier or None
        return result

    def state(self) -> dict[str, Any]:
        """What to persist to resume (``resume_token``) or harvest incrementally (``from_``)."""
        return {
            "base_url": self.base_url,
            "prefix": self.prefix,
            "set_spec": self.set_spec,
            "resume_token": self.resume_token,
            "newest_datestamp": self.newest_datestamp,
            "cursor": self.cursor,
            "complete_list_size": self.complete_list_size,
            "records_seen": self.records_seen,
            "done": self.done,
        }


__all__ = ["MAPPERS", "HarvestError", "Harvester", "Identify", "OaiSet"]
