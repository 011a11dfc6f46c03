"""The rule every catalog, schema, table and view name follows, checked before any path is built.

Each name becomes one directory under the lakehouse home, so a name must be exactly one
harmless path component. The rule is Unity Catalog's, plus what keeps the layout intact:

- not empty, and at most 255 bytes in UTF-8 (255 characters for ASCII names; a longer name
  is no valid directory name);
- no ``/``, ``\\`` or ``.`` (path separators, and ``.``/``..`` or hidden names);
- no ``%`` (Delta's storage layer reads a table's location as a URL, so ``%2e%2e`` would
  mean ``..``), and no ``[``, ``]``, ``^`` or ``|`` (not allowed in such a URL);
- no control characters (NUL, newline, tab, ... DEL);
- no leading ``_``: that prefix belongs to the lakehouse's own files (``_delta_log``,
  ``_cache``, ``_checkpoints``, ...), which listings hide.

Everything else (letters of any script, digits, spaces, ``-``, look-alikes of ``/`` or ``.``
such as ``∕`` or ``．``) is a plain character in a directory name and is allowed, as a
backquoted identifier is in Databricks.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from lakeinfer.errors import AnalysisError

#: Longest name, in UTF-8 bytes (Unity Catalog allows 255 characters; file systems 255 bytes).
MAX_NAME_BYTES = 255
NameKind = Literal["catalog", "schema", "table", "view", "function"]
#: Characters no name may contain: path separators, ``.``, and what a location URL forbids.
FORBIDDEN = ("/", "\\", ".", "%", "[", "]", "^", "|")


def name_problem(name: str) -> str | None:
    """Which part of the rule ``name`` breaks, or None when it is a valid name."""
    if not name:
        return "names cannot be empty"
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"names are at most {MAX_NAME_BYTES} bytes long in UTF-8 (this one has {size})"
    for bad in FORBIDDEN:
        if bad in name:
            return f"names cannot contain {bad!r}"
    for char in name:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"names cannot contain control characters (U+{ord(char):04X})"
        if category == "Cs":
            return f"names cannot contain unpaired surrogates (U+{ord(char):04X})"
    if name.startswith("_"):
        return "names cannot start with '_' (reserved for the lakehouse's own files)"
    return None


def check_name(name: str, kind: NameKind) -> str:
    """``name`` if it follows the rule, else :class:`AnalysisError` naming the rule it breaks,
    e.g. ``invalid table name '..': names cannot contain '.'``."""
    problem = name_problem(name)
    if problem is not None:
        raise AnalysisError(f"invalid {kind} name {_shown(name)}: {problem}")
    return name


def is_valid_name(name: str) -> bool:
    """Whether ``name`` follows the rule (entries that do not are never listed)."""
    return name_problem(name) is None


def _shown(name: str) -> str:
    """The name quoted for an error: control characters escaped, very long names cut."""
    text = repr(name)
    return text if len(text) <= 80 else text[:60] + f"...' ({len(name)} characters)"
