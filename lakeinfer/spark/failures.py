"""A statement's failure on Spark, as one line a user can act on.

Spark reports a failed job as a PySpark exception: the task's Python traceback
(``PythonException``), Spark's own message (``SparkRuntimeException``, ``AnalysisException``,
...), or a Java exception with its stack (``Py4JJavaError``). lakeinfer's statements say what
went wrong in one line, as on the embedded engine: :func:`as_sql_error` keeps the message,
drops the stacks, and redacts it like every message lakeinfer prints.
"""

from __future__ import annotations

import re

from lakeinfer.errors import SqlError
from lakeinfer.redaction import redact

#: the last line of a Python traceback: ``package.module.SomeError: message``
_RAISED = re.compile(r"^(?P<kind>[A-Za-z_][\w.]*(?:Error|Exception|Warning)):\s?(?P<text>.*)$")
#: where Spark's messages start their stacks
_STACKS = ("\nJVM stacktrace:", "\nDriver stacktrace:", "\n\tat ")


def as_sql_error(exc: BaseException) -> SqlError | None:
    """``exc`` as a :class:`SqlError` when Spark raised it (None otherwise)."""
    kind = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("py4j") and kind == "Py4JJavaError":
        java = getattr(exc, "java_exception", None)
        text = str(java.toString()) if java is not None else str(exc)
        return SqlError(f"Spark failed: {redact(_without_stacks(text))}")
    if not module.startswith("pyspark.errors"):
        return None
    text = str(exc)
    if kind == "PythonException":
        raised = _last_raised(text)
        if raised is not None:
            return SqlError(f"a Python worker failed: {redact(raised)}")
    return SqlError(f"Spark failed: {redact(_without_stacks(text))}")


def _without_stacks(text: str) -> str:
    for marker in _STACKS:
        text = text.split(marker, 1)[0]
    return text.strip()


def _last_raised(text: str) -> str | None:
    """The exception a traceback ends with: ``message`` for lakeinfer's own errors (they name
    the problem), ``SomeError: message`` for others."""
    for line in reversed(text.splitlines()):
        found = _RAISED.match(line.strip())
        if found is None:
            continue
        name = found["kind"]
        message = found["text"].strip()
        if name.startswith("lakeinfer."):
            return message
        return f"{name.rsplit('.', 1)[-1]}: {message}"
    return None
