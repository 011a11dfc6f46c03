"""lakeinfer tables on a Spark standalone cluster against the embedded engine and delta-rs.

Two measurements, both through the same lakehouse directory, on a cluster of ``--workers``
worker processes (``--cores`` each) on this machine (``StandaloneCluster``):

* ``ai_query CTAS``: ``CREATE TABLE ... AS SELECT id, ai_query('bench', text) FROM src`` over
  ``--rows`` rows of distinct prompts (no response cache), against the fake OpenAI-compatible
  server in its own process answering after ``--latency-ms`` (default 50 ms), with
  ``--in-flight`` requests in flight in total (the embedded engine: all in one process; Spark:
  split evenly over the Python workers, one per core). ``lakeinfer sql`` against
  ``lakeinfer sql --spark MASTER``; rows/s is taken from the statement's own time (the
  summary line), so JVM start-up is not counted; wall time is reported beside it.
* ``copy``: a plain read/write of a ``--copy-rows``-row table (id, text, value): the lakeinfer
  data source on the cluster (``spark.read.format("lakeinfer")`` then ``df.write``, Spark
  start-up untimed) against delta-rs alone in one process (``write_deltalake`` of the source's
  dataset, streamed).

While each runs, the resident memory and CPU time of every process is sampled from ``/proc``
(4 times a second) and reported per role: the driver (the ``lakeinfer`` process and its JVM),
each worker's executor (its JVM and Python workers), and the embedded engine's one process.
Also timed: the driver's single commit of N add actions (delta-rs' transaction API), which
bounds how far adding workers helps. Each run checks the rows it wrote.

    python benchmarks/spark_lakehouse.py                      # --rows 2000 --copy-rows 200000
    python benchmarks/spark_lakehouse.py --rows 100000 --copy-rows 1000000   # the full sizes
    python benchmarks/spark_lakehouse.py --rows 2000 --copy-rows 0   # the CTAS only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.spark.cluster import StandaloneCluster
from lakeinfer.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")


# -- process sampling -----------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(root: int, tree: dict[int, list[int]]) -> list[int]:
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def _rss_and_cpu(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0
    return pages * PAGE_KIB / 1024.0, (int(fields[11]) + int(fields[12])) / TICKS


class Sampler:
    """Peak resident memory (MiB) and CPU seconds of process trees, per named role; a role's
    memory is the sum over its processes at one instant, its peak the highest such sum."""

    def __init__(self, roots: dict[str, int], every_s: float = 0.25):
        self.roots = roots
        self.every_s = every_s
        self.peak_mib = dict.fromkeys(roots, 0.0)
        self.peak_process_mib = dict.fromkeys(roots, 0.0)
        self.cpu_s: dict[str, dict[int, float]] = {role: {} for role in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def add_root(self, role: str, pid: int) -> None:
        self.roots[role] = pid
        self.peak_mib.setdefault(role, 0.0)
        self.peak_process_mib.setdefault(role, 0.0)
        self.cpu_s.setdefault(role, {})

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _children()
            for role, root in list(self.roots.items()):
                total = 0.0
                for pid in _descendants(root, tree):
                    rss, cpu = _rss_and_cpu(pid)
                    total += rss
                    self.peak_process_mib[role] = max(self.peak_process_mib[role], rss)
                    if cpu:
                        self.cpu_s[role][pid] = cpu
                self.peak_mib[role] = max(self.peak_mib[role], total)
            self._stop.wait(self.every_s)

    def report(self) -> dict[str, dict[str, float]]:
        return {
            role: {
                "peak_mib": round(self.peak_mib[role], 1),
                "peak_process_mib": round(self.peak_process_mib[role], 1),
                "cpu_s": round(sum(self.cpu_s[role].values()), 1),
            }
            for role in self.roots
        }


# -- runs -----------------------------------------------------------------------------------
def run_cli(home: Path, sql: str, master: str | None, sampler: Sampler) -> dict[str, Any]:
    """``lakeinfer sql`` (with ``--spark`` when ``master``) as a child; its summary line's
    seconds and the wall time."""
    command = [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "sql"]
    if master:
        command += ["--spark", master]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, sql],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    sampler.add_root("driver" if master else "embedded", process.pid)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"lakeinfer sql failed: {err[-2000:]}")
    seconds = None
    for line in err.splitlines():
        found = re.search(r"ai: .* ([0-9.]+)s$", line)
        if found:
            seconds = float(found.group(1))
    return {"wall_s": round(wall, 2), "statement_s": seconds, "stdout": out}


SPARK_COPY = """
import sys, time
import lakeinfer.spark
spark = lakeinfer.spark.session(sys.argv[1], "lakeinfer-bench-copy")
started = time.perf_counter()
(spark.read.format("lakeinfer").option("home", sys.argv[2]).load("main.default.big")
    .write.format("lakeinfer").option("home", sys.argv[2]).save("main.default.big_copy"))
