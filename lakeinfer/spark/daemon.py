"""Spark's Python daemon, with lakeinfer's executor code imported once, before it forks.

An executor starts one Python daemon (``python -m <daemon module> <worker module>``) and forks
a worker from it whenever a task needs one; a task of a lakeinfer statement needs three at once
(the data source's read, the AI functions, the data source's write), and each fork of PySpark's
own daemon imports pyarrow, PySpark's worker and lakeinfer anew. With
``spark.python.daemon.module`` set to this module (:func:`lakeinfer.spark.session` does) the
daemon imports them once, and every fork starts with them loaded.

Spark puts ``$SPARK_HOME/python/lib/pyspark.zip`` first on its Python workers' path. Where
PySpark is installed as a package, that zip holds the same sources as the package, but a zip
keeps no compiled bytecode: every daemon compiles PySpark anew, about a second of CPU. When the
zip is the installed package's own (``SPARK_HOME`` is the package), the daemon moves Spark's
zips to the end of its path and imports the package, whose bytecode is cached; a Spark home of
its own keeps its zips first.

The modules preloaded start no thread of their own that could hold a lock when the daemon
forks (the allocators' background threads are fork-safe); if one cannot be imported, the
daemon runs as PySpark's own and the task meets the error as it would have.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.machinery import PathFinder

#: what the tasks of a lakeinfer statement load on an executor, besides the worker module
PRELOAD = ("lakeinfer.spark.datasource", "lakeinfer.spark.functions")


def prefer_installed_pyspark(path: list[str]) -> list[str]:
    """``path`` with the zips of Spark's ``python/lib`` moved to its end when they belong to
    the PySpark package installed on it (a pip-installed Spark); ``path`` as it is otherwise."""
    zips = [p for p in path if p.endswith(".zip") and os.sep + "lib" + os.sep in p]
    if not zips:
        return path
    rest = [p for p in path if p not in zips]
    spec = PathFinder.find_spec("pyspark", rest)
    if spec is None or not spec.submodule_search_locations:
        return path
    package = os.path.realpath(list(spec.submodule_search_locations)[0])
    own = os.path.join(package, "python", "lib")
    moved = [p for p in zips if os.path.realpath(os.path.dirname(p)) == own]
    if not moved:
        return path
    return [p for p in path if p not in moved] + moved


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
    sys.path[:] = prefer_installed_pyspark(sys.path)
    preload(worker_module)
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
