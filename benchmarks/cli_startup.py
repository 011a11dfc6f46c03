"""How long the ``lakeinfer`` command takes to answer: ``--help`` and ``sql "SELECT 1"``,
against importing the libraries every statement needs (``import duckdb, deltalake, sqlglot``)
in the same run, so that a loaded machine shows in the ratios rather than in the verdicts.

A fourth line, ``floor``, does by hand the least any ``SELECT 1`` through lakeinfer's stack
does: import those libraries and PyArrow (results are Arrow tables), click and rich (the
command and its table), translate the statement from Databricks SQL to DuckDB with sqlglot,
run it in DuckDB, fetch it as Arrow and print it with rich. The command cannot be faster
than that; what it takes beyond it is lakeinfer's own.

Each round runs the three commands once, in turn, each in a fresh interpreter; the medians of
the rounds are reported, wall time and CPU time (user + system: what a busy machine inflates
less). The lakehouse of ``sql`` is made before the first round. The commands run with Python's
bytecode caches written (``PYTHONDONTWRITEBYTECODE`` unset), as an installed package has them,
so that compiling lakeinfer's sources is not counted in every round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Target, targets_text  # noqa: E402

HELP_TARGET_S = 0.4
SQL_TARGET_S = 0.6
FLOOR = (
    "import click, duckdb, deltalake, pyarrow, sqlglot\n"
    "from rich.console import Console\n"
    "from rich.table import Table\n"
    "query = sqlglot.transpile('SELECT 1', read='databricks', write='duckdb')[0]\n"
    "rows = duckdb.connect().sql(query).to_arrow_table()\n"
    "table = Table(*rows.column_names)\n"
    "table.add_row(*(str(c[0]) for c in rows.columns))\n"
    "Console().print(table)\n"
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``command``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cpu, started = _cpu(), time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - started, _cpu() - cpu


def measure(rounds: int) -> dict[str, dict[str, float]]:
    """Median, min and max wall seconds and median CPU seconds of each command over
    ``rounds`` rounds."""
    with tempfile.TemporaryDirectory() as home:
        commands = {
            "baseline": [sys.executable, "-c", "import duckdb, deltalake, sqlglot"],
            "floor": [sys.executable, "-c", FLOOR],
            "help": [sys.executable, "-m", "lakeinfer", "--help"],
            "sql": [sys.executable, "-m", "lakeinfer", "--home", home, "sql", "SELECT 1"],
        }
        for command in commands.values():  # the lakehouse, bytecode and file caches
            _run(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                wall, used = _run(command)
                times[name].append(wall)
                cpu[name].append(used)
    return {
        name: {
            "median_s": statistics.median(v),
            "min_s": min(v),
            "max_s": max(v),
            "cpu_median_s": statistics.median(cpu[name]),
        }
        for name, v in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--check", action="store_true", help="exit 1 on a missed target")
    args = parser.parse_args()
    figures = measure(args.rounds)
    base = figures["baseline"]["median_s"]
    base_cpu = figures["baseline"]["cpu_median_s"]
    for name in ("floor", "help", "sql"):
        figures[name]["ratio_to_baseline"] = figures[name]["median_s"] / base
        figures[name]["cpu_ratio_to_baseline"] = figures[name]["cpu_median_s"] / base_cpu
    goals = [
        Target("lakeinfer --help", figures["help"]["median_s"], HELP_TARGET_S, True, " s"),
        Target('lakeinfer sql "SELECT 1"', figures["sql"]["median_s"], SQL_TARGET_S, True, " s"),
    ]
    if args.format == "json":
        print(
            json.dumps({"rounds": args.rounds, **figures, "targets": [g.as_dict() for g in goals]})
        )
    else:
        print(
            f"{'command':<46} {'median s':>9} {'min s':>7} {'max s':>7} {'x baseline':>11} "
            f"{'cpu s':>7} {'cpu x base':>11}"
        )
        labels = {
            "baseline": "python -c 'import duckdb, deltalake, sqlglot'",
            "floor": "floor: the libraries doing SELECT 1 by hand",
            "help": "lakeinfer --help",
            "sql": 'lakeinfer sql "SELECT 1"',
        }
        for name, label in labels.items():
            f = figures[name]
            ratio = f"{f['ratio_to_baseline']:.2f}" if "ratio_to_baseline" in f else "1"
            cpu_ratio = f"{f['cpu_ratio_to_baseline']:.2f}" if "ratio_to_baseline" in f else "1"
            print(
                f"{label:<46} {f['median_s']:>9.3f} {f['min_s']:>7.3f} {f['max_s']:>7.3f} "
                f"{ratio:>11} {f['cpu_median_s']:>7.3f} {cpu_ratio:>11}"
            )
        print("\n".join(targets_text(goals)))
    return 1 if args.check and not all(g.passed for g in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
