"""Helpers shared by the benchmarks in this folder (not a public API).

* :class:`Target`: one goal with its measured value and PASS/FAIL;
* :class:`Timer`: wall and process CPU time of a ``with`` block;
* :class:`PinnedFakeServer`: the project's fake OpenAI-compatible server as its own process,
  pinned to one CPU (``sched_setaffinity``), so the client under test never competes with it;
* :func:`run_worker`: runs one measurement in a child process (own interpreter, own CPU set)
  and returns the JSON object the child prints, plus its peak RSS as the kernel counts it;
* the hand-written client loops the benchmarks compare against (:func:`aiohttp_loop`,
  :func:`openai_loop`; the same code as in ``ai_query_http.py``);
* the report and plot plumbing (:func:`targets_text`, :func:`matplotlib_available`).

``ai_query_http.py`` predates this module and keeps its own copies on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeinfer.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """A goal: ``value`` must be ``>= threshold`` (or ``<=`` when ``at_most``)."""

    name: str
    value: float
    threshold: float
    at_most: bool = False
    unit: str = ""

    @property
    def passed(self) -> bool:
        return self.value <= self.threshold if self.at_most else self.value >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "at_most": self.at_most,
            "passed": self.passed,
        }


def targets_text(goals: Iterable[Target]) -> list[str]:
    lines = ["targets:"]
    for goal in goals:
        verdict = "PASS" if goal.passed else "FAIL"
        shown = f"{goal.value:.0f}" if abs(goal.value) >= 100 else f"{goal.value:.3g}"
        lines.append(f"  {goal.name}: {shown}{goal.unit}  {verdict}")
    return lines


class Timer:
    """Wall and process CPU time (all threads) of a ``with`` block."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# -- CPU placement --------------------------------------------------------------------------
