"""The command imports what the command run needs, nothing more: ``--help`` no engine at all,
``sql`` no other command's module, and no benchmark, plotting, evaluation, pipeline, Spark, web
or model runtime code; a statement that calls no model validates no configuration and loads
no Arrow compute kernels, and one that calls no model starts no event loop, opens no response
cache and draws no progress bar."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: Third-party packages no plain SQL statement needs.
HEAVY = ("pandas", "matplotlib", "aiohttp", "torch", "pyspark", "transformers", "starlette")
#: Features whose only module a command line without them loads is their ``cli`` (and the
#: plain-Python modules named here: errors, defaults, grammars, what a package's ``__init__``
#: exports).
FEATURES = ("bench", "evaluation", "pipelines", "serving", "ui", "spark", "forecast")
ALLOWED = {
    "lakeinfer.pipelines.errors",
    "lakeinfer.pipelines.materialized_syntax",  # a grammar: imports only the SQL dialect
    "lakeinfer.serving.defaults",
    "lakeinfer.evaluation.compare",
    "lakeinfer.evaluation.metrics",
}


def _loaded_after(args: list[str], tmp_path: Path) -> set[str]:
    """The modules in ``sys.modules`` after ``lakeinfer ARGS`` ran in a fresh interpreter."""
    script = (
        "import json, sys\n"
        "from lakeinfer.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "sys.stdout.write('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _feature_modules(loaded: set[str]) -> set[str]:
    return {
        name
        for name in loaded
        for feature in FEATURES
        if name.startswith(f"lakeinfer.{feature}.")
        and not name.endswith(".cli")
        and name not in ALLOWED
    }


def _heavy(loaded: set[str], packages: tuple[str, ...]) -> set[str]:
    return {name for name in loaded if name.split(".")[0] in packages}


def test_help_loads_no_engine_and_no_feature(tmp_path: Path) -> None:
    loaded = _loaded_after(["--help"], tmp_path)
    assert not _heavy(loaded, (*HEAVY, "duckdb", "pyarrow", "deltalake", "sqlglot", "numpy"))
    assert not {name for name in loaded if name.startswith("lakeinfer.engine")}
    assert "lakeinfer.session" not in loaded
    assert not _feature_modules(loaded)


def test_sql_loads_no_feature_it_does_not_use(tmp_path: Path) -> None:
    loaded = _loaded_after(["--home", str(tmp_path / "home"), "sql", "SELECT 1"], tmp_path)
    assert "lakeinfer.session" in loaded  # the statement did run
    assert not _heavy(loaded, HEAVY)
    assert not _feature_modules(loaded)
    commands = {name for name in loaded if name.startswith("lakeinfer.cli.")}
    assert commands == {"lakeinfer.cli.common", "lakeinfer.cli.root", "lakeinfer.cli.sql"}
    features_cli = {n for n in loaded if n.startswith("lakeinfer.") and n.endswith(".cli")}
    assert features_cli == {"lakeinfer.cli"}
    # no config.toml: nothing to validate; no model called: no provider built
    assert not _heavy(loaded, ("pydantic", "pydantic_core"))
    assert "lakeinfer.config" not in loaded
    assert "pyarrow.compute" not in loaded
    # no model called: no event loop, response cache or progress bar
    assert not _heavy(loaded, ("asyncio", "sqlite3", "tqdm"))


def test_sql_with_a_config_file_reads_it(tmp_path: Path) -> None:
    """The configuration is still read, and validated, when the lakehouse has one."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[settings]\ncache = false\n")
    loaded = _loaded_after(["--home", str(home), "sql", "SELECT 1"], tmp_path)
    assert {"lakeinfer.config", "pydantic"} <= loaded
