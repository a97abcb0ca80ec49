"""The embedded search backend: a tantivy index in ``DATA_DIR/search/tantivy``.

Text arrives already analysed (``analysis.py``), so the index only splits on
spaces: the same terms as the PostgreSQL backend, stemming for languages tantivy
has no stemmer for (Polish), and one place to change analysis. One process writes
at a time (tantivy's lock); a writer that finds the lock taken waits for it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import tantivy

from heritage.errors import ContentUnavailable
from heritage.search import analysis
from heritage.search.backends import BulkWrite, Location, SearchHits, SearchRequest, register
from heritage.search.documents import FACETS, GROUPS, SearchDocument
from heritage.search.query import Node, Not, Or, Phrase, Term

if TYPE_CHECKING:
    from heritage.runtime import Runtime

# Bump when the schema or the analysis changes: an index of another format is
# rebuilt by `heritage reindex` (searches answer 503 until then).
FORMAT = 2  # 2: the content_tier and metadata_tier facets
TOKENIZER = "heritage_spaces"
GROUP_BOOST = {"title": 4.0, "agents": 2.5, "context": 1.5, "body": 1.0}
EXACT_BONUS = 1.25  # the word as written ranks above its other forms
NO_YEAR = 1_000_000
# A rebuild holds the writer for its whole run; a sync waits this long for it, then
# leaves its changes in the outbox for the rebuild's end or the next tick.
LOCK_WAIT_SECONDS = 5.0
WRITER_HEAP = 64_000_000


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("uuid", stored=True, tokenizer_name="raw")
    builder.add_integer_field("ws", indexed=True, fast=True)
    for group in GROUPS:
        builder.add_text_field(f"w_{group}", tokenizer_name=TOKENIZER, index_option="position")
        builder.add_text_field(f"s_{group}", tokenizer_name=TOKENIZER, index_option="freq")
    builder.add_text_field("fterms", tokenizer_name=TOKENIZER, index_option="basic")
    for name in FACETS:
        builder.add_text_field(f"f_{name}", tokenizer_name="raw", fast=True, index_option="basic")
    builder.add_integer_field("year_from", indexed=True, fast=True)
    builder.add_integer_field("year_to", indexed=True, fast=True)
    builder.add_integer_field("sort_year", fast=True)
    builder.add_integer_field("sort_year_desc", fast=True)
    builder.add_float_field("lat", stored=True, indexed=True, fast=True)
    builder.add_float_field("lon", stored=True, indexed=True, fast=True)
    builder.add_integer_field("updated", fast=True)
    builder.add_text_field("title_key", tokenizer_name="raw", fast=True, index_option="basic")
    builder.add_text_field("suggest", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("suggest_words", tokenizer_name=TOKENIZER, index_option="basic")
    return builder.build()


def _spaces() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


class TantivyBackend:
    name = "tantivy"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.schema = _schema()
        self._lock = threading.Lock()
        self._index: tantivy.Index | None = None

    # -- opening ------------------------------------------------------------------------

    @property
    def _format_file(self) -> Path:
        return self.directory / "heritage-format.json"

    def _open(self) -> tantivy.Index:
        if self._index is not None:
            return self._index
        with self._lock:
            if self._index is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                if self._format_file.exists():
                    found = json.loads(self._format_file.read_text()).get("format")
                    if found != FORMAT:
                        raise ContentUnavailable(
                            f"the search index in {self.directory} has format {found}, this "
                            f"version reads format {FORMAT}: rebuild it with `heritage reindex`"
                        )
                index = tantivy.Index(self.schema, path=str(self.directory), reuse=True)
                index.register_tokenizer(TOKENIZER, _spaces())
                if not self._format_file.exists():
                    self._format_file.write_text(json.dumps({"format": FORMAT}))
                self._index = index
        return self._index

    def _writer(self, wait: float = LOCK_WAIT_SECONDS) -> tantivy.IndexWriter:
        index = self._open()
        deadline = time.monotonic() + wait
        while True:
            try:
                return index.writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as error:
                # Another process writes: its commits take milliseconds.
                if "Lock" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # -- writing ------------------------------------------------------------------------

    def write(
        self,
        documents: Sequence[SearchDocument],
        deleted: Sequence[str],
        *,
        wait: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self.write_prepared([prepare(document) for document in documents], deleted, wait=wait)

    def write_prepared(
        self, prepared: Sequence[Any], deleted: Sequence[str], *, wait: float = LOCK_WAIT_SECONDS
    ) -> None:
        """Add the documents :func:`prepare` made (perhaps in other processes)."""
        if not prepared and not deleted:
            return
        with self.bulk(wait=wait) as write:
            write(prepared, deleted)

    @contextmanager
    def bulk(self, *, fresh: bool = False, wait: float = LOCK_WAIT_SECONDS) -> Iterator[BulkWrite]:
        """One writer for many commits (a rebuild); merges are waited for at the end.
        ``fresh``: the index was cleared, so nothing needs replacing."""
        writer = self._writer(wait)

        def write(prepared: Sequence[Any], deleted: Sequence[str] = ()) -> None:
            for uuid in deleted:
                writer.delete_documents_by_term("uuid", uuid)
            for uuid, text in prepared:
                if not fresh:
                    writer.delete_documents_by_term("uuid", uuid)
                writer.add_json(text)
            writer.commit()

        try:
            yield write
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()

    def clear(self) -> None:
        with self._lock:
            self._index = None
        if self.directory.exists():
            shutil.rmtree(self.directory)

    def close(self) -> None:
        with self._lock:
            self._index = None

    # -- reading ------------------------------------------------------------------------

    def _searcher(self) -> tantivy.Searcher:
        index = self._open()
        index.reload()  # see what other processes committed
        return index.searcher()

    def _term(self, node: Term) -> tantivy.Query:
        schema = self.schema
        if node.field is not None:
            term = f"{node.field}:{node.word}"
            if node.prefix:
                return tantivy.Query.regex_query(schema, "fterms", term + ".*")
            if node.fuzzy:
                return tantivy.Query.fuzzy_term_query(schema, "fterms", term, node.fuzzy, True)
            return tantivy.Query.term_query(schema, "fterms", term)
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        stems = sorted(analysis.query_stems(node.word)) if not (node.prefix or node.fuzzy) else []
        for group in GROUPS:
            boost = GROUP_BOOST[group]
            field = f"w_{group}"
            if node.prefix:
                query = tantivy.Query.regex_query(schema, field, node.word + ".*")
            elif node.fuzzy:
                query = tantivy.Query.fuzzy_term_query(schema, field, node.word, node.fuzzy, True)
            else:
                query = tantivy.Query.term_query(schema, field, node.word)
                stem_query = tantivy.Query.term_set_query(schema, f"s_{group}", stems)
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(stem_query, boost)))
                boost *= EXACT_BONUS
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))
        return tantivy.Query.boolean_query(clauses)

    def _phrase(self, node: Phrase) -> tantivy.Query:
        if node.field is not None:
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, self._term(Term(word, node.field))) for word in node.words]
            )
        clauses = [
            (
                tantivy.Occur.Should,
                tantivy.Query.boost_query(
                    tantivy.Query.phrase_query(self.schema, f"w_{group}", list(node.words)),
                    GROUP_BOOST[group],
                ),
            )
            for group in GROUPS
        ]
        return tantivy.Query.boolean_query(clauses)

    def compile(self, node: Node) -> tantivy.Query:
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Phrase):
            return self._phrase(node)
        if isinstance(node, Not):
            return tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, tantivy.Query.all_query()),
                    (tantivy.Occur.MustNot, self.compile(node.child)),
                ]
            )
        if isinstance(node, Or):
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, self.compile(child)) for child in node.children]
            )
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for child in node.children:
            if isinstance(child, Not):
                clauses.append((tantivy.Occur.MustNot, self.compile(child.child)))
            else:
                clauses.append((tantivy.Occur.Must, self.compile(child)))
        if all(occur == tantivy.Occur.MustNot for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def _filters(self, request: SearchRequest, skip: str | None = None) -> list[tantivy.Query]:
        schema = self.schema
        found = [tantivy.Query.term_set_query(schema, "ws", sorted(request.workspaces))]
        for name, values in request.filters.items():
            if name != skip and values:
                found.append(tantivy.Query.term_set_query(schema, f"f_{name}", list(values)))
        if request.years is not None:
            low, high = request.years
            integer = tantivy.FieldType.Integer
            if high is not None:
                found.append(tantivy.Query.range_query(schema, "year_from", integer, None, high))
            if low is not None:
                found.append(tantivy.Query.range_query(schema, "year_to", integer, low, None))
        if request.changed_since is not None:
            found.append(
                tantivy.Query.range_query(
                    schema, "updated", tantivy.FieldType.Integer, request.changed_since, None
                )
            )
        if request.bbox is not None:
            south, west, north, east = request.bbox
            number = tantivy.FieldType.Float
            found.append(tantivy.Query.range_query(schema, "lat", number, south, north))
            if west <= east:
                found.append(tantivy.Query.range_query(schema, "lon", number, west, east))
            else:  # the box crosses the antimeridian
                found.append(
                    tantivy.Query.boolean_query(
                        [
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.range_query(schema, "lon", number, west, None),
                            ),
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.range_query(schema, "lon", number, None, east),
                            ),
                        ]
                    )
                )
        return found

    def _query(self, request: SearchRequest, skip: str | None = None) -> tantivy.Query:
        clauses = [(tantivy.Occur.Must, query) for query in self._filters(request, skip)]
        if request.query is not None:
            clauses.append((tantivy.Occur.Must, self.compile(request.query)))
        return tantivy.Query.boolean_query(clauses)

    @staticmethod
    def _buckets(result: dict[str, Any], name: str) -> list[tuple[str, int]]:
        return [
            (str(bucket["key"]), int(bucket["doc_count"]))
            for bucket in result.get(name, {}).get("buckets", ())
            if bucket["doc_count"]
        ]

    def search(self, request: SearchRequest) -> SearchHits:
        if not request.workspaces:
            return SearchHits(total=0, hits=[])
        searcher = self._searcher()
        query = self._query(request)
        order: dict[str, Any] = {}
        if request.sort == "date":
            order = {"order_by_field": "sort_year", "order": tantivy.Order.Asc}
        elif request.sort == "-date":
            order = {"order_by_field": "sort_year_desc", "order": tantivy.Order.Desc}
        elif request.sort == "title":
            order = {"order_by_field": "title_key", "order": tantivy.Order.Asc}
        elif request.sort == "changed":
            order = {"order_by_field": "updated", "order": tantivy.Order.Desc}
        result = searcher.search(query, request.limit, offset=request.offset, **order)
        hits = [searcher.doc(address)["uuid"][0] for _key, address in result.hits]
        answer = SearchHits(total=result.count or 0, hits=hits)
        plain = [name for name in request.facets if not request.filters.get(name)]
        aggregations: dict[str, Any] = {
            name: {"terms": {"field": f"f_{name}", "size": request.facet_size}} for name in plain
        }
        if request.histogram:
            aggregations["_years"] = {
                "histogram": {"field": "year_from", "interval": 10, "min_doc_count": 1}
            }
        if aggregations and answer.total:
            counted = searcher.aggregate(query, aggregations)
            for name in plain:
                answer.facets[name] = self._buckets(counted, name)
            if request.histogram:
                answer.histogram = [
                    (int(float(key)), count) for key, count in self._buckets(counted, "_years")
                ]
        # A facet with a chosen value is counted without its own filter, so the
        # other values stay on offer.
        for name in request.facets:
            if name in plain:
                continue
            counted = searcher.aggregate(
                self._query(request, skip=name),
                {name: {"terms": {"field": f"f_{name}", "size": request.facet_size}}},
            )
            answer.facets[name] = self._buckets(counted, name)
        return answer

    def locations(self, request: SearchRequest, limit: int) -> list[Location]:
        if not request.workspaces:
            return []
        searcher = self._searcher()
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, self._query(request)),
                (tantivy.Occur.Must, tantivy.Query.exists_query("lat")),
            ]
        )
        found: list[Location] = []
        for _score, address in searcher.search(query, limit, count=False).hits:
            doc = searcher.doc(address)
            found.append(Location(doc["uuid"][0], doc["lat"][0], doc["lon"][0]))
        return found

    def suggest(self, prefix: str, workspaces: frozenset[int], limit: int) -> list[str]:
        folded = analysis.words(prefix)
        if not folded or not workspaces:
            return []
        schema = self.schema
        clauses = [
            (tantivy.Occur.Must, tantivy.Query.term_set_query(schema, "ws", sorted(workspaces)))
        ]
        for word in folded[:-1]:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_query(schema, "suggest_words", word))
            )
        clauses.append(
            (
                tantivy.Occur.Must,
                tantivy.Query.regex_query(schema, "suggest_words", folded[-1] + ".*"),
            )
        )
        searcher = self._searcher()
        result = searcher.search(tantivy.Query.boolean_query(clauses), 50, count=False)
        counts: dict[str, int] = {}
        for _score, address in result.hits:
            for text in searcher.doc(address).to_dict().get("suggest", ()):
                text_words = analysis.words(text)
                if _starts(text_words, folded):
                    counts[text] = counts.get(text, 0) + 1
        ranked = sorted(counts, key=lambda text: (-counts[text], len(text), text))
        return ranked[:limit]


def _starts(text_words: list[str], folded: list[str]) -> bool:
    """Whether the suggestion's words contain the typed words, the last as a prefix."""
    *whole, last = folded
    if any(word not in text_words for word in whole):
        return False
    return any(word.startswith(last) for word in text_words)


