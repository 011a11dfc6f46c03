"""A sandboxed session reads files only inside its directories and installs or loads no
extension; every session leaves extension install off."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.engine.sandbox import SqlSandbox, refusal_message
from lakeinfer.errors import LakeinferError


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text("k,v\nkey,hunter2\n")
    return folder


def test_a_sandboxed_session_reads_only_inside_the_lakehouse_and_allowed_dirs(
    home: Path, tmp_path: Path, outside: Path, monkeypatch
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("id,text\n1,fine\n")
    (home / "files").mkdir(parents=True)
    (home / "files" / "in.json").write_text('{"a": 1}\n')
    (home / "files" / "out.csv").symlink_to(outside / "secret.csv")
    monkeypatch.chdir(data)
    with lakeinfer.connect(
        home, progress=False, sandboxed=True, allowed_directories=[data]
    ) as session:
        assert session.sql(f"SELECT * FROM read_files('{home}/files/in.json')").to_pylist() == [
            {"a": 1}
        ]
        assert session.sql("SELECT * FROM read_files('rows.csv', header => true)").to_pylist()
        refused = {
            "SELECT * FROM read_text('/etc/passwd')": "cannot read '/etc/passwd'",
            f"SELECT * FROM read_files('{outside}')": "outside the directories",
            f"SELECT * FROM read_files('{outside}/*.csv')": "outside the directories",
            "SELECT * FROM read_files('../outside/secret.csv')": "outside the directories",
            f"SELECT * FROM read_files('{home}/files/out.csv')": "outside the directories",
            f"SELECT * FROM read_text('{home}/files/out.csv')": "cannot read",
            f"SELECT * FROM read_csv('{data}/../outside/secret.csv')": "cannot read",
            "SELECT * FROM read_files('https://example.com/a.csv')": "may not reach the network",
            "SELECT * FROM read_json('https://example.com/a.json')": "cannot read",
        }
        for sql, message in refused.items():
            with pytest.raises(LakeinferError, match=message) as error:
                session.sql(sql).to_arrow()
            assert "hunter2" not in str(error.value)
        for setting in ("enable_external_access = true", "allowed_directories = ['/']"):
            with pytest.raises(Exception, match="locked"):
                session._con.execute(f"SET {setting}")
        with pytest.raises(Exception, match="disabled"):
            session._con.execute("LOAD httpfs")


def test_a_plain_session_reads_files_but_never_installs_extensions(home: Path, outside: Path):
    with lakeinfer.connect(home, progress=False) as session:
        assert session.sandbox is None
        rows = session.sql(f"SELECT * FROM read_files('{outside}/secret.csv', header => true)")
        assert rows.to_pylist() == [{"k": "key", "v": "hunter2"}]
        install = session._con.execute("SELECT current_setting('autoinstall_known_extensions')")
        assert install.fetchone() == (False,)


def test_the_spill_directory_is_private_and_removed(home: Path):
    session = lakeinfer.connect(home, progress=False, sandboxed=True)
    (spill,) = session._con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert Path(spill).is_dir() and not any(Path(spill).iterdir())
    session.close()
    assert not Path(spill).exists()


def test_containment_rules(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    (tmp_path / "data" / "away").symlink_to(tmp_path / "data2")
    sandbox = SqlSandbox.of(tmp_path / "home", [tmp_path / "data"])
    assert sandbox.allows(tmp_path / "data") and sandbox.allows(tmp_path / "data" / "x" / "y")
    assert sandbox.allows(tmp_path / "home" / "t")
    assert not sandbox.allows(tmp_path / "data2")  # a sibling with the same prefix
    assert not sandbox.allows(tmp_path / "data" / "away" / "f")  # a link out
    assert not sandbox.allows(tmp_path / "data" / ".." / "data2")
    assert not sandbox.allows("s3://bucket/key")
    with pytest.raises(LakeinferError, match="outside the directories"):
        sandbox.check(f"{tmp_path}/*/x.csv", "read_files")
    sandbox.check(f"{tmp_path}/data/**/*.csv", "read_files")


def test_refusals_read_plainly():
    duckdb_says = 'Permission Error: Cannot access file "/etc/passwd" - file system operations'
    assert refusal_message(duckdb_says).startswith("cannot read '/etc/passwd': SQL here may")
    assert "extensions" in refusal_message(
        "Permission Error: Loading external extensions is disabled through configuration"
    )
