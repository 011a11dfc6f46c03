"""``read_files('path', format => ..., ...)``: Databricks' file table function on DuckDB's readers.

Formats: ``csv`` (options ``header``, ``sep`` / ``delimiter``, ``quote``, ``escape``,
``dateFormat``, ``timestampFormat``), ``json`` (JSON lines; ``multiLine => true`` for one JSON
array or document per file) and ``parquet``. Without ``format`` the file extension decides. A
directory means every file of that format inside it (recursively); globs work too. As in
Databricks, ``header`` defaults to false for CSV. In a sandboxed session the path must lie
inside the allowed directories before anything is looked at (DuckDB's readers check again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sqlglot import exp

from lakeinfer.errors import AnalysisError


class PathGuard(Protocol):
    """What decides which paths SQL may read (the engine's sandbox)."""

    def check(self, path: str, what: str) -> None:
        """Raise when ``what`` may not read ``path``."""


FORMATS = ("csv", "json", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: Databricks option -> (DuckDB reader option, formats it applies to)
_OPTIONS = {
    "header": ("header", ("csv",)),
    "sep": ("delim", ("csv",)),
    "delimiter": ("delim", ("csv",)),
    "quote": ("quote", ("csv",)),
    "escape": ("escape", ("csv",)),
    "dateformat": ("dateformat", ("csv", "json")),
    "timestampformat": ("timestampformat", ("csv", "json")),
    "nullvalue": ("nullstr", ("csv",)),
}


def is_read_files(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == "read_files"


def translate_read_files(call: exp.Anonymous, sandbox: PathGuard | None = None) -> exp.Expression:
    """The DuckDB reader call equivalent to one ``read_files(...)`` call; ``sandbox``: where
    the path may lie (None: anywhere)."""
    if not call.expressions or not _is_string(call.expressions[0]):
        raise AnalysisError(
            "read_files needs a path as its first argument, e.g. read_files('data/')"
        )
    path = call.expressions[0].name
    if sandbox is not None:
        sandbox.check(path, "read_files")
    options: dict[str, exp.Expression] = {}
    for argument in call.expressions[1:]:
        if not isinstance(argument, exp.Kwarg):
            raise AnalysisError(
                f"read_files options are named (format => 'csv'), got {argument.sql()}"
            )
        options[argument.this.name.lower()] = argument.expression
    fmt_node = options.pop("format", None)
    fmt = fmt_node.name.lower() if fmt_node is not None else _format_of(path)
    if fmt not in FORMATS:
        raise AnalysisError(
            f"read_files format {fmt!r} is not supported (use one of {', '.join(FORMATS)})"
        )
    source = _source(path, fmt)
    arguments: list[exp.Expression] = [exp.Literal.string(source)]
    multiline = options.pop("multiline", None)
    if fmt == "csv":
        header = options.pop("header", exp.false())
        arguments.append(_named("header", header))
    if fmt == "json":
        multi = multiline is not None and _truthy(multiline)
        arguments.append(
            _named("format", exp.Literal.string("auto" if multi else "newline_delimited"))
        )
    for name, value in options.items():
        if name in ("inferschema", "mode", "header"):
            # DuckDB always infers; malformed rows raise (Databricks' FAILFAST); header is
            # meaningful for CSV only
            continue
        mapped = _OPTIONS.get(name)
        if mapped is None or fmt not in mapped[1]:
            raise AnalysisError(f"read_files option {name!r} is not supported for {fmt}")
        arguments.append(_named(mapped[0], value))
    reader = {"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}[fmt]
    return exp.Anonymous(this=reader, expressions=arguments)


def _named(name: str, value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=exp.column(name), expression=value.copy())


def _truthy(node: exp.Expression) -> bool:
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    return node.name.lower() == "true"


def _is_string(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _format_of(path: str) -> str:
    suffix = Path(path.rstrip("/*")).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if Path(path).is_dir():
        found = {_EXTENSIONS.get(p.suffix.lower()) for p in Path(path).rglob("*") if p.is_file()}
        found.discard(None)
        if len(found) == 1:
            return found.pop()  # type: ignore[return-value]
    raise AnalysisError(
        f"read_files cannot tell the format of {path!r}; add format => 'csv' | 'json' | 'parquet'"
    )


def _source(path: str, fmt: str) -> str:
    """A directory becomes a recursive glob over its files of that format."""
    if any(ch in path for ch in "*?["):
        return path
    location = Path(path)
    if location.is_dir():
        suffixes = [s for s, f in _EXTENSIONS.items() if f == fmt]
        files = [p for p in location.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
        if not files:
            raise AnalysisError(f"read_files: no {fmt} files in {path!r}")
        return str(location / "**" / f"*{files[0].suffix}")
    if not location.exists():
        raise AnalysisError(f"read_files: no such file or directory: {path!r}")
    return path
