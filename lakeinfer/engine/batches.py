"""A query's rows as a stream of Arrow record batches with a schema known up front.

Statements that write a table consume the stream batch by batch (one Delta commit at the end),
so memory is bounded by a batch and the requests in flight, not by the table. A query's result
(``SELECT``) reads it all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain

import pyarrow as pa

from lakeinfer.sql.types import conform_batch

#: Rows per batch of a streamed query: large enough that the pause between batches (the last
#: requests of one batch finishing while the next is prepared) is a small share of a batch's
#: time at hundreds of requests in flight, small enough that a batch's requests and answers
#: take tens of megabytes at most.
BATCH_ROWS = 16_384


class RowStream:
    """``schema`` plus an iterator of batches of that schema; consume it once.

    ``close`` releases what produces the batches (DuckDB results, registered relations); it is
    called when the stream is exhausted or fails, and may be called early.
    """

    def __init__(
        self,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        close: Callable[[], None] | None = None,
    ):
        self.schema = schema
        self._batches = iter(batches)
        self._close = close

    @classmethod
    def from_table(cls, table: pa.Table) -> RowStream:
        return cls(table.schema, table.to_batches())

    @classmethod
    def from_iterator(
        cls, batches: Iterator[pa.RecordBatch], close: Callable[[], None] | None = None
    ) -> RowStream:
        """A stream whose schema is the first batch's (``batches`` must yield at least one
        batch, possibly empty); later batches are cast to it."""
        try:
            first = next(batches)
        except BaseException:
            if close is not None:
                close()
            raise
        schema = first.schema
        rest = (conform_batch(batch, schema) for batch in batches)
        return cls(schema, chain([first], rest), close)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self._batches:
                if batch.num_rows:
                    yield batch
        finally:
            self.close()

    def map(
        self, schema: pa.Schema, transform: Callable[[pa.RecordBatch], pa.RecordBatch]
    ) -> RowStream:
        """A stream of ``transform(batch)`` for each batch, declared as ``schema``."""
        return RowStream(schema, (transform(b) for b in self), self.close)

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self), schema=self.schema)

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()


def table_to_batch(table: pa.Table) -> pa.RecordBatch:
    """One batch holding every row of ``table``."""
    batches = table.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return batches[0]