def prepare(document: SearchDocument) -> tuple[str, str]:
    """(uuid, the document as the JSON tantivy reads): JSON crosses into tantivy in
    one call, where a field at a time costs twice the time of the whole rest."""
    fields: dict[str, Any] = {"uuid": document.uuid, "ws": document.workspace_id}
    for group in GROUPS:
        found = document.words.get(group)
        if found:
            fields[f"w_{group}"] = " ".join(found)
            fields[f"s_{group}"] = " ".join(document.stems[group])
    if document.field_terms:
        fields["fterms"] = " ".join(document.field_terms)
    for name, values in document.facets.items():
        fields[f"f_{name}"] = values
    if document.year_from is not None and document.year_to is not None:
        fields["year_from"] = document.year_from
        fields["year_to"] = document.year_to
    fields["sort_year"] = NO_YEAR if document.year_from is None else document.year_from
    fields["sort_year_desc"] = -NO_YEAR if document.year_to is None else document.year_to
    if document.points:
        fields["lat"], fields["lon"] = (float(number) for number in document.points[0])
    fields["updated"] = document.updated
    fields["title_key"] = document.title_key or "\uffff"
    if document.suggestions:
        fields["suggest"] = document.suggestions
        fields["suggest_words"] = [" ".join(analysis.words(item)) for item in document.suggestions]
    return document.uuid, orjson.dumps(fields).decode()


@register("tantivy", prepare)
def _open(runtime: Runtime) -> TantivyBackend:
    return TantivyBackend(runtime.settings.resolved_data_dir / "search" / "tantivy")
