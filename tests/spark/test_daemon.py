"""What the executors' Python processes load: the daemon imports lakeinfer's executor code
once before it forks workers, and a worker that only reads or writes files does not load the
driver's API, the AI functions or DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql.functions import arrow_udf

from lakeinfer.spark.daemon import PRELOAD, prefer_installed_pyspark, preload

ROOT = Path(__file__).parents[2]


def _parent_command(ids: pa.Array) -> pa.Array:
    import os

    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        command = f.read().replace(b"\0", b" ").decode()
    return pa.array([command] * len(ids), pa.string())


def test_python_workers_fork_from_the_preloading_daemon(spark):
    assert spark.conf.get("spark.python.daemon.module") == "lakeinfer.spark.daemon"
    parent = arrow_udf(_parent_command, "string")
    commands = {r[0] for r in spark.range(0, 2, 1, 2).select(parent("id")).collect()}
    assert commands and all("lakeinfer.spark.daemon" in c for c in commands)


def _pyspark_origin(ids: pa.Array) -> pa.Array:
    import pyspark

    return pa.array([pyspark.__file__] * len(ids), pa.string())


def test_workers_import_the_installed_pyspark_not_sparks_source_zip(spark):
    origin = arrow_udf(_pyspark_origin, "string")
    files = {r[0] for r in spark.range(0, 2, 1, 2).select(origin("id")).collect()}
    import pyspark

    assert files == {pyspark.__file__}  # compiled bytecode cached, not pyspark.zip's sources


def _fake_spark_home(root: Path) -> tuple[Path, list[str]]:
    """A package ``pyspark`` under ``root`` with Spark's ``python/lib`` zips inside it."""
    package = root / "pyspark"
    (package / "python" / "lib").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    zips = [str(package / "python" / "lib" / n) for n in ("pyspark.zip", "py4j-src.zip")]
    return package, zips


def test_the_zips_of_the_installed_pyspark_move_behind_the_package(tmp_path):
    _, zips = _fake_spark_home(tmp_path / "site")
    path = [*zips, "/app", str(tmp_path / "site")]
    assert prefer_installed_pyspark(path) == ["/app", str(tmp_path / "site"), *zips]


def test_a_spark_home_of_its_own_keeps_its_zips_first(tmp_path):
    _fake_spark_home(tmp_path / "site")
    other = tmp_path / "opt" / "spark" / "python" / "lib"
    other.mkdir(parents=True)
    path = [str(other / "pyspark.zip"), str(tmp_path / "site")]
    assert prefer_installed_pyspark(path) == path
    no_package = [str(other / "pyspark.zip"), str(tmp_path / "empty")]
    assert prefer_installed_pyspark(no_package) == no_package


def _printed_by(script: str) -> Any:
    """The JSON ``script`` prints, run in a fresh interpreter with this checkout's lakeinfer."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_preload_imports_the_executor_modules_and_skips_what_is_missing():
    script = (
        "import json, sys; from lakeinfer.spark.daemon import preload; "
        "loaded = preload('pyspark.no_such_worker'); "
        "print(json.dumps([loaded, sorted(m for m in sys.modules if m.startswith('lakeinfer.spark'))]))"
    )
    loaded, modules = _printed_by(script)
    assert loaded == list(PRELOAD)  # the missing worker module is left for the task to meet
    assert {"lakeinfer.spark.functions", "lakeinfer.spark.datasource"} <= set(modules)
    assert preload(None)[0] == "pyspark.worker"


def test_reading_and_writing_files_loads_neither_the_driver_api_nor_the_ai_stack():
    script = (
        "import json, sys; import lakeinfer.spark.files, lakeinfer.spark.datasource; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    modules = set(_printed_by(script))
    for heavy in ("lakeinfer.spark.api", "lakeinfer.spark.functions", "lakeinfer.engine", "duckdb"):
        assert heavy not in modules, heavy
