"""A Delta table read incrementally: the stream's positions are Delta versions.

A stream starts from a snapshot of the source at one version (all rows that exist then), and
then reads the files each later commit adds. A position is ``(version, file index, row)``: the
next row to read is row ``row`` of file ``index`` of that version's file list (for the starting
version, the snapshot's files in a fixed order; for later versions, the commit's added files in
log order). Lists are deterministic, so a batch is re-read identically after a crash.

Commits that remove data (DELETE, UPDATE, MERGE, overwrite) cannot be streamed as appends: they
raise :class:`StreamingError` unless ``skipChangeCommits`` is set, which ignores such commits
entirely. Commits that only rewrite files (OPTIMIZE, ``dataChange = false``) are skipped. A
commit that changes the schema raises :class:`StreamingError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from lakeinfer.catalog.delta_log import log_directory, read_commit, schema_fields
from lakeinfer.pipelines.errors import StreamingError


@dataclass(frozen=True, order=True)
class Position:
    """The next row to read: row ``row`` of file ``index`` of ``version``."""

    version: int
    index: int = 0
    row: int = 0

    def to_json(self) -> dict[str, int]:
        return {"version": self.version, "index": self.index, "row": self.row}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Position:
        return cls(int(data["version"]), int(data["index"]), int(data["row"]))


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of the source with its size and row count."""

    path: str
    size: int
    rows: int


@dataclass(frozen=True)
class Slice:
    """Rows ``[start, stop)`` of a file at a position."""

    version: int
    index: int
    file: DataFile
    start: int
    stop: int

    @property
    def bytes(self) -> int:
        return self.file.size * (self.stop - self.start) // max(self.file.rows, 1)


@dataclass(frozen=True)
class Limits:
    """Admission control per micro-batch (``None``: no limit). Bytes and files are soft, as in
    Spark: a batch always takes at least one row; a file larger than ``max_bytes`` is split by
    rows in proportion to its size."""

    max_files: int | None = None
    max_bytes: int | None = None
    max_rows: int | None = None


