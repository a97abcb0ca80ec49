"""The PostgreSQL search backend: full text in the instance's own database.

For instances with several application servers, which share the database but
not a disk. The analysed words and stems (``analysis.py``) go into two
``tsvector`` columns through the ``simple`` configuration, weighted by group
(title A, agents B, context C, body D), so PostgreSQL only stores and matches
terms; field terms (``creator:rembrandt``) are a third ``tsvector`` of verbatim
lexemes. Fuzzy words are looked up in a vocabulary with ``pg_trgm`` and
``fuzzystrmatch`` (both trusted extensions, created on first use).

Facet values are numbered in a dictionary table, and a document keeps all of its
values as one ``bigint[]`` (the facet's number in the high 32 bits): a broad word
matches tens of thousands of rows, and each of them is visited to count it, so the
row is kept narrow (one small array instead of fifteen text arrays and their keys)
and the counting groups integers in one pass for every facet asked for.

Query words are folded ``\\w`` runs (``query.py``), so they never contain the
quote, colon or operator characters of ``tsquery`` syntax; they still travel as
bound parameters, and only the operators are written into the SQL.
"""

# The SQL below is built from constant names (tables, columns, facets) and the
# query tree's operators; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from heritage.errors import ContentUnavailable
from heritage.search import analysis
from heritage.search.backends import BulkWrite, Location, SearchHits, SearchRequest, register
from heritage.search.documents import FACETS, GROUPS, SearchDocument
from heritage.search.query import Node, Not, Or, Phrase, Term

if TYPE_CHECKING:
    from heritage.runtime import Runtime

TABLE = "search_documents_v4"
FACET_NAMES = "search_facet_names_v4"  # facet -> its number
FACET_VALUES = "search_facet_values_v4"  # (facet, value) -> id: number << 32 | serial
VOCABULARY = "search_vocabulary_v2"
# Older formats' tables: searches are refused while they are there, and clear()
# (`heritage reindex --clear`) drops them, with their sequences.
FORMER_TABLES = (
    "search_documents_v2",
    "search_documents_v3",
    "search_facet_names_v3",
    "search_facet_values_v3",
)
FACET_SHIFT = 32
MAX_POSITION = 16_383  # PostgreSQL's largest lexeme position
MAX_POSITIONS = 256  # and most positions of one lexeme
GROUP_GAP = 100  # positions between groups, so that no phrase spans two fields
WEIGHTS = dict(zip(GROUPS, "ABCD", strict=True))
RANK_WEIGHTS = "{0.25, 0.45, 0.7, 1.0}"  # D, C, B, A, as ts_rank takes them
MAX_FUZZY_EXPANSIONS = 20
BUILD_MEMORY = "256MB"  # the server's, for making an index after a rebuild

