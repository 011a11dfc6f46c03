"""Stopping child processes (local model servers, test servers) politely, then firmly."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL; closes its pipes. Safe if already gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