class DeltaSource:
    """Reads the files of one Delta table between two positions."""

    def __init__(
        self, path: Path, display_name: str, start_version: int, skip_change_commits: bool = False
    ):
        self.path = path
        self.name = display_name
        self.start_version = start_version
        self.skip_change_commits = skip_change_commits
        self._files: dict[int, list[DataFile]] = {}
        self._fields: list[tuple[str, str]] | None = None

    # -- versions ------------------------------------------------------------------------
    def latest_version(self) -> int:
        if not log_directory(self.path).is_dir():
            raise StreamingError(f"source table {self.name} no longer exists")
        return DeltaTable(str(self.path)).version()

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(DeltaTable(str(self.path), version=self.start_version).schema().to_arrow())

    def fields(self) -> list[tuple[str, str]]:
        """The source's schema at the starting version."""
        if self._fields is None:
            table = DeltaTable(str(self.path), version=self.start_version)
            self._fields = schema_fields(table.schema().to_json())
        return self._fields

    def files(self, version: int) -> list[DataFile]:
        """The files to read at ``version`` (snapshot files for the starting version)."""
        if version not in self._files:
            if version == self.start_version:
                self._files[version] = self._snapshot_files()
            else:
                self._files[version] = self._commit_files(version)
        return self._files[version]

    def _snapshot_files(self) -> list[DataFile]:
        table = DeltaTable(str(self.path), version=self.start_version)
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        actions.sort(key=lambda a: (a["modification_time"], a["path"]))
        return [self._file(unquote(a["path"]), a["size_bytes"], a["num_records"]) for a in actions]

    def _commit_files(self, version: int) -> list[DataFile]:
        commit = read_commit(self.path, version)
        if commit is None:
            raise StreamingError(
                f"source table {self.name}: the log of version {version} is gone "
                "(cleaned up); restart the stream with a new checkpoint"
            )
        operation = commit.operation
        if commit.mode:
            operation = f"{operation} {commit.mode.upper()}"
        if commit.schema is not None and schema_fields(commit.schema) != self.fields():
            raise StreamingError(
                f"the schema of source table {self.name} changed at version {version} "
                f"({operation}); a stream keeps the schema it started with: restart it "
                "with a new checkpoint location"
            )
        if commit.rewrites_rows:
            if self.skip_change_commits:
                return []
            raise StreamingError(
                f"source table {self.name} has a commit at version {version} ({operation}) "
                "that deletes or rewrites rows; a stream only reads appends. Set the option "
                "skipChangeCommits to true to ignore such commits"
            )
        return [self._file(unquote(a.path), a.size, a.rows) for a in commit.added]

    def _file(self, relative: str, size: int, rows: int | None) -> DataFile:
        if rows is None:
            rows = pq.ParquetFile(self.path / relative).metadata.num_rows
        return DataFile(relative, int(size), int(rows))

    # -- planning and reading --------------------------------------------------------------
    def normalise(self, position: Position, latest: int) -> Position:
        """Skip past the ends of files and versions (so equal positions compare equal)."""
        version, index, row = position.version, position.index, position.row
        while version <= latest:
            files = self.files(version)
            while index < len(files) and row >= files[index].rows:
                index, row = index + 1, 0
            if index < len(files):
                return Position(version, index, row)
            version, index, row = version + 1, 0, 0
        return Position(version, 0, 0)

    def plan(self, start: Position, latest: int, limits: Limits) -> tuple[list[Slice], Position]:
        """The slices of the next batch from ``start`` up to version ``latest`` and the position
        after them; no slices when there is nothing new."""
        position = self.normalise(start, latest)
        slices: list[Slice] = []
        files_taken = bytes_taken = rows_taken = 0
        while position.version <= latest:
            file = self.files(position.version)[position.index]
            available = file.rows - position.row
            take = available
            if limits.max_rows is not None:
                take = min(take, limits.max_rows - rows_taken)
            if limits.max_bytes is not None:
                per_row = max(file.size / max(file.rows, 1), 1e-9)
                take = min(take, int((limits.max_bytes - bytes_taken) / per_row))
            if limits.max_files is not None and files_taken >= limits.max_files:
                take = 0
            if take <= 0:
                if slices:
                    break
                take = 1  # soft limits: a batch always makes progress
            piece = Slice(position.version, position.index, file, position.row, position.row + take)
            slices.append(piece)
            files_taken += 1
            bytes_taken += piece.bytes
            rows_taken += take
            position = self.normalise(
                Position(position.version, position.index, position.row + take), latest
            )
            if take < available:
                break
        return slices, position

    def rows_after(self, position: Position, latest: int) -> int:
        """How many rows up to version ``latest`` are not read yet at ``position``."""
        rows = 0
        here = self.normalise(position, latest)
        while here.version <= latest:
            file = self.files(here.version)[here.index]
            rows += file.rows - here.row
            here = self.normalise(Position(here.version, here.index, file.rows), latest)
        return rows

    def read(self, slices: list[Slice], schema: pa.Schema) -> pa.Table:
        """The rows of ``slices`` in order, as ``schema``."""
        tables = []
        for piece in slices:
            data = pq.read_table(self.path / piece.file.path)
            data = data.slice(piece.start, piece.stop - piece.start)
            tables.append(data.select(schema.names).cast(schema))
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables)


def slices_between(source: DeltaSource, start: Position, end: Position, latest: int) -> list[Slice]:
    """The slices from ``start`` to ``end`` (a recorded batch, re-read after a restart)."""
    slices = []
    position = source.normalise(start, latest)
    while position < end and position.version <= latest:
        file = source.files(position.version)[position.index]
        stop = file.rows
        if (position.version, position.index) == (end.version, end.index):
            stop = end.row
        slices.append(Slice(position.version, position.index, file, position.row, stop))
        position = source.normalise(Position(position.version, position.index, stop), latest)
    return slices