# The documents' indexes besides the key: a rebuild from scratch makes them after
# loading the rows (far quicker than keeping them up to date row by row).
_SEARCH_INDEXES = {
    "terms": "USING gin (terms)",
    "fterms": "USING gin (fterms)",
    "facets": "USING gin (facet_ids)",
    "suggest": "USING gin (suggest_words)",
    "workspace": "(workspace_id)",
    "years": "(year_from, year_to)",
    "updated": "(updated)",
    "title": "(title_key)",
}
# Each facet's value ids once more in a column of its own: counting a facet then
# reads its own few ids per match, not all of them (``facet_ids``, which filters).
FACET_COLUMNS_DDL = ", ".join(f"f_{name} bigint[]" for name in FACETS)
_FACET_COLUMNS = ", ".join(f"f_{name}" for name in FACETS)
# Run once, when the documents' table is not there yet.
_CREATE_DOCUMENTS = [
    # the small columns first: they are what counting a match reads
    f"""CREATE TABLE {TABLE} (
        record_uuid varchar(36) PRIMARY KEY,
        workspace_id integer NOT NULL,
        year_from integer,
        year_to integer,
        updated bigint NOT NULL,
        lat double precision,
        lon double precision,
        facet_ids bigint[] NOT NULL,
        {FACET_COLUMNS_DDL},
        title_key text COLLATE "C" NOT NULL,
        terms tsvector NOT NULL,
        fterms tsvector NOT NULL,
        suggest text[] NOT NULL,
        suggest_words tsvector NOT NULL
    )""",
    # What every match is read for stays in the row (``terms`` for ranking, compressed
    # if need be); what only an index or a few rows need goes to TOAST first. Left to
    # PostgreSQL, a long row would send even the key out of line.
    *(
        f"ALTER TABLE {TABLE} ALTER COLUMN {column} SET STORAGE {storage}"
        for column, storage in (
            ("record_uuid", "PLAIN"),
            ("facet_ids", "MAIN"),
            *((f"f_{name}", "MAIN") for name in FACETS),
            ("title_key", "MAIN"),
            ("terms", "MAIN"),
            ("fterms", "EXTERNAL"),
            ("suggest", "EXTERNAL"),
            ("suggest_words", "EXTERNAL"),
        )
    ),
]
# Run by every process before its first statement; each one does nothing if done.
_DDL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch",
    f"""CREATE TABLE IF NOT EXISTS {FACET_NAMES} (
        number smallint PRIMARY KEY,
        facet text NOT NULL UNIQUE
    )""",
    f"CREATE SEQUENCE IF NOT EXISTS {FACET_VALUES}_serial",
    f"""CREATE TABLE IF NOT EXISTS {FACET_VALUES} (
        id bigint PRIMARY KEY,
        facet text NOT NULL,
        value text NOT NULL,
        UNIQUE (facet, value)
    )""",
    *(
        # The maximum in a subquery: an aggregate in the outer SELECT would yield a row
        # even when the WHERE clause filters every row out.
        f"INSERT INTO {FACET_NAMES} (number, facet) "
        f"SELECT (SELECT coalesce(max(number), 0) + 1 FROM {FACET_NAMES}), '{name}' "
        f"WHERE NOT EXISTS (SELECT 1 FROM {FACET_NAMES} WHERE facet = '{name}')"
        for name in FACETS
    ),
    *(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{name} ON {TABLE} {definition}"
        for name, definition in _SEARCH_INDEXES.items()
    ),
    f"CREATE TABLE IF NOT EXISTS {VOCABULARY} (term text PRIMARY KEY)",
    f"CREATE INDEX IF NOT EXISTS {VOCABULARY}_trgm ON {VOCABULARY} USING gin (term gin_trgm_ops)",
]

_UPSERT = f"""
INSERT INTO {TABLE} (
    record_uuid, workspace_id, terms, fterms, facet_ids, {_FACET_COLUMNS},
    year_from, year_to, lat, lon, updated, title_key, suggest, suggest_words
) VALUES (
    :uuid, :workspace_id, CAST(:terms AS tsvector),
    array_to_tsvector(CAST(:fterms AS text[])), CAST(:facet_ids AS bigint[]),
    {", ".join(f"CAST(:f_{name} AS bigint[])" for name in FACETS)},
    :year_from, :year_to, :lat, :lon, :updated, :title_key, CAST(:suggest AS text[]),
    to_tsvector('simple', :suggest_words)
)
ON CONFLICT (record_uuid) DO UPDATE SET
    workspace_id = EXCLUDED.workspace_id, terms = EXCLUDED.terms, fterms = EXCLUDED.fterms,
    facet_ids = EXCLUDED.facet_ids, {", ".join(f"f_{name} = EXCLUDED.f_{name}" for name in FACETS)},
    year_from = EXCLUDED.year_from, year_to = EXCLUDED.year_to, lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, updated = EXCLUDED.updated, title_key = EXCLUDED.title_key,
    suggest = EXCLUDED.suggest, suggest_words = EXCLUDED.suggest_words
"""

