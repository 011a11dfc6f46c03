"""A Spark standalone cluster on this machine: one master and one or more worker processes.

pip's pyspark ships ``bin/spark-class`` (not ``sbin/start-master.sh``), so both daemons are
started with it, each in its own process group, and stopped together with everything they
spawned (the worker's executor JVMs and their Python workers)::

    with StandaloneCluster(cores=2) as cluster:
        spark = lakeinfer.spark.session(cluster.master_url)
        ...
        spark.stop()

The master binds 127.0.0.1 only. The worker's executors inherit this process's environment,
which is how they get endpoint keys (``api_key_env``) and ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lakeinfer.errors import LakeinferError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(LakeinferError):
    """The standalone cluster did not start in time."""


def spark_home() -> Path:
    """The installed pyspark's directory, which holds ``bin/spark-class``."""
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandaloneCluster:
    """Master + ``workers`` workers on 127.0.0.1; a context manager that always stops them.
    ``cores`` and ``memory`` are per worker."""

    def __init__(
        self,
        cores: int = 2,
        memory: str = "1g",
        start_timeout_s: float = 90.0,
        work_dir: str | os.PathLike[str] | None = None,
        workers: int = 1,
    ):
        self.workers = workers
        self.cores = cores
        self.memory = memory
        self.start_timeout_s = start_timeout_s
        self._tmp = tempfile.TemporaryDirectory(prefix="lakeinfer-spark-")
        self.work_dir = Path(work_dir or self._tmp.name)
        self.port = _free_port()
        self.ui_port = _free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def start(self) -> StandaloneCluster:
        try:
            self._spawn(
                "master",
                MASTER_CLASS,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--webui-port", str(self.ui_port),
            )  # fmt: skip
            self._wait(lambda state: True, "the master to listen")
            for index in range(self.workers):
                role = "worker" if index == 0 else f"worker{index + 1}"
                self._spawn(
                    role,
                    WORKER_CLASS,
                    "--host", "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory,
                    "--webui-port", str(_free_port()),
                    "--work-dir", str(self.work_dir / f"work-{role}"),
                    self.master_url,
                )  # fmt: skip
            self._wait(
                lambda state: state.get("aliveworkers", 0) >= self.workers,
                "the workers to register",
            )
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def worker_processes(self) -> list[subprocess.Popen[bytes]]:
        """The worker daemons (each with its executors in its process group)."""
        return self.processes[1:]

    def kill_worker(self, index: int = 0) -> None:
        """Kill worker ``index`` and everything it started (its executors) at once."""
        process = self.worker_processes[index]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def state(self) -> dict:
        """The master's JSON status (workers, applications)."""
        url = f"http://127.0.0.1:{self.ui_port}/json/"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def _spawn(self, role: str, main_class: str, *args: str) -> None:
        env = {**os.environ, "SPARK_HOME": str(spark_home())}
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        log = open(self.work_dir / f"{role}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), main_class, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
        log.close()
        self.processes.append(process)

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise ClusterError(
                        f"a Spark daemon exited while waiting for {what}; {self._logs()}"
                    )
            try:
                if ready(self.state()):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise ClusterError(
            f"timed out after {self.start_timeout_s:g}s waiting for {what}; {self._logs()}"
        )

    def _logs(self) -> str:
        return f"logs in {self.work_dir}"

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the worker (and its executors), then the master; idempotent."""
        for process in reversed(self.processes):
            _stop_group(process, grace_s)
        self.processes = []

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()


def _stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left
    except ProcessLookupError:
        pass
    process.wait(timeout=grace_s)
