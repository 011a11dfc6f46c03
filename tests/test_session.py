"""The Python API as a notebook user meets it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import lakeinfer, sys
s = lakeinfer.connect(sys.argv[1])
s.sql("SELECT * FROM nope").show()
"""


def _run(home, **env: str) -> subprocess.CompletedProcess:
    script = home.parent / "notebook.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_an_error_shows_the_callers_line_and_the_message_not_the_engines_frames(home):
    done = _run(home)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lakeinfer.errors.UnknownTableError: table or view not found")
    assert 's.sql("SELECT * FROM nope").show()' in done.stderr
    assert "lakeinfer/engine" not in done.stderr and "lakeinfer/catalog" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 6
    # LAKEINFER_DEBUG keeps every frame
    debug = _run(home, LAKEINFER_DEBUG="1")
    assert "lakeinfer/catalog" in debug.stderr
