"""The file-system steps the catalog relies on: a rename that never replaces its target, and
staging directories that a crash leaves behind but no live writer ever loses.

A new table (or view) is written under a hidden staging name in its schema directory and
renamed to its own name in one step that fails if the name is taken, so of several writers
creating one name exactly one wins and the others' work is discarded whole. A staging
directory ``.<id>.writing`` is guarded by an exclusive ``flock`` on ``.<id>.writing.lock``,
taken before the directory exists and released only after it was renamed or removed; a
staging directory whose lock nobody holds is a crashed writer's leftover, safe to delete.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STAGING_SUFFIX = ".writing"
LOCK_SUFFIX = ".lock"
#: Serialises check-and-rename where the system has no no-replace rename.
CREATE_LOCK = ".lakeinfer-create.lock"
#: A lock file whose staging directory is gone is removed once it is this old (a writer
#: killed between its rename and the lock file's removal leaves one).
_STRAY_LOCK_SECONDS = 3600
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class OutsideError(ValueError):
    """A path that, once every link is followed, is not strictly inside the directory it
    must stay in."""

    def __init__(self, path: Path | str, resolved: Path, root: Path):
        super().__init__(f"{path} resolves to {resolved}, outside {root}")
        self.path, self.resolved, self.root = path, resolved, root


def contained(root: Path, path: Path | str) -> Path:
    """``root / path`` after checking that it lies strictly below ``root`` once every link
    (and any ``..``) is resolved; :class:`OutsideError` otherwise. ``path`` may be relative
    to ``root`` or absolute: an absolute one is checked the same way."""
    candidate = root / path
    top = root.resolve()
    resolved = candidate.resolve()
    if resolved == top or not resolved.is_relative_to(top):
        raise OutsideError(path, resolved, top)
    return candidate


def _load_renameat2():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def rename_no_replace(source: Path, target: Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists (a file, a directory, even an
    empty one); returns False, leaving both as they were, when it does.

    Linux: one ``renameat2(..., RENAME_NOREPLACE)``. Elsewhere, or on a file system without
    it: the check and the rename under an exclusive lock of the target's directory.
    """
    if _renameat2 is not None:
        done = _renameat2(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if done == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    return rename_locked(source, target)


def rename_locked(source: Path, target: Path) -> bool:
    """:func:`rename_no_replace` for systems without an atomic no-replace rename."""
    if fcntl is None:  # pragma: no cover - Windows: os.rename never replaces
        try:
            os.rename(source, target)
        except FileExistsError:
            return False
        return True
    with _locked(target.parent / CREATE_LOCK, create=True, blocking=True):
        if os.path.lexists(target):
            return False
        os.rename(source, target)
        return True


@contextlib.contextmanager
def staging(parent: Path) -> Iterator[Path]:
    """A new, locked, hidden staging directory in ``parent`` for the block; whatever of it is
    not renamed away by the end of the block is removed."""
    name = f".{uuid.uuid4().hex}{STAGING_SUFFIX}"
    lock = parent / (name + LOCK_SUFFIX)
    with _locked(lock, create=True, blocking=True):
        path = parent / name
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            lock.unlink(missing_ok=True)  # before the lock is released: see sweep()


def is_staging(name: str) -> bool:
    """Whether a schema directory's entry ``name`` is a staging directory or its lock file."""
    return name.startswith(".") and (
        name.endswith(STAGING_SUFFIX) or name.endswith(STAGING_SUFFIX + LOCK_SUFFIX)
    )


def is_own_file(name: str) -> bool:
    """Whether ``name`` is one of the catalog's own files in a schema directory."""
    return is_staging(name) or name == CREATE_LOCK


def sweep(parent: Path) -> list[Path]:
    """Remove the staging directories in ``parent`` that no live writer holds (leftovers of a
    killed statement); returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry.is_symlink() or not entry.name.startswith("."):
            continue
        if entry.name.endswith(STAGING_SUFFIX) and entry.is_dir():
            lock = entry.with_name(entry.name + LOCK_SUFFIX)
            with _locked(lock, create=False, blocking=False) as held:
                if held is False:
                    continue  # a live writer
                shutil.rmtree(entry, ignore_errors=True)
                lock.unlink(missing_ok=True)
                removed.append(entry)
        elif entry.name.endswith(STAGING_SUFFIX + LOCK_SUFFIX):
            staged = entry.with_name(entry.name[: -len(LOCK_SUFFIX)])
            if not staged.exists() and _age(entry) > _STRAY_LOCK_SECONDS:
                with _locked(entry, create=False, blocking=False) as held:
                    if held:
                        entry.unlink(missing_ok=True)
    return removed


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


@contextlib.contextmanager
def _locked(path: Path, *, create: bool, blocking: bool) -> Iterator[bool | None]:
    """Hold an exclusive ``flock`` on ``path`` for the block. Yields True when held, False
    when another process holds it (only without ``blocking``), None when ``path`` does not
    exist (only without ``create``) or the system has no ``flock``."""
    if fcntl is None:  # pragma: no cover - Windows
        yield None
        return
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | (os.O_CREAT if create else 0)
    try:
        descriptor = os.open(path, flags, 0o644)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)
