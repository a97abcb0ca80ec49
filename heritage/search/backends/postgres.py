"""The PostgreSQL search backend: full text in the instance's own database.

For instances with several application servers, which share the database but
not a disk. The analysed words and stems (``analysis.py``) go into two
``tsvector`` columns through the ``simple`` configuration, weighted by group
(title A, agents B, context C, body D), so PostgreSQL only stores and matches
terms; field terms (``creator:rembrandt``) are a third ``tsvector`` of verbatim
lexemes. Fuzzy words are looked up in a vocabulary with ``pg_trgm`` and
``fuzzystrmatch`` (both trusted extensions, created on first use).

Query words are folded ``\\w`` runs (``query.py``), so they never contain the
quote, colon or operator characters of ``tsquery`` syntax; they still travel as
bound parameters, and only the operators are written into the SQL.
"""

# The SQL below is built from constant names (tables, columns, facets) and the
# query tree's operators; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from heritage.search import analysis
from heritage.search.backends import BulkWrite, Location, SearchHits, SearchRequest, register
from heritage.search.documents import FACETS, GROUPS, SearchDocument
from heritage.search.query import Node, Not, Or, Phrase, Term

if TYPE_CHECKING:
    from heritage.runtime import Runtime

TABLE = "search_documents_v2"
VOCABULARY = "search_vocabulary_v2"
MAX_POSITION = 16_383  # PostgreSQL's largest lexeme position
MAX_POSITIONS = 256  # and most positions of one lexeme
GROUP_GAP = 100  # positions between groups, so that no phrase spans two fields
WEIGHTS = dict(zip(GROUPS, "ABCD", strict=True))
RANK_WEIGHTS = "{0.25, 0.45, 0.7, 1.0}"  # D, C, B, A, as ts_rank takes them
MAX_FUZZY_EXPANSIONS = 20

_DDL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        record_uuid varchar(36) PRIMARY KEY,
        workspace_id integer NOT NULL,
        terms tsvector NOT NULL,
        fterms tsvector NOT NULL,
        facet_keys text[] NOT NULL,
        {", ".join(f"f_{name} text[] NOT NULL" for name in FACETS)},
        year_from integer,
        year_to integer,
        lat double precision,
        lon double precision,
        updated bigint NOT NULL,
        title_key text COLLATE "C" NOT NULL,
        suggest text[] NOT NULL,
        suggest_words tsvector NOT NULL
    )""",
    # facets added after the table was first made (their values come with `heritage reindex`)
    *(
        f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS f_{name} text[] NOT NULL DEFAULT '{{}}'"
        for name in ("content_tier", "metadata_tier")
    ),
    f"CREATE INDEX IF NOT EXISTS {TABLE}_terms ON {TABLE} USING gin (terms)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_fterms ON {TABLE} USING gin (fterms)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_facets ON {TABLE} USING gin (facet_keys)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_suggest ON {TABLE} USING gin (suggest_words)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_workspace ON {TABLE} (workspace_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_years ON {TABLE} (year_from, year_to)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_updated ON {TABLE} (updated)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_title ON {TABLE} (title_key)",
    f"CREATE TABLE IF NOT EXISTS {VOCABULARY} (term text PRIMARY KEY)",
    f"CREATE INDEX IF NOT EXISTS {VOCABULARY}_trgm ON {VOCABULARY} USING gin (term gin_trgm_ops)",
]

_UPSERT = f"""
INSERT INTO {TABLE} (
    record_uuid, workspace_id, terms, fterms, facet_keys,
    {", ".join(f"f_{name}" for name in FACETS)},
    year_from, year_to, lat, lon, updated, title_key, suggest, suggest_words
) VALUES (
    :uuid, :workspace_id, CAST(:terms AS tsvector),
    array_to_tsvector(CAST(:fterms AS text[])), CAST(:facet_keys AS text[]),
    {", ".join(f"CAST(:f_{name} AS text[])" for name in FACETS)},
    :year_from, :year_to, :lat, :lon, :updated, :title_key, CAST(:suggest AS text[]),
    to_tsvector('simple', :suggest_words)
)
ON CONFLICT (record_uuid) DO UPDATE SET
    workspace_id = EXCLUDED.workspace_id, terms = EXCLUDED.terms, fterms = EXCLUDED.fterms,
    facet_keys = EXCLUDED.facet_keys,
    {", ".join(f"f_{name} = EXCLUDED.f_{name}" for name in FACETS)},
    year_from = EXCLUDED.year_from, year_to = EXCLUDED.year_to, lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, updated = EXCLUDED.updated, title_key = EXCLUDED.title_key,
    suggest = EXCLUDED.suggest, suggest_words = EXCLUDED.suggest_words
