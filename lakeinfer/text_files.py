"""Reading text a user hands over (a SQL script, a config file, stdin), with errors naming it.

Text is UTF-8 (a leading byte-order mark is dropped). Anything else is an
:class:`~lakeinfer.errors.InputError` that names the file and the first byte that is not
UTF-8, with its offset, instead of a decoding traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from lakeinfer.errors import InputError


def decode(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text; an :class:`InputError` naming ``name`` if it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read {name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of the file at ``path``; an :class:`InputError` naming it when it is
    missing, unreadable or not UTF-8."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"cannot read {os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {os.fspath(path)}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    return decode(data, os.fspath(path))


def read_stream(stream: BinaryIO, name: str) -> str:
    """The UTF-8 text of a byte stream (stdin), named ``name`` in errors."""
    return decode(stream.read(), name)
