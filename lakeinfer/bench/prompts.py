"""Prompts for a benchmark, from a file or from a table (name or SQL query).

Files: ``.jsonl`` (one object per line; the ``prompt`` field, else ``column``, else the only
string value) or plain text (one prompt per non-empty line). Tables: the ``column`` given, else
the only string column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lakeinfer.errors import AnalysisError

if TYPE_CHECKING:
    from lakeinfer.session import Session


def load_prompts(session: Session, source: str, column: str | None = None) -> list[str]:
    """The prompts of ``source``: an existing file, else a table name or a SQL query."""
    path = Path(source)
    if path.is_file():
        return _from_file(path, column)
    from lakeinfer.evaluation.compare import load_rows, text_column

    table = load_rows(session, source, "--prompts")
    column = text_column(table, column, f"--prompts {source}")
    prompts = [str(v) for v in table.column(column).to_pylist() if v is not None]
    if not prompts:
        raise AnalysisError(f"--prompts {source}: no non-NULL values in {column!r}")
    return prompts


def _from_file(path: Path, column: str | None) -> list[str]:
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix.lower() != ".jsonl":
            prompts.append(line)
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AnalysisError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        prompts.append(_prompt_of(data, column, f"{path}, line {number}"))
    if not prompts:
        raise AnalysisError(f"{path}: no prompts in the file")
    return prompts


def _prompt_of(data: object, column: str | None, where: str) -> str:
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        raise AnalysisError(f"{where}: expected a JSON object or string")
    for name in (column, "prompt"):
        if name and isinstance(data.get(name), str):
            return data[name]
    strings = [v for v in data.values() if isinstance(v, str)]
    if len(strings) == 1:
        return strings[0]
    raise AnalysisError(f"{where}: no 'prompt' field (name the field with --column)")
