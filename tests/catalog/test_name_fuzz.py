"""Hundreds of hostile and odd identifiers through the SQL that creates, writes and drops:
each works inside the home or fails naming the rule it breaks, and nothing outside the home
is created or removed."""

from __future__ import annotations

import os
import random
import unicodedata
import uuid
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.errors import LakeinferError

PIECES = [
    "a", "Z", "7", "-", " ", ".", "..", "/", "\\", "\x00", "\n", "\t", "\x1b", "\x7f", "_",
    "\u2215", "\u2044", "\uff0f", "\uff0e", "\u2024", "\u200b", "\u202e", "é", "ß", "İ", "😀",
    "$", "'", '"', "%", "*", "?", ":", "|", "<", ">", "~", "{", "}", "``", ";", "--", "%2e", "[", "]", "^", "#",
]  # fmt: skip
BUILTIN = {"main", "system", "default"}


def expected_problem(name: str) -> str | None:
    """The rule a (lower-cased) name breaks, written out independently of lakeinfer's code."""
    if name == "":
        return "names cannot be empty"
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        return "at most 255 bytes"
    for bad in ("/", "\\", ".", "%", "[", "]", "^", "|"):
        if bad in name:
            return f"names cannot contain {bad!r}"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "names cannot contain control characters"
    if name.startswith("_"):
        return "names cannot start with '_'"
    return None


def identifiers(outside: Path) -> list[str]:
    fixed = [
        "", ".", "..", "...", "../x", "..\\x", "/", "\\", "a/b", "a\\b", "./a", "a/..",
        str(outside), f"{outside}/victim", f"{outside}/new", "/etc", "/tmp", "C:\\Windows",
        "\\\\server\\share", "\x00", "a\x00b", "\n", "\t", "\r", "\x1f", "\x7f", "\x85",
        "\u2215etc", "\uff0e\uff0e", "\u2024\u2024", "\u2044x", "\uff0fx", "\u29f8",
        ".hidden", ".a.writing", "_delta_log", "_cache", "_checkpoints", "_jobs", "__x",
        "x" * 255, "x" * 256, "é" * 127, "é" * 128, "😀" * 63, "😀" * 64, " ", "  lead",
        "trail  ", "name with spaces", "select", "DROP", "CaSe", "a-b", "1", "0x00", "%2e%2e",
        "%2f", "con", "nul", "aux", "a:b", "a*b", "a?b", "a|b", "a<b>", "~", "$HOME",
        "\u200b", "\u202eevil", "e\u0301", "İstanbul", "ǅ", "ﬀ",
    ]  # fmt: skip
    rng = random.Random(20251202)
    generated = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8))) for _ in range(260)]
    names, seen = [], set()
    for name in fixed + generated:
        key = name.lower()
        if key not in seen and key not in BUILTIN:
            seen.add(key)
            names.append(name)
    return names


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def snapshot(root: Path, skip: Path) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for directory, dirs, names in os.walk(root):
        if Path(directory) == skip.parent:
            dirs[:] = [d for d in dirs if d != skip.name]
        for name in dirs + names:
            path = Path(directory) / name
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            content = path.read_bytes() if kind == "file" else b""
            found[str(path.relative_to(root))] = (kind, content)
    return found


def test_hostile_identifiers_never_reach_outside_the_home(tmp_path: Path) -> None:
    home = tmp_path / "lakehouse"
    outside = tmp_path / "outside"
    (outside / "victim" / "t" / "_delta_log").mkdir(parents=True)
    (outside / "victim" / "t" / "_delta_log" / "00000000000000000000.json").write_text("{}")
    (outside / "victim" / "notes.txt").write_text("precious")
    (tmp_path / "lakehouse-sibling").mkdir()
    escape = tmp_path.parent / f"li-fuzz-{uuid.uuid4().hex}"
    names = identifiers(outside) + [str(escape)]
    assert len(names) >= 200
    before = snapshot(tmp_path, skip=home)
    worked = refused = 0
    with lakeinfer.connect(home, progress=False) as s:
        for name in names:
            q = quoted(name)
            problem = expected_problem(name.lower())
            statements = [
                f"CREATE CATALOG IF NOT EXISTS {q}",
                f"CREATE SCHEMA {q}.{q}",
                f"CREATE TABLE {q}.{q}.{q} (id INT)",
                f"INSERT INTO {q}.{q}.{q} VALUES (1), (2)",
                f"CREATE TABLE main.default.{q} AS SELECT 3 AS id",
                f"INSERT INTO main.default.{q} SELECT id FROM {q}.{q}.{q}",
                f"DROP TABLE {q}.{q}.{q}",
                f"DROP SCHEMA {q}.{q} CASCADE",
                f"DROP CATALOG {q} CASCADE",
            ]
            if problem is None:
                for sql in statements:
                    s.sql(sql)
                rows = s.sql(f"SELECT sum(id) AS total FROM main.default.{q}").to_pylist()
                assert rows == [{"total": 6}], name
                s.sql(f"DROP TABLE main.default.{q}")
                worked += 1
                continue
            statements += [
                f"CREATE TABLE main.{q}.t (id INT)",
                f"DROP SCHEMA main.{q} CASCADE",
                f"DROP TABLE main.default.{q}",
                f"CREATE VIEW main.default.{q} AS SELECT 1 AS id",
                f"VACUUM main.default.{q}",
                f"SHOW TABLES IN main.{q}",
                f"USE {q}",
            ]
            for sql in statements:
                with pytest.raises(LakeinferError) as caught:
                    s.sql(sql)
                message = str(caught.value)
                assert "invalid " in message and problem in message, (sql, message)
            refused += 1
        assert s.sql("SHOW TABLES IN main.default").to_pylist() == []
    assert worked >= 50 and refused >= 100, (worked, refused)
    assert snapshot(tmp_path, skip=home) == before
    assert not escape.exists()
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith("_")) == ["main"]
