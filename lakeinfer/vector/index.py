"""Embedding indexes over a table column, persisted under the lakehouse home.

An index ``c.s.name`` lives in ``<home>/_vector_indexes/c/s/name/``: ``index.json`` (source
table and column, embeddings endpoint, the Delta version it was built from, dimensions),
``rows.parquet`` (the source rows with their vectors) and ``index.usearch`` (an HNSW graph of
the usearch library, cosine metric). Rows whose column is NULL are kept out of the index.

Embeddings are ``ai_query`` requests to the index's endpoint, so they are cached and counted
like any other. When the source table's Delta version differs from the index's, the index is
rebuilt before it is searched: rows whose text was embedded before reuse their vectors, only
new texts are sent to the endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import DEFAULT_TEMPERATURE, AiQueryCall

INDEX_DIR = "_vector_indexes"
VECTOR = "__li_vector"
SCORE = "search_score"
DEFAULT_RESULTS = 10


@dataclass
class IndexInfo:
    """What an index is built from."""

    name: str
    table: str
    column: str
    endpoint: str
    version: int
    rows: int
    dimensions: int


class VectorIndexes:
    """The vector indexes of one lakehouse."""

    def __init__(self, catalog: DeltaCatalog):
        self.catalog = catalog
        self.root = Path(catalog.home) / INDEX_DIR

    def _dir(self, name: TableName) -> Path:
        return self.root / name.catalog / name.schema / name.table

    def exists(self, name: TableName) -> bool:
        return (self._dir(name) / "index.json").is_file()

    def info(self, name: TableName) -> IndexInfo:
        path = self._dir(name) / "index.json"
        if not path.is_file():
            known = ", ".join(i.name for i in self.list()) or "none"
            raise AnalysisError(f"vector index {name} does not exist (indexes: {known})")
        return IndexInfo(**json.loads(path.read_text()))

    def list(self) -> list[IndexInfo]:
        found = sorted(self.root.glob("*/*/*/index.json")) if self.root.is_dir() else []
        return [IndexInfo(**json.loads(p.read_text())) for p in found]

    # -- building ----------------------------------------------------------------------------
    def create(
        self,
        name: TableName,
        table: TableName,
        column: str,
        endpoint: str,
        ai: AiEvaluator,
        *,
        if_not_exists: bool = False,
        replace: bool = False,
    ) -> IndexInfo | None:
        """Build an index of ``table.column``; None when it exists and ``if_not_exists``."""
        if self.exists(name):
            if if_not_exists:
                return None
            if not replace:
                raise AnalysisError(
                    f"vector index {name} already exists (use CREATE OR REPLACE VECTOR INDEX or "
                    "IF NOT EXISTS)"
                )
        if not self.catalog.exists(table):
            raise AnalysisError(f"CREATE VECTOR INDEX: table {table} does not exist")
        if ai.registry.task_of(endpoint) != "embeddings":
            raise AnalysisError(
                f"CREATE VECTOR INDEX: endpoint {endpoint!r} does not serve embeddings"
            )
        schema = self.catalog.dataset(table).schema
        match = [f.name for f in schema if f.name.lower() == column.lower()]
        if not match:
            raise AnalysisError(
                f"CREATE VECTOR INDEX: table {table} has no column {column!r} "
                f"(columns: {', '.join(schema.names)})"
            )
        info = IndexInfo(str(name), str(table), match[0], endpoint, -1, 0, 0)
        return self._build(name, info, ai, previous=None)

    def refresh(self, name: TableName, ai: AiEvaluator, force: bool = False) -> bool:
        """Rebuild ``name`` if its table changed since (or always, with ``force``)."""
        info = self.info(name)
        table = _table_name(info.table)
        if not self.catalog.exists(table):
            raise AnalysisError(f"vector index {name}: its table {info.table} no longer exists")
        if not force and self.catalog.version(table) == info.version:
            return False
        previous = pq.read_table(self._dir(name) / "rows.parquet")
        self._build(name, info, ai, previous=previous)
        return True

    def drop(self, name: TableName, if_exists: bool = False) -> None:
        if not self.exists(name):
            if if_exists:
                return
            self.info(name)  # raises, naming the existing indexes
        shutil.rmtree(self._dir(name))

    def _build(
        self, name: TableName, info: IndexInfo, ai: AiEvaluator, previous: pa.Table | None
    ) -> IndexInfo:
        from usearch.index import Index

        table = _table_name(info.table)
        version = self.catalog.version(table)
        data = self.catalog.dataset(table).to_table()
        if info.column not in data.column_names:
            raise AnalysisError(f"vector index {name}: table {table} lost column {info.column!r}")
        data = data.filter(data.column(info.column).is_valid())
        texts = data.column(info.column).cast(pa.string()).to_pylist()
        known: dict[str, Any] = {}
        if previous is not None:
            for text, vector in zip(
                previous.column(info.column).cast(pa.string()).to_pylist(),
                previous.column(VECTOR).to_pylist(),
                strict=True,
            ):
                known[text] = vector
        new = sorted({t for t in texts if t not in known})
        if new:
            answers = ai.answer(_embedding_call(info.endpoint), pa.array(new, pa.string()))
            known.update(zip(new, answers.to_pylist(), strict=True))
        vectors = [known[t] for t in texts]
        dims = len(vectors[0]) if vectors else info.dimensions
        if any(len(v) != dims for v in vectors):
            raise AnalysisError(
                f"vector index {name}: {info.endpoint!r} gave vectors of mixed size"
            )
        data = data.append_column(VECTOR, pa.array(vectors, pa.list_(pa.float32())))
        directory = self._dir(name)
        staging = directory.with_name(directory.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        pq.write_table(data, staging / "rows.parquet")
        if vectors:
            index = Index(ndim=dims, metric="cos", dtype="f32")
            index.add(np.arange(len(vectors)), np.asarray(vectors, dtype=np.float32))
            index.save(str(staging / "index.usearch"))
        info = IndexInfo(
            str(name), info.table, info.column, info.endpoint, version, len(vectors), dims
        )
        (staging / "index.json").write_text(json.dumps(asdict(info), indent=2))
        if directory.exists():
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old)
        else:
            os.replace(staging, directory)
        return info

    # -- searching ---------------------------------------------------------------------------
    def search(
        self,
        name: TableName,
        ai: AiEvaluator,
        *,
        query_text: str | None = None,
        query_vector: list[float] | None = None,
        num_results: int = DEFAULT_RESULTS,
    ) -> pa.Table:
        """The ``num_results`` rows nearest to the query, most similar first, with their
        cosine similarity as ``search_score`` (DOUBLE). The index is refreshed first if its table
        changed."""
        texts = None if query_text is None else [query_text]
        vectors = None if query_vector is None else [query_vector]
        return self.search_many(name, ai, texts=texts, vectors=vectors, num_results=num_results)[0]

    def search_many(
        self,
        name: TableName,
        ai: AiEvaluator,
        *,
        texts: list[str | None] | None = None,
        vectors: list[list[float] | None] | None = None,
        num_results: int = DEFAULT_RESULTS,
    ) -> list[pa.Table]:
        """:meth:`search` for each of ``texts`` (or ``vectors``): one table per query, in
        order, empty for a NULL query. The distinct texts are embedded in one call."""
        from usearch.index import Index

        self.refresh(name, ai)
        info = self.info(name)
        rows = pq.read_table(self._dir(name) / "rows.parquet")
        if vectors is None:
            assert texts is not None
            distinct = sorted({t for t in texts if t is not None})
            embedded = {}
            if distinct:
                call = _embedding_call(info.endpoint)
                answers = ai.answer(call, pa.array(distinct, pa.string())).to_pylist()
                embedded = dict(zip(distinct, answers, strict=True))
            vectors = [None if t is None else embedded[t] for t in texts]
        for vector in vectors:
            if vector is not None and info.rows and len(vector) != info.dimensions:
                raise AnalysisError(
                    f"vector_search: query_vector has {len(vector)} dimensions, index {name} "
                    f"has {info.dimensions}"
                )
        result = rows.drop_columns([VECTOR])
        empty = result.slice(0, 0).append_column(SCORE, pa.array([], pa.float64()))
        if not info.rows or num_results == 0:
            return [empty for _ in vectors]
        index = Index.restore(str(self._dir(name) / "index.usearch"))
        found = []
        for vector in vectors:
            if vector is None:
                found.append(empty)
                continue
            hits = index.search(np.asarray(vector, dtype=np.float32), min(num_results, len(index)))
            keys = np.asarray(hits.keys, dtype=np.int64)
            scores = 1.0 - np.asarray(hits.distances, dtype=np.float64)
            order = np.argsort(-scores, kind="stable")
            table = result.take(pa.array(keys[order]))
            found.append(table.append_column(SCORE, pa.array(scores[order], pa.float64())))
        return found


def _embedding_call(endpoint: str) -> AiQueryCall:
    return AiQueryCall(
        node=exp.Null(),
        endpoint=endpoint,
        request=exp.Null(),
        parameters={"temperature": DEFAULT_TEMPERATURE},
    )


def _table_name(text: str) -> TableName:
    catalog, schema, table = text.split(".")
    return TableName(catalog, schema, table)