"""


def terms_vector(document: SearchDocument) -> str:
    """The document's words and stems as one ``tsvector`` literal: a word and its stem
    share a position (phrases match words, single terms match either), weighted by
    group (title A, agents B, context C, body D). One column, one GIN index: the
    planner does not have to combine two."""
    positions: dict[str, list[str]] = {}
    start = 1
    for group in GROUPS:
        weight = WEIGHTS[group]
        words = document.words.get(group, ())
        stems = document.stems.get(group, ())
        for offset, (word, stem) in enumerate(zip(words, stems, strict=False)):
            position = min(start + offset, MAX_POSITION)
            for lexeme in {word, stem}:
                found = positions.setdefault(lexeme, [])
                if len(found) < MAX_POSITIONS:
                    found.append(f"{position}{weight}")
        start = min(start + len(words) + GROUP_GAP, MAX_POSITION)
    # folded \w runs only: no quote or backslash to escape
    return " ".join(f"'{lexeme}':{','.join(places)}" for lexeme, places in positions.items())


def _row(document: SearchDocument) -> dict[str, Any]:
    point = document.points[0] if document.points else (None, None)
    row: dict[str, Any] = {
        "uuid": document.uuid,
        "workspace_id": document.workspace_id,
        "fterms": document.field_terms,
        "facet_keys": [
            f"{name}={value}" for name, values in document.facets.items() for value in values
        ],
        "year_from": document.year_from,
        "year_to": document.year_to,
        "lat": point[0],
        "lon": point[1],
        "updated": document.updated,
        "title_key": document.title_key or "\uffff",
        "suggest": document.suggestions,
        "suggest_words": " ".join(" ".join(analysis.words(item)) for item in document.suggestions),
    }
    row["terms"] = terms_vector(document)
    row["vocabulary"] = sorted({word for group in document.words.values() for word in group})
    for name in FACETS:
        row[f"f_{name}"] = document.facets.get(name, [])
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
                connection.execute(text(_UPSERT), list(prepared))
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
        """Many commits in a row (a rebuild); each is a transaction of its own."""
        yield self.write_prepared

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
            connection.execute(text(f"DROP TABLE IF EXISTS {VOCABULARY}"))
        self._ready = False

    def close(self) -> None:
        pass

    def _where(self, compiler: _Compiler, request: SearchRequest, skip: str | None = None) -> str:
        conditions = [f"d.workspace_id = ANY({compiler.param(sorted(request.workspaces))})"]
        for name, values in request.filters.items():
            if name != skip and values:
                keys = [f"{name}={value}" for value in values]
                conditions.append(f"d.facet_keys && CAST({compiler.param(keys)} AS text[])")
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

    def search(self, request: SearchRequest) -> SearchHits:
        """One statement: the matches are found once (a materialised CTE), then counted,
        ranked, grouped by facet and by decade from there."""
        if not request.workspaces:
            return SearchHits(total=0, hits=[])
        with self.engine.begin() as connection:
            self._setup(connection)
            if request.query is not None:
                # The planner prices an uncommon word like a common one and would scan
                # the table; the GIN index is the way for word queries.
                connection.execute(text("SET LOCAL enable_seqscan = off"))
            compiler = _Compiler(connection)
            where = self._where(compiler, request)
            order = {
                "date": "year_from ASC NULLS LAST, record_uuid",
                "-date": "year_to DESC NULLS LAST, record_uuid",
                "title": "title_key ASC, record_uuid",
                "changed": "updated DESC, record_uuid",
            }.get(request.sort)
            score = "0"
            if order is None:
                rank = compiler.rank_query(request.query)
                if rank is not None:
                    score = f"ts_rank('{RANK_WEIGHTS}', d.terms, CAST({rank} AS tsquery))"
                    order = "score DESC, record_uuid"
                else:
                    order = "updated DESC, record_uuid"
            plain = [name for name in request.facets if not request.filters.get(name)]
            columns = ", ".join(f"d.f_{name}" for name in plain)
            parts = [
                "SELECT 'total' AS kind, NULL AS key, count(*) AS n, 0 AS place FROM m",
                "SELECT * FROM (SELECT 'hit', record_uuid, 0, row_number() OVER "
                f"(ORDER BY {order}) FROM m ORDER BY {order} "
                f"LIMIT {compiler.param(request.limit)} OFFSET {compiler.param(request.offset)}) h",
            ]
            for name in plain:
                parts.append(
                    f"SELECT * FROM (SELECT 'f_{name}', value, count(*) AS n, 0 FROM m, "
                    f"unnest(m.f_{name}) AS value GROUP BY value ORDER BY n DESC, value "
                    f"LIMIT {compiler.param(request.facet_size)}) f_{name}"
                )
            if request.histogram:
                parts.append(
                    "SELECT 'decade', CAST(floor(year_from / 10.0) * 10 AS text), count(*), 0 "
                    "FROM m WHERE year_from IS NOT NULL GROUP BY 2"
                )
            statement = (
                f"WITH m AS MATERIALIZED (SELECT d.record_uuid, d.year_from, d.year_to, "
                f"d.title_key, d.updated, {score} AS score"
                f"{', ' + columns if columns else ''} FROM {TABLE} d WHERE {where}) "
                + " UNION ALL ".join(f"({part})" for part in parts)
            )
            rows = connection.execute(text(statement), compiler.params).all()
            answer = SearchHits(total=0, hits=[])
            hits: list[tuple[int, str]] = []
            for kind, key, count, place in rows:
                if kind == "total":
                    answer.total = int(count)
                elif kind == "hit":
                    hits.append((int(place), str(key)))
                elif kind == "decade":
                    answer.histogram.append((int(key), int(count)))
                else:
                    answer.facets.setdefault(kind[2:], []).append((str(key), int(count)))
            answer.hits = [uuid for _, uuid in sorted(hits)]
            answer.histogram.sort()
            for name in plain:
                answer.facets.setdefault(name, [])
                answer.facets[name].sort(key=lambda item: (-item[1], item[0]))
            # A facet with a chosen value is counted without its own filter.
            for name in request.facets:
                if name in plain or not answer.total:
                    continue
                facet_compiler = _Compiler(connection)
                facet_where = self._where(facet_compiler, request, skip=name)
                counted = connection.execute(
                    text(
                        f"SELECT value, count(*) AS n FROM {TABLE} d, unnest(d.f_{name}) AS value "
                        f"WHERE {facet_where} GROUP BY value ORDER BY n DESC, value LIMIT :size"
                    ),
                    facet_compiler.params | {"size": request.facet_size},
                ).all()
                answer.facets[name] = [(str(value), int(count)) for value, count in counted]
            return answer

    def locations(self, request: SearchRequest, limit: int) -> list[Location]:
        if not request.workspaces:
            return []
        with self.engine.begin() as connection:
            self._setup(connection)
            compiler = _Compiler(connection)
            where = self._where(compiler, request)
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
