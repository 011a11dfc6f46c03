"""Spark's Python daemon, with lakeinfer's executor code imported once, before it forks.

An executor starts one Python daemon (``python -m <daemon module> <worker module>``) and forks
a worker from it whenever a task needs one; a task of a lakeinfer statement needs three at once
(the data source's read, the AI functions, the data source's write), and each fork of PySpark's
own daemon imports pyarrow, PySpark's worker and lakeinfer anew. With
``spark.python.daemon.module`` set to this module (:func:`lakeinfer.spark.session` does) the
daemon imports them once, and every fork starts with them loaded.

The modules preloaded start no thread of their own that could hold a lock when the daemon
forks (the allocators' background threads are fork-safe); if one cannot be imported, the
daemon runs as PySpark's own and the task meets the error as it would have.
"""

from __future__ import annotations

import importlib
import sys

#: what the tasks of a lakeinfer statement load on an executor, besides the worker module
PRELOAD = ("lakeinfer.spark.datasource", "lakeinfer.spark.functions")


def preload(worker_module: str | None) -> list[str]:
    """Import the worker module Spark named and :data:`PRELOAD`; the names imported."""
    names = [worker_module or "pyspark.worker", *PRELOAD]
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - the task that needs it reports the error
            continue
        loaded.append(name)
    return loaded


def main() -> None:
    worker_module = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1].startswith("pyspark") else None
    preload(worker_module)
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