print(time.perf_counter() - started)
spark.stop()
"""


def copy_on_spark(home: Path, master: str, sampler: Sampler) -> dict[str, Any]:
    """Read ``big`` and write ``big_copy`` through the data source; Spark start-up untimed."""
    process = subprocess.Popen(
        [sys.executable, "-c", SPARK_COPY, master, str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    sampler.add_root("driver", process.pid)
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the Spark copy failed: {err[-2000:]}")
    return {"seconds": round(float(out.strip().splitlines()[-1]), 2)}


def make_source(home: Path, rows: int, name: str) -> None:
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(
            f"CREATE TABLE {name} AS SELECT id, 'Summarize review number ' || id AS text, "
            f"id * 0.5 AS value FROM range({rows})"
        )


def commit_cost(home: Path, counts: list[int]) -> dict[int, float]:
    """Seconds the driver's one commit of N add actions takes (files written beforehand)."""
    from lakeinfer.spark import tables
    from lakeinfer.spark.files import WritePlan, write_files

    costs = {}
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE commit_bench (id BIGINT)")
    table = tables.resolve("main.default.commit_bench", str(home))
    for count in counts:
        target = tables.plan_write(table, pa.schema([("id", pa.int64())]), overwrite=False)
        files = []
        for task in range(count):
            batch = pa.record_batch({"id": pa.array([task], pa.int64())})
            files += write_files(WritePlan(target.directory, target.schema), [batch], task)
        started = time.perf_counter()
        tables.commit(target, files)
        costs[count] = round(time.perf_counter() - started, 3)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--copy-rows", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="per worker")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    slots = args.workers * args.cores
    result: dict[str, Any] = {"args": vars(args)}

    with tempfile.TemporaryDirectory(prefix="lakeinfer-bench-spark-") as tmp:
        home = Path(tmp) / "lakehouse"
        make_source(home, args.rows, "src")
        copying = args.copy_rows > 0
        if copying:
            make_source(home, args.copy_rows, "big")
        with FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False) as server:
            embedded_config = LakeinferConfig(
                endpoints={
                    "bench": make_endpoint(
                        base_url=server.base_url, model="bench", max_concurrency=args.in_flight
                    )
                },
                settings={"cache": False},
            )
            save_config(home, embedded_config)
            ctas = "CREATE TABLE {t} AS SELECT id, ai_query('bench', text) AS r FROM src"
            with Sampler({}) as sampler:
                embedded = run_cli(home, ctas.format(t="out_embedded"), None, sampler)
            embedded["memory"] = sampler.report()
            assert server.stats()["chat"] == args.rows
            server.reset()

            # the same total in flight, split over the Python workers (one per core)
            spark_config = LakeinferConfig(
                endpoints={
                    "bench": make_endpoint(
                        base_url=server.base_url,
                        model="bench",
                        max_concurrency=max(args.in_flight // slots, 1),
                    )
                },
                settings={"cache": False},
            )
            save_config(home, spark_config)
            # the executors inherit this environment: they run this checkout's lakeinfer
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            )
            with StandaloneCluster(
                cores=args.cores, memory="1g", workers=args.workers, start_timeout_s=300
            ) as cluster:
                roots = {f"worker{i + 1}": p.pid for i, p in enumerate(cluster.worker_processes)}
                with Sampler(dict(roots)) as sampler:
                    spark = run_cli(home, ctas.format(t="out_spark"), cluster.master_url, sampler)
                spark["memory"] = sampler.report()
                assert server.stats()["chat"] == args.rows
                if copying:
                    with Sampler(dict(roots)) as sampler:
                        copy = copy_on_spark(home, cluster.master_url, sampler)
                    copy["memory"] = sampler.report()

        src = DeltaTable(str(home / "main/default/src")).to_pyarrow_table().sort_by("id")
        for name in ("out_embedded", "out_spark"):
            out = DeltaTable(str(home / "main/default" / name)).to_pyarrow_table().sort_by("id")
            assert out["id"].equals(src["id"]) and out["r"].null_count == 0
        if copying:
            copied = DeltaTable(str(home / "main/default/big_copy")).to_pyarrow_table()
            assert copied.num_rows == args.copy_rows
            deltars = copy_with_deltars(home, Path(tmp), args.copy_rows)
        result["commit_s_by_files"] = commit_cost(home, [10, 100, 1000])

    for run in (embedded, spark):
        run.pop("stdout", None)
        run["rows_per_s"] = round(args.rows / run["statement_s"], 1) if run["statement_s"] else None
    result["ai_query_ctas"] = {"embedded": embedded, "spark": spark}
    if embedded["rows_per_s"] and spark["rows_per_s"]:
        result["ai_query_ctas"]["spark_over_embedded"] = round(
            spark["rows_per_s"] / embedded["rows_per_s"], 2
        )
    if copying:
        result["copy"] = {"spark": copy, "delta-rs": deltars}
        result["copy"]["spark_over_deltars"] = round(deltars["seconds"] / copy["seconds"], 2)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return
    print(
        f"ai_query CTAS, {args.rows} rows, {args.latency_ms:g} ms server, {args.in_flight} in "
        f"flight; cluster: {args.workers} workers x {args.cores} cores"
    )
    for name, run in (("embedded", embedded), ("spark", spark)):
        print(
            f"  {name:<9} {run['rows_per_s']} rows/s (statement {run['statement_s']} s, "
            f"wall {run['wall_s']} s)"
        )
        for role, figures in run["memory"].items():
            print(f"    {role:<9} {figures}")
    print(f"  spark / embedded: {result['ai_query_ctas'].get('spark_over_embedded')}x")
    if copying:
        print(f"copy of {args.copy_rows} rows")
        print(f"  spark     {copy['seconds']} s")
        for role, figures in copy["memory"].items():
            print(f"    {role:<9} {figures}")
        print(f"  delta-rs  {deltars['seconds']} s  {deltars['memory']['delta-rs']}")
    print(f"driver commit seconds by number of files: {result['commit_s_by_files']}")


def copy_with_deltars(home: Path, tmp: Path, rows: int) -> dict[str, Any]:
    """``big`` copied by delta-rs alone in a process of its own, streamed."""
    script = (
        "import sys, time; from deltalake import DeltaTable, write_deltalake; "
        "t = time.perf_counter(); "
        "write_deltalake(sys.argv[2], DeltaTable(sys.argv[1]).to_pyarrow_dataset()"
        ".scanner().to_reader()); print(time.perf_counter() - t)"
    )
    target = tmp / "deltars_copy"
    with Sampler({}) as sampler:
        process = subprocess.Popen(
            [sys.executable, "-c", script, str(home / "main/default/big"), str(target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        sampler.add_root("delta-rs", process.pid)
        out, _ = process.communicate()
    assert DeltaTable(str(target)).to_pyarrow_table().num_rows == rows
    return {"seconds": round(float(out.strip()), 2), "memory": sampler.report()}


if __name__ == "__main__":
    main()