def cpu_plan(
    server_cpu: int | None, client_cpus: str = "rest"
) -> tuple[int | None, set[int] | None, str]:
    """Which CPU the server gets and which CPUs the client gets, with a note for the report.

    The server gets ``server_cpu`` alone (``None``: not pinned). ``client_cpus``: ``rest``
    (every other CPU this process may use, so client and server never share a core), ``any``
    (not pinned: the client may also run on the server's CPU), or a list such as ``0`` or
    ``0,2``. A single-CPU machine pins nothing.
    """
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None, f"not pinned: only CPU {available} available"
    notes = []
    if server_cpu is None:
        notes.append("server not pinned")
    else:
        if server_cpu not in available:
            server_cpu = available[-1]
        notes.append(f"server on CPU {server_cpu} (sched_setaffinity)")
    client: set[int] | None
    if client_cpus == "any":
        client = None
        notes.append("client not pinned")
    else:
        if client_cpus == "rest":
            client = {c for c in available if c != server_cpu}
        else:
            client = {int(c) for c in client_cpus.split(",")} & set(available)
            if not client:
                raise ValueError(f"--client-cpus {client_cpus}: none of these CPUs is available")
        notes.append("client on CPUs " + ",".join(map(str, sorted(client))))
    return server_cpu, client, ", ".join(notes)


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, all CPUs (Linux /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(
    max_wait_s: float = 120.0, threshold: float = 0.1, sample_s: float = 2.0
) -> float:
    """Wait (at most ``max_wait_s``) until other processes use under ``threshold`` of the
    machine's CPUs, sampled over ``sample_s``; returns the last busy fraction.

    The benchmarks pin client and server to separate cores and compare CPU times, so a
    compile or test run elsewhere on the machine would skew every figure.
    """
    cpus = len(os.sched_getaffinity(0)) or 1
    deadline = time.monotonic() + max_wait_s
    warned = False
    while True:
        before = machine_cpu_seconds()
        time.sleep(sample_s)
        busy = (machine_cpu_seconds() - before) / (sample_s * cpus)
        if busy < threshold or time.monotonic() > deadline:
            if busy >= threshold:
                print(
                    f"  warning: other processes keep {busy:.0%} of the CPUs busy; the "
                    f"figures will be skewed",
                    file=sys.stderr,
                    flush=True,
                )
            return busy
        if not warned:
            print(
                f"  waiting for the machine to go quiet ({busy:.0%} of the CPUs busy) ...",
                file=sys.stderr,
                flush=True,
            )
            warned = True


#: Other processes used more than this share of the machine's CPU time during a run.
SKEWED = 0.1
#: Runs of one method tried before a skewed one is kept (and marked).
ATTEMPTS = 3


def other_load(result: dict[str, Any], known_cpu_s: float = 0.0) -> None:
    """Add ``other_cpu_s``, ``other_share`` and ``skewed`` to a :func:`run_worker` result:
    the machine's busy CPU time during the run not spent by the worker (and its waited-for
    children) nor ``known_cpu_s`` (e.g. a server's), as a share of all CPUs over the run."""
    other = result["machine_cpu_s"] - result["process_cpu_s"] - known_cpu_s
    result["other_cpu_s"] = max(0.0, other)
    cpus = len(os.sched_getaffinity(0)) or 1
    result["other_share"] = result["other_cpu_s"] / (result["lifetime_s"] * cpus)
    result["skewed"] = result["other_share"] > SKEWED


def until_unskewed(method: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()`` again (``ATTEMPTS`` times in all) while other processes take more than
    ``SKEWED`` of the machine during it; returns the last result."""
    for _ in range(ATTEMPTS):
        result = run()
        if not result["skewed"]:
            break
        print(
            f"  {method}: other processes used {result['other_share']:.0%} of the machine "
            f"during the run; running it again",
            file=sys.stderr,
            flush=True,
        )
    return result


def revision() -> str:
    """The git revision measured, with ``-dirty`` when the working tree has changes."""
    try:
        return (
            subprocess.run(
                ["git", "describe", "--always", "--dirty"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_time_of(pid: int) -> float:
    """User + system seconds of process ``pid`` so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class PinnedFakeServer(FakeOpenAIServer):
    """``lakeinfer.testing.fake_openai`` in its own process without request bodies, optionally
    pinned to one CPU, with a way to read how much CPU it used."""

    def __init__(self, latency_ms: float, cpu: int | None):
        super().__init__(latency_ms, keep_bodies=False, cpu=cpu)

    def cpu_seconds(self) -> float:
        return _cpu_time_of(self.pid)


# -- child processes ------------------------------------------------------------------------
def run_worker(
    script: Path,
    spec: dict[str, Any],
    cpus: set[int] | None,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python script --worker JSON`` and return the object its worker wrote.

    The child is pinned to ``cpus`` (when given) before it starts, so all its threads inherit
    the set; ``env`` is added to its environment. It writes its result as JSON to the file
    named by ``spec["result_path"]`` (added here). Added to that result: ``peak_rss_mib``, the
    child's high-water resident set size as the kernel reports it to the parent on exit
    (``wait4`` rusage ``ru_maxrss``), so nothing the child allocates escapes it, whichever
    thread allocated it; ``process_cpu_s``, its whole CPU time (start-up included);
    ``machine_cpu_s``, the busy CPU time of the whole machine meanwhile; and ``lifetime_s``,
    the child's wall time from start to exit.
    """
    with tempfile.TemporaryDirectory(prefix="lakeinfer-bench-worker-") as tmp:
        result_path = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(script),
            "--worker",
            json.dumps({**spec, "result_path": str(result_path)}),
        ]
        preexec = None
        if cpus:
            pinned = set(cpus)
            preexec = lambda: os.sched_setaffinity(0, pinned)  # noqa: E731
        machine_before, started = machine_cpu_seconds(), time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            preexec_fn=preexec,
            env=None if env is None else {**os.environ, **env},
        )
        deadline = time.monotonic() + timeout_s
        while True:
            finished, status, usage = os.wait4(process.pid, os.WNOHANG)
            if finished:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9
                raise RuntimeError(f"worker {spec.get('method')} ran past {timeout_s:.0f}s; killed")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"worker {spec.get('method')} failed (exit {process.returncode})")
        if not result_path.exists():
            raise RuntimeError(f"worker {spec.get('method')} wrote no result")
        result: dict[str, Any] = json.loads(result_path.read_text())
    result["peak_rss_mib"] = usage.ru_maxrss / 1024.0  # KiB on Linux
    result["process_cpu_s"] = usage.ru_utime + usage.ru_stime
    result["machine_cpu_s"] = machine_cpu_seconds() - machine_before
    result["lifetime_s"] = time.monotonic() - started
    return result


def emit_result(spec: dict[str, Any], result: dict[str, Any]) -> None:
    """What a worker does last, for :func:`run_worker`."""
    Path(spec["result_path"]).write_text(json.dumps(result))


# -- the hand-written client loops ----------------------------------------------------------
async def openai_loop(base_url: str, model: str, texts: list[str], concurrency: int) -> int:
    """``openai.AsyncOpenAI(max_retries=0)`` + ``asyncio.Semaphore``: what users write by hand.
    Returns the number of non-null answers."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(text: str) -> str | None:
        async with semaphore:
            response = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": text}], temperature=0
            )
            return response.choices[0].message.content

    try:
        answers = await asyncio.gather(*(one(t) for t in texts))
    finally:
        await client.close()
    return sum(a is not None for a in answers)


async def aiohttp_loop(base_url: str, model: str, texts: list[str], concurrency: int) -> int:
    """Bare ``aiohttp`` + ``asyncio.Semaphore``: about the best a Python client can do.
    Returns the number of non-null answers."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    url = f"{base_url}/chat/completions"

    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(text: str) -> str | None:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": text}],
                "temperature": 0,
            }
            async with semaphore, http.post(url, json=body) as response:
                response.raise_for_status()
                return (await response.json())["choices"][0]["message"]["content"]

        answers = await asyncio.gather(*(one(t) for t in texts))
    return sum(a is not None for a in answers)