# New (facet, value) pairs get their ids; nextval runs only for the pairs not there yet.
_NEW_FACET_VALUES = f"""
INSERT INTO {FACET_VALUES} (id, facet, value)
SELECT (CAST(n.number AS bigint) << {FACET_SHIFT}) + nextval('{FACET_VALUES}_serial'),
       x.facet, x.value
FROM unnest(CAST(:facets AS text[]), CAST(:values AS text[])) AS x(facet, value)
JOIN {FACET_NAMES} n ON n.facet = x.facet
WHERE NOT EXISTS (
    SELECT 1 FROM {FACET_VALUES} v WHERE v.facet = x.facet AND v.value = x.value
)
ON CONFLICT (facet, value) DO NOTHING
"""
_FACET_VALUE_IDS = f"""
SELECT v.facet, v.value, v.id
FROM unnest(CAST(:facets AS text[]), CAST(:values AS text[])) AS x(facet, value)
JOIN {FACET_VALUES} v ON v.facet = x.facet AND v.value = x.value
"""


def facet_value_ids(
    connection: Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The ids of these (facet, value) pairs, for those that have one."""
    if not pairs:
        return {}
    facets, values = [name for name, _ in pairs], [value for _, value in pairs]
    rows = connection.execute(text(_FACET_VALUE_IDS), {"facets": facets, "values": values})
    return {(facet, value): int(id_) for facet, value, id_ in rows}


def terms_vector(document: SearchDocument) -> str:
    """The document's words and stems as one ``tsvector`` literal: a word and its stem
    share a position (phrases match words, single terms match either), weighted by
    group (title A, agents B, context C, body D). One column, one GIN index: the
    planner does not have to combine two."""
    positions: defaultdict[str, list[str]] = defaultdict(list)
    start = 1
    for group in GROUPS:
        words = document.words.get(group, ())
        stems = document.stems.get(group, ())
        weight = WEIGHTS[group]
        end = start + len(words)
        marks = [f"{min(place, MAX_POSITION)}{weight}" for place in range(start, end)]
        for word, stem, mark in zip(words, stems, marks, strict=False):
            positions[word].append(mark)
            if stem != word:
                positions[stem].append(mark)
        start = min(end + GROUP_GAP, MAX_POSITION)
    # folded \w runs only: no quote or backslash to escape
    return " ".join(
        f"'{lexeme}':{','.join(places[:MAX_POSITIONS])}" for lexeme, places in positions.items()
    )


def array_literal(values: Iterable[str]) -> str:
    """``values`` as the text of a PostgreSQL array, each element quoted."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


def _numbered(
    pairs: Iterable[Sequence[str]], ids: dict[tuple[str, str], int]
) -> dict[str, str | None]:
    """A row's facet values as the ids they have in the dictionary: all of them, and
    each facet's apart (None for a facet without values)."""
    by_facet: dict[str, list[int]] = {}
    for facet, value in pairs:
        by_facet.setdefault(facet, []).append(ids[(facet, value)])
    numbered: dict[str, str | None] = {
        f"f_{name}": _id_array(by_facet[name]) if name in by_facet else None for name in FACETS
    }
    numbered["facet_ids"] = _id_array(
        [number for numbers in by_facet.values() for number in numbers]
    )
    return numbered


def _id_array(ids: Iterable[int]) -> str:
    return "{" + ",".join(map(str, sorted(ids))) + "}"


def _row(document: SearchDocument) -> dict[str, Any]:
    point = document.points[0] if document.points else (None, None)
    row: dict[str, Any] = {
        "uuid": document.uuid,
        "workspace_id": document.workspace_id,
        # arrays as literals, made here in the document workers: the driver's array
        # conversion, row by row in the writing process, was most of a rebuild's cost there
        "fterms": array_literal(document.field_terms),
        # numbered when written (the dictionary is in the database)
        "facet_pairs": sorted(
            {(name, value) for name, values in document.facets.items() for value in values}
        ),
        "year_from": document.year_from,
        "year_to": document.year_to,
        "lat": point[0],
        "lon": point[1],
        "updated": document.updated,
        "title_key": document.title_key or "\uffff",
        "suggest": array_literal(document.suggestions),
        "suggest_words": " ".join(" ".join(analysis.words(item)) for item in document.suggestions),
    }
    row["terms"] = terms_vector(document)
    row["vocabulary"] = sorted({word for group in document.words.values() for word in group})
    return row


class _Compiler:
    """A query tree as a SQL condition over the document table ``d``, with parameters."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    @staticmethod
    def lexeme(word: str) -> str:
        return "'" + word + "'"  # folded \w only: nothing to escape

    def _fuzzy(self, word: str, distance: int) -> list[str]:
        rows = self.connection.execute(
            text(
                f"SELECT term FROM {VOCABULARY} WHERE term % :word "
                "AND levenshtein(term, :word) <= :distance "
                "ORDER BY levenshtein(term, :word), term LIMIT :limit"
            ),
            {"word": word, "distance": distance, "limit": MAX_FUZZY_EXPANSIONS},
        ).scalars()
        return sorted({word, *rows})

    def term(self, node: Term) -> str:
        if node.field is not None:
            lexeme = self.lexeme(f"{node.field}:{node.word}")
            tsquery = lexeme + (":*" if node.prefix else "")
            return f"d.fterms @@ CAST({self.param(tsquery)} AS tsquery)"
        if node.prefix:
            return f"d.terms @@ CAST({self.param(self.lexeme(node.word) + ':*')} AS tsquery)"
        if node.fuzzy:
            words = self._fuzzy(node.word, node.fuzzy)
            tsquery = " | ".join(self.lexeme(word) for word in words)
            return f"d.terms @@ CAST({self.param(tsquery)} AS tsquery)"
        forms = " | ".join(self.lexeme(stem) for stem in sorted(analysis.query_stems(node.word)))
        return f"d.terms @@ CAST({self.param(forms)} AS tsquery)"

    def phrase(self, node: Phrase) -> str:
        if node.field is not None:
            return " AND ".join(self.term(Term(word, node.field)) for word in node.words)
        tsquery = " <-> ".join(self.lexeme(word) for word in node.words)
        return f"d.terms @@ CAST({self.param(tsquery)} AS tsquery)"

    def compile(self, node: Node) -> str:
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, Phrase):
            return self.phrase(node)
        if isinstance(node, Not):
            return f"NOT ({self.compile(node.child)})"
        joiner = " OR " if isinstance(node, Or) else " AND "
        return "(" + joiner.join(self.compile(child) for child in node.children) + ")"

    def rank_query(self, node: Node | None) -> str | None:
        """A tsquery of every positive word in all its forms, for ranking."""
        words: list[str] = []

        def collect(item: Node | None) -> None:
            if item is None or isinstance(item, Not):
                return
            if isinstance(item, Term):
                if item.field is None:
                    words.append(item.word)
            elif isinstance(item, Phrase):
                if item.field is None:
                    words.extend(item.words)
            else:
                for child in item.children:
                    collect(child)

        collect(node)
        if not words:
            return None
        forms = " | ".join(
            self.lexeme(form)
            for form in sorted({form for word in words for form in analysis.query_stems(word)})
        )
        return self.param(forms)


class PostgresBackend:
    name = "postgresql"

    def __init__(self, runtime: Runtime) -> None:
        self.engine = runtime.database.engine
        self._ready = False
        self._lock = threading.Lock()

    def _setup(self, connection: Connection) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                # Serialised: two processes creating the same table race otherwise.
                connection.execute(text("SELECT pg_advisory_xact_lock(7418502)"))
                if connection.scalar(text(f"SELECT to_regclass('{TABLE}') IS NULL")):
                    for statement in _CREATE_DOCUMENTS:
                        connection.execute(text(statement))
                for statement in _DDL:
                    connection.execute(text(statement))
                self._ready = True

    def write(
        self, documents: Sequence[SearchDocument], deleted: Sequence[str], *, wait: float = 0
    ) -> None:
        self.write_prepared([_row(document) for document in documents], deleted)

    def write_prepared(
        self, prepared: Sequence[Any], deleted: Sequence[str] = (), *, wait: float = 0
    ) -> None:
        # ``wait`` is for engines with a single writer; PostgreSQL has row locks.
        if not prepared and not deleted:
            return
        with self.engine.begin() as connection:
            self._setup(connection)
            if deleted:
                connection.execute(
                    text(f"DELETE FROM {TABLE} WHERE record_uuid = ANY(:uuids)"),
                    {"uuids": list(deleted)},
                )
            if prepared:
                pairs = sorted({tuple(pair) for row in prepared for pair in row["facet_pairs"]})
                if pairs:
                    connection.execute(
                        text(_NEW_FACET_VALUES),
                        {"facets": [p[0] for p in pairs], "values": [p[1] for p in pairs]},
                    )
                ids = facet_value_ids(connection, pairs)
                rows = [row | _numbered(row["facet_pairs"], ids) for row in prepared]
                connection.execute(text(_UPSERT), rows)
                vocabulary = sorted({word for row in prepared for word in row["vocabulary"]})
                connection.execute(
                    text(
                        f"INSERT INTO {VOCABULARY} (term) SELECT unnest(CAST(:terms AS text[])) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    {"terms": vocabulary},
                )

    @contextmanager
    def bulk(self, *, fresh: bool = False) -> Iterator[BulkWrite]:
        """Many commits in a row (a rebuild); each is a transaction of its own.

        ``fresh`` (into an empty index): the indexes besides the key are made once the
        rows are in. Searches meanwhile read the table without them. If the process
        dies first, the next one to set up makes them."""
        if not fresh:
            yield self.write_prepared
            return
        with self.engine.begin() as connection:
            self._setup(connection)
            for name in _SEARCH_INDEXES:
                connection.execute(text(f"DROP INDEX IF EXISTS {TABLE}_{name}"))
        try:
            yield self.write_prepared
        finally:
            with self.engine.begin() as connection:
                connection.execute(text(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'"))
                for name, definition in _SEARCH_INDEXES.items():
                    connection.execute(
                        text(f"CREATE INDEX IF NOT EXISTS {TABLE}_{name} ON {TABLE} {definition}")
                    )
                connection.execute(text(f"ANALYZE {TABLE}"))  # the planner's figures

    def clear(self) -> None:
        with self.engine.begin() as connection:
            for table in (TABLE, FACET_VALUES, FACET_NAMES, VOCABULARY, *FORMER_TABLES):
                connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
                connection.execute(text(f"DROP SEQUENCE IF EXISTS {table}_serial"))
        self._ready = False

    def close(self) -> None:
        pass

    def _where(
        self,
        compiler: _Compiler,
        request: SearchRequest,
        filter_ids: dict[tuple[str, str], int],
        skip: str | None = None,
    ) -> str:
        workspaces = compiler.param(sorted(request.workspaces))
        if request.query is not None:
            # The words' GIN index finds the matches; the workspaces are checked on the
            # rows. Offered the workspace index, the planner ANDs in a bitmap of most of
            # the table, which costs more than it saves.
            conditions = [f"d.workspace_id + 0 = ANY({workspaces})"]
        else:
            conditions = [f"d.workspace_id = ANY({workspaces})"]
        for name, values in request.filters.items():
            if name != skip and values:
                ids = sorted(
                    filter_ids[(name, value)] for value in values if (name, value) in filter_ids
                )
                conditions.append(f"d.facet_ids && CAST({compiler.param(ids)} AS bigint[])")
        if request.years is not None:
            low, high = request.years
            if high is not None:
                conditions.append(f"d.year_from <= {compiler.param(high)}")
            if low is not None:
                conditions.append(f"d.year_to >= {compiler.param(low)}")
        if request.changed_since is not None:
            conditions.append(f"d.updated >= {compiler.param(request.changed_since)}")
        if request.bbox is not None:
            south, west, north, east = request.bbox
            conditions.append(f"d.lat BETWEEN {compiler.param(south)} AND {compiler.param(north)}")
            if west <= east:
                conditions.append(
                    f"d.lon BETWEEN {compiler.param(west)} AND {compiler.param(east)}"
                )
            else:
                conditions.append(
                    f"(d.lon >= {compiler.param(west)} OR d.lon <= {compiler.param(east)})"
                )
        if request.query is not None:
            conditions.append(compiler.compile(request.query))
        return " AND ".join(conditions)

    @staticmethod
    def _check_format(connection: Connection) -> None:
        """Searching is refused while an older format's table is there: this version
        indexes into new tables, which only a rebuild fills."""
        for table in FORMER_TABLES:
            if connection.scalar(text(f"SELECT to_regclass('{table}') IS NOT NULL")):
                raise ContentUnavailable(
                    f"the search index is in an older format ({table}): rebuild it with "
                    "`heritage reindex --clear`"
                )

    @classmethod
    def _begin_search(cls, connection: Connection, request: SearchRequest) -> None:
        cls._check_format(connection)
        # Enough memory that the matches' bitmap stays exact and the matches stay out of
        # temporary files; no JIT: compiling costs more than these statements run.
        connection.execute(text("SET LOCAL work_mem = '64MB'"))
        connection.execute(text("SET LOCAL jit = off"))
        if request.query is not None:
            # The planner prices an uncommon word like a common one and would scan
            # the table; the GIN index is the way for word queries.
            connection.execute(text("SET LOCAL enable_seqscan = off"))

    def search(self, request: SearchRequest) -> SearchHits:
        """One statement: the matches are found once (a materialised CTE), then counted,
        ranked, grouped by facet and by decade from there."""
        if not request.workspaces:
            return SearchHits(total=0, hits=[])
        with self.engine.begin() as connection:
            self._setup(connection)
            self._begin_search(connection, request)
            chosen = [(name, value) for name, values in request.filters.items() for value in values]
            filter_ids = facet_value_ids(connection, chosen)
            compiler = _Compiler(connection)
            where = self._where(compiler, request, filter_ids)
            # the matches carry what the page is sorted by, the decade and the facets
            sort_key, order = {
                "date": ("d.year_from", "year_from ASC NULLS LAST, record_uuid"),
                "-date": ("d.year_to", "year_to DESC NULLS LAST, record_uuid"),
                "title": ("d.title_key", "title_key ASC, record_uuid"),
                "changed": ("d.updated", "updated DESC, record_uuid"),
            }.get(request.sort, ("", ""))
            if not order:
                rank = compiler.rank_query(request.query)
                if rank is not None:
                    sort_key = (
                        f"ts_rank('{RANK_WEIGHTS}', d.terms, CAST({rank} AS tsquery)) AS score"
                    )
                    order = "score DESC, record_uuid"
                else:
                    sort_key, order = "d.updated", "updated DESC, record_uuid"
            plain = [name for name in request.facets if not request.filters.get(name)]
            parts = [
                "SELECT 'total' AS kind, NULL AS key, count(*) AS n, 0 AS place FROM m",
                # the page first (a top-N sort), then its places
                f"SELECT 'hit', record_uuid, 0, row_number() OVER (ORDER BY {order}) "
                f"FROM (SELECT * FROM m ORDER BY {order} "
                f"LIMIT {compiler.param(request.limit)} OFFSET {compiler.param(request.offset)}) h",
            ]
            if plain:
                parts.append(self._facet_counts(compiler, "m", plain, request.facet_size))
            if request.histogram:
                parts.append(
                    # integer floor: -5 is in decade -10
                    "SELECT 'decade', CAST(year_from - (year_from % 10 + 10) % 10 AS text), "
                    "count(*), 0 FROM m WHERE year_from IS NOT NULL GROUP BY 2"
                )
            statement = (
                "WITH m AS MATERIALIZED (SELECT "
                # once each: the date sort's key is also the decade's year
                + ", ".join(
                    dict.fromkeys(
                        [
                            "d.record_uuid",
                            "d.year_from",
                            sort_key,
                            *(f"d.f_{name}" for name in plain),
                        ]
                    )
                )
                + f" FROM {TABLE} d WHERE {where}) "
                + " UNION ALL ".join(f"({part})" for part in parts)
            )
            rows = connection.execute(text(statement), compiler.params).all()
            answer = SearchHits(total=0, hits=[])
            hits: list[tuple[int, str]] = []
            counted: dict[str, list[tuple[str, int]]] = {name: [] for name in plain}
            for kind, key, count, place in rows:
                if kind == "total":
                    answer.total = int(count)
                elif kind == "hit":
                    hits.append((int(place), str(key)))
                elif kind == "decade":
                    answer.histogram.append((int(key), int(count)))
                else:
                    counted.setdefault(kind[2:], []).append((str(key), int(count)))
            answer.hits = [uuid for _, uuid in sorted(hits)]
            answer.histogram.sort()
            # A facet with a chosen value is counted without its own filter.
            for name in request.facets:
                if name in plain or not answer.total:
                    continue
                facet_compiler = _Compiler(connection)
                facet_where = self._where(facet_compiler, request, filter_ids, skip=name)
                groups = self._facet_counts(
                    facet_compiler, f"{TABLE} d", [name], request.facet_size, facet_where
                )
                found = connection.execute(text(groups), facet_compiler.params).all()
                counted[name] = [(str(value), int(count)) for _, value, count, _ in found]
            for name, values in counted.items():
                values.sort(key=lambda item: (-item[1], item[0]))
                answer.facets[name] = values[: request.facet_size]
            return answer

    @staticmethod
    def _facet_counts(
        compiler: _Compiler, source: str, names: list[str], size: int, where: str = ""
    ) -> str:
        """A SELECT of ('f_' + facet, value, count, 0) over the rows of ``source`` (named
        ``m`` or ``d``, which ``where`` may restrict): the values of the facets ``names``,
        each read from its own column. Every value whose count ranks within ``size``
        comes back, ties too, for the caller to order by count and value and cut."""
        alias = source.split()[-1]
        where_clause = f" WHERE {where}" if where else ""
        values = " UNION ALL ".join(
            f"SELECT unnest({alias}.f_{name}) AS v FROM {source}{where_clause}" for name in names
        )
        return (
            f"SELECT 'f_' || fv.facet, fv.value, c.n, 0 FROM (SELECT v, n, rank() OVER "
            f"(PARTITION BY v >> {FACET_SHIFT} ORDER BY n DESC) AS place FROM "
            f"(SELECT v, count(*) AS n FROM ({values}) x GROUP BY v) g) c "
            f"JOIN {FACET_VALUES} fv ON fv.id = c.v WHERE c.place <= {compiler.param(size)}"
        )

    def locations(self, request: SearchRequest, limit: int) -> list[Location]:
        if not request.workspaces:
            return []
        with self.engine.begin() as connection:
            self._setup(connection)
            self._begin_search(connection, request)
            chosen = [(name, value) for name, values in request.filters.items() for value in values]
            compiler = _Compiler(connection)
            where = self._where(compiler, request, facet_value_ids(connection, chosen))
            rows = connection.execute(
                text(
                    f"SELECT d.record_uuid, d.lat, d.lon FROM {TABLE} d "
                    f"WHERE {where} AND d.lat IS NOT NULL ORDER BY d.updated DESC LIMIT :limit"
                ),
                compiler.params | {"limit": limit},
            ).all()
        return [Location(uuid, float(lat), float(lon)) for uuid, lat, lon in rows]

    def suggest(self, prefix: str, workspaces: frozenset[int], limit: int) -> list[str]:
        folded = analysis.words(prefix)
        if not folded or not workspaces:
            return []
        tsquery = " & ".join([*(f"'{word}'" for word in folded[:-1]), f"'{folded[-1]}':*"])
        with self.engine.begin() as connection:
            self._setup(connection)
            self._check_format(connection)
            rows = connection.execute(
                text(
                    f"SELECT d.suggest FROM {TABLE} d WHERE d.workspace_id = ANY(:workspaces) "
                    "AND d.suggest_words @@ CAST(:query AS tsquery) LIMIT 50"
                ),
                {"workspaces": sorted(workspaces), "query": tsquery},
            ).scalars()
            counts: dict[str, int] = {}
            for suggestions in rows:
                for item in suggestions:
                    item_words = analysis.words(item)
                    if all(word in item_words for word in folded[:-1]) and any(
                        word.startswith(folded[-1]) for word in item_words
                    ):
                        counts[item] = counts.get(item, 0) + 1
        ranked = sorted(counts, key=lambda item: (-counts[item], len(item), item))
        return ranked[:limit]


@register("postgresql", _row)
def _open(runtime: Runtime) -> PostgresBackend:
    return PostgresBackend(runtime)
