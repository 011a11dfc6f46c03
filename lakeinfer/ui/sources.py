"""Where the workspace finds job runs, streams and reports: one small function per panel.

Each returns plain rows (or an empty list, which the page shows as an empty state with
:data:`EMPTY` explaining how to get something there), so the panels need nothing but these
functions. They read what the pipelines and evaluation tools leave in the lakehouse:

* job runs: the Delta tables ``system.lakeflow.job_runs`` and ``system.lakeflow.job_task_runs``;
* streams: the checkpoints under ``<home>/_checkpoints/<catalog>/<schema>/<table>/`` (and
  ``.../<table>/<name>/``), whether a process runs them (:func:`stream_running`) and their
  status (batches, rows written, lag) from :func:`stream_status`;
* reports: the ``.html`` evaluation and benchmark reports found in the report folders
  (``<home>/_reports`` and those given to ``lakeinfer ui --reports``).
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.output import to_jsonable
from lakeinfer.pipelines.job_runner import JOB_RUNS, TASK_RUNS
from lakeinfer.pipelines.locations import find_checkpoints
from lakeinfer.pipelines.status import stream_status as status_of

JOB_RUNS_TABLE = JOB_RUNS
TASK_RUNS_TABLE = TASK_RUNS
CHECKPOINTS_DIR = "_checkpoints"
REPORTS_DIR = "_reports"
PROC_LOCKS = Path("/proc/locks")
MAX_ROWS = 200

EMPTY = {
    "jobs": "No job runs yet. Run a job with `lakeinfer jobs run job.yml`; its runs and tasks "
    "are recorded in system.lakeflow.job_runs.",
    "streams": "No streams yet. A streaming table (CREATE STREAMING TABLE ... or "
    "`lakeinfer stream`) keeps its checkpoint under <home>/_checkpoints.",
    "batches": "No provider batches yet. With SET lakeinfer.batch_mode = 'on' (or 'auto' for "
    "large writes), a statement sends its requests through the endpoint's batch API; each "
    "batch is recorded under <home>/_batches (also `lakeinfer batches list`).",
    "reports": "No reports yet. `lakeinfer eval` and `lakeinfer bench` write their HTML "
    "reports to <home>/_reports; reports saved elsewhere show up "
    "when the workspace is started with --reports DIR.",
}


# -- provider batches ----------------------------------------------------------------------
def batches(home: Path) -> list[dict[str, Any]]:
    """The recorded provider batches, newest first, as ``lakeinfer batches list`` shows them
    (the status last seen; ``lakeinfer batches status`` asks the provider again)."""
    from lakeinfer.engine.batch_records import BatchRecords

    rows = [record.row() for record in BatchRecords(home)]
    return sorted(rows, key=lambda row: row["created_at"], reverse=True)[:MAX_ROWS]


# -- jobs ----------------------------------------------------------------------------------
def job_runs(catalog: DeltaCatalog, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """The latest job runs, newest first (every column of ``system.lakeflow.job_runs``)."""
    return _newest(catalog, JOB_RUNS_TABLE, limit)


def task_runs(catalog: DeltaCatalog, run_id: str) -> list[dict[str, Any]]:
    """The task attempts of one job run, in the order they started."""
    table = _read(catalog, TASK_RUNS_TABLE)
    if table is None or "run_id" not in table.column_names:
        return []
    table = table.filter(pc.equal(table["run_id"], run_id))
    if "started_at" in table.column_names:
        table = table.sort_by([("started_at", "ascending")])
    return [to_jsonable(row) for row in table.to_pylist()]


# -- streams -------------------------------------------------------------------------------
def stream_checkpoints(home: Path) -> list[tuple[str, Path]]:
    """``(target table, checkpoint folder)`` of every stream checkpoint in the lakehouse."""
    root = home / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = find_checkpoints(home)
    targets = {target for target, _ in found}
    for path in sorted(root.glob("*/*/*")):  # a table's folder without a checkpoint: unreadable
        target = ".".join(path.relative_to(root).parts)
        if path.is_dir() and target not in targets:
            found.append((target, path))
    return sorted(found)


def stream_status(catalog: DeltaCatalog, location: Path) -> dict[str, Any]:
    """Progress and lag of the stream checkpointed at ``location``, as the pipelines package
    reports it."""
    try:
        return dict(status_of(catalog, str(location)))
    except Exception as exc:  # one broken checkpoint must not hide the others
        return {"status": f"unreadable: {exc}"}


def streams(catalog: DeltaCatalog) -> list[dict[str, Any]]:
    """One row per stream: its target table, whether it runs now, and its status (batches,
    rows, lag)."""
    return [
        {
            "target": target,
            "running": stream_running(location),
            **to_jsonable(stream_status(catalog, location)),
        }
        for target, location in stream_checkpoints(catalog.home)
    ]


def stream_running(location: Path, proc_locks: Path = PROC_LOCKS) -> bool | None:
    """Whether a process holds the checkpoint's lock (a running stream holds ``<checkpoint>/
    .lock`` with ``flock`` for as long as it runs). Read from the kernel's lock table, so the
    check never takes the lock itself; None where that table cannot be read."""
    lock = location / ".lock"
    if not lock.exists():
        return False
    try:
        table = proc_locks.read_text()
    except OSError:
        return None
    inode = lock.stat().st_ino
    for line in table.splitlines():
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF" (blocked waiters have "->")
        if "FLOCK" in parts and "->" not in parts and len(parts) >= 6:
            device_inode = parts[5].rsplit(":", 1)[-1]
            if device_inode.isdigit() and int(device_inode) == inode:
                return True
    return False


# -- reports -------------------------------------------------------------------------------
def report_dirs(home: Path, extra: list[Path] | tuple[Path, ...] = ()) -> list[Path]:
    """The folders searched for reports: ``<home>/_reports`` then the ones given."""
    return [home / REPORTS_DIR, *extra]


def reports(dirs: list[Path]) -> list[dict[str, Any]]:
    """HTML reports in ``dirs`` (and their sub-folders), newest first: id, title, kind
    (evaluation, benchmark or report), file name, folder, size and modification time."""
    found: dict[str, dict[str, Any]] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.html"):
            ident = report_id(path)
            if ident in found or not path.is_file():
                continue
            stat = path.stat()
            title = _title(path)
            found[ident] = {
                "id": ident,
                "title": title or path.stem,
                "kind": _kind(path, title),
                "file": path.name,
                "folder": str(path.parent),
                "bytes": stat.st_size,
                "modified": stat.st_mtime,
            }
    return sorted(found.values(), key=lambda r: r["modified"], reverse=True)


def report_path(dirs: list[Path], ident: str) -> Path | None:
    """The report file with id ``ident``, only if it lies in one of ``dirs``."""
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.html"):
            if report_id(path) == ident and path.is_file():
                return path
    return None


def report_id(path: Path) -> str:
    """A stable id for a report file (its resolved path, hashed)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


# -- helpers -------------------------------------------------------------------------------
def _read(catalog: DeltaCatalog, name: TableName) -> pa.Table | None:
    if not catalog.exists(name):
        return None
    return catalog.dataset(name).to_table()


def _newest(catalog: DeltaCatalog, name: TableName, limit: int) -> list[dict[str, Any]]:
    table = _read(catalog, name)
    if table is None:
        return []
    if "started_at" in table.column_names:
        table = table.sort_by([("started_at", "descending")])
    return [to_jsonable(row) for row in table.slice(0, limit).to_pylist()]


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _title(path: Path) -> str | None:
    with path.open("rb") as file:
        head = file.read(8192)
    found = _TITLE.search(head)
    if not found:
        return None
    return html.unescape(found.group(1).decode("utf-8", "replace")).strip() or None


def _kind(path: Path, title: str | None) -> str:
    text = f"{path.name} {title or ''}".lower()
    if "eval" in text:
        return "evaluation"
    if "bench" in text:
        return "benchmark"
    return "report"
