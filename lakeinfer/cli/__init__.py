"""The ``lakeinfer`` command.

Errors are printed as ``error: ...`` with exit status 1 (a syntax error adds the line at fault
with a caret under the token); ``--debug`` shows the traceback instead. Notices (which model
answered) and progress go to stderr, results to stdout.

:mod:`lakeinfer.cli.common` holds what commands share, :mod:`lakeinfer.cli.root` the group and
the list of modules that register commands into it.
"""

from __future__ import annotations

from lakeinfer.cli.root import main

__all__ = ["main"]
