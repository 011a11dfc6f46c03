"""Runs one task of a job in its own process (so a timeout can stop it for sure).

    python -m lakeinfer.pipelines.task_process < spec.json

The job runner forks tasks from a fork server that has imported lakeinfer once
(:func:`child_main`), which starts a task in a fraction of a second instead of re-importing.

The spec holds ``home``, ``task`` (the task's fields), ``parameters`` and ``base_dir``. Exit
status 0 is success; on failure the last line on stderr is ``error: <message>``.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from lakeinfer.errors import LakeinferError
from lakeinfer.pipelines.jobs import Task, substitute


def run_task(home: str, task: Task, parameters: dict[str, Any], base_dir: Path) -> None:
    """Run ``task`` against the lakehouse at ``home``; raises on failure."""
    import lakeinfer

    where = f"task {task.task_key}"
    os.environ["LAKEINFER_HOME"] = home
    if task.python_script is not None:
        script = base_dir / substitute(task.python_script, parameters, where)
        args = task.parameters
        if isinstance(args, dict):
            args = [x for k, v in args.items() for x in (f"--{k}", str(v))]
        argv = [str(script), *(substitute(str(a), parameters, where) for a in args)]
        sys.argv = argv
        sys.path.insert(0, str(script.parent))
        runpy.run_path(str(script), run_name="__main__")
        return
    with lakeinfer.connect(home, notice=lambda message: None, progress=False) as session:
        if task.sql is not None or task.sql_file is not None:
            text = task.sql if task.sql is not None else (base_dir / task.sql_file).read_text()
            for _ in session.run_script(substitute(text, parameters, where)):
                pass
        elif task.python_function is not None:
            module_name, _, function_name = task.python_function.partition(":")
            sys.path.insert(0, str(base_dir))
            function = getattr(importlib.import_module(module_name), function_name)
            extra = task.parameters if isinstance(task.parameters, dict) else {}
            function(session, **{**parameters, **extra})
        elif task.stream is not None:
            _run_stream(session, task, parameters, base_dir)


def _run_stream(session: Any, task: Task, parameters: dict[str, Any], base_dir: Path) -> None:
    from lakeinfer.catalog.delta_catalog import DeltaCatalog
    from lakeinfer.errors import AnalysisError
    from lakeinfer.pipelines.batch import streamed_table
    from lakeinfer.pipelines.execution import StreamSpec, check_options
    from lakeinfer.pipelines.locations import stream_checkpoint
    from lakeinfer.pipelines.streaming import StreamingQuery, Trigger
    from lakeinfer.sql.parse import parse_statements

    assert task.stream is not None
    where = f"task {task.task_key}"
    stream = task.stream
    limits, skip = check_options({k: str(v).lower() if isinstance(v, bool) else str(v)
                                  for k, v in stream.options.items()})  # fmt: skip
    text = stream.query if stream.query is not None else (base_dir / stream.query_file).read_text()
    statements = parse_statements(substitute(text, parameters, where))
    if len(statements) != 1:
        raise AnalysisError(f"{where}: a stream's query is one SELECT ... FROM STREAM(table)")
    (statement,) = statements
    query, table = streamed_table(statement)
    source = DeltaCatalog.qualify([p.name for p in table.parts], session.namespace)
    target = substitute(stream.target, parameters, where)
    sink = DeltaCatalog.qualify(target.split("."), session.namespace)
    name = None if stream.checkpoint is None else substitute(stream.checkpoint, parameters, where)
    checkpoint = stream_checkpoint(session.catalog.home, sink, source, name)
    if name is not None:
        _adopt_legacy(session.catalog, base_dir / name, checkpoint, sink)
    spec = StreamSpec(source, sink, query, str(checkpoint), limits, skip)
    running = StreamingQuery(session, spec, Trigger.AVAILABLE_NOW, 0.0)
    running.start()
    running.awaitTermination()
    for progress in running.recentProgress:
        print(json.dumps(progress))


def _adopt_legacy(catalog: Any, legacy: Path, checkpoint: Path, sink: Any) -> None:
    """Bring a checkpoint kept next to the job file (where job checkpoints used to live) into
    the lakehouse, if it is this lakehouse's: its batches are in the target table. One made
    against another lakehouse is left alone, and this lakehouse's stream starts afresh."""
    from lakeinfer.pipelines.checkpoint import Checkpoint
    from lakeinfer.pipelines.sink import DeltaSink

    if (checkpoint / "metadata").exists() or not (legacy / "metadata").is_file():
        return
    metadata = Checkpoint(legacy).metadata() or {}
    if metadata.get("sink") != str(sink) or not metadata.get("id"):
        return
    if DeltaSink(catalog, sink, metadata["id"]).committed_version() < 0:
        print(f"checkpoint {legacy} belongs to another lakehouse; not used", flush=True)
        return
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(legacy, checkpoint, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
    print(f"checkpoint {legacy} copied into the lakehouse: {checkpoint}", flush=True)


def child_main(spec: dict[str, Any], log_file: str) -> None:
    """Entry point of a task forked from the job runner's fork server: a session of its own
    (so a timeout can stop the task and what it started), output to ``log_file``."""
    os.setsid()
    descriptor = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (the process's own)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(spec["base_dir"])
    try:
        _main(spec)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def main() -> None:
    _main(json.load(sys.stdin))


def _main(spec: dict[str, Any]) -> None:
    task = Task(**spec["task"])
    try:
        run_task(spec["home"], task, spec["parameters"], Path(spec["base_dir"]))
    except SystemExit as exc:
        if exc.code not in (0, None):
            print(f"error: script exited with status {exc.code}", file=sys.stderr)
            sys.exit(1)
    except Exception as exc:
        traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else ""
        if not isinstance(exc, LakeinferError):  # lakeinfer's own messages stand alone
            message = f"{type(exc).__name__}: {message}"
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
