"""Create means create: of several statements creating one table, exactly one commits; the
others fail with "already exists" (or, with IF NOT EXISTS, return quietly) and leave nothing."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.catalog import files
from lakeinfer.errors import TableExistsError

WRITERS = 4
ROUNDS = 3


def _creator(home: str, writer: int, barrier, statements: list[str], outcomes) -> None:
    """One process: runs each statement; its query waits (inside the CTAS, after the early
    existence check) until every writer has reached the same point, so all race to commit.
    Each writer asks its own question, so no cached answer lets one skip the wait."""
    with lakeinfer.connect(home, progress=False) as session:
        session.register_function(
            "gate", lambda request: barrier.wait(240) * 0 + writer, return_type="INT"
        )
        for round_, statement in enumerate(statements):
            try:
                session.sql(statement.format(writer=writer))
                outcomes.put((round_, writer, "created"))
            except Exception as exc:  # the outcome is what the test checks
                outcomes.put((round_, writer, f"{type(exc).__name__}: {exc}"))


def _race(home: Path, statements: list[str]) -> dict[int, dict[int, str]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    outcomes = context.Queue()
    processes = [
        context.Process(target=_creator, args=(str(home), w, barrier, statements, outcomes))
        for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    results: dict[int, dict[int, str]] = {}
    for _ in range(WRITERS * len(statements)):
        round_, writer, outcome = outcomes.get(timeout=400)
        results.setdefault(round_, {})[writer] = outcome
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    return results


def _history(table: Path) -> list[dict]:
    return DeltaTable(str(table)).history()


def test_concurrent_ctas_of_one_name_has_exactly_one_winner_per_round(home: Path) -> None:
    home.mkdir(parents=True)
    plain = [
        f"CREATE TABLE main.default.r{n} AS "
        f"SELECT ai_query('gate', 'w{{writer}}r{n}') AS writer, id FROM range(3)"
        for n in range(ROUNDS)
    ]
    quiet = [
        "CREATE TABLE IF NOT EXISTS main.default.q AS "
        "SELECT ai_query('gate', 'w{writer}q') AS writer, id FROM range(3)"
    ]
    results = _race(home, plain + quiet)
    schema = home / "main" / "default"
    for round_ in range(ROUNDS):
        outcomes = results[round_]
        winners = [w for w, outcome in outcomes.items() if outcome == "created"]
        assert len(winners) == 1, outcomes
        for writer, outcome in outcomes.items():
            if writer != winners[0]:
                assert outcome.startswith("TableExistsError: table main.default.r"), outcome
                assert "already exists" in outcome
        table = schema / f"r{round_}"
        rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
        assert sorted(rows, key=lambda r: r["id"]) == [
            {"writer": winners[0], "id": i} for i in range(3)
        ]
        history = _history(table)
        assert len(history) == 1, history
        assert history[0]["lakeinfer.operation"] == "CREATE TABLE AS SELECT"
        assert json.loads(json.dumps(history[0]["operationParameters"]))["mode"] != "Overwrite"
    # IF NOT EXISTS: every writer returns quietly, one of them created the table
    assert set(results[ROUNDS].values()) == {"created"}
    assert len(_history(schema / "q")) == 1
    assert (
        len({r["writer"] for r in DeltaTable(str(schema / "q")).to_pyarrow_table().to_pylist()})
        == 1
    )
    # the losers left nothing: no staging directory, no lock of one
    assert sorted(e.name for e in schema.iterdir() if e.name != files.CREATE_LOCK) == sorted(
        [f"r{n}" for n in range(ROUNDS)] + ["q"]
    )


@pytest.fixture
def two_sessions(home: Path):
    with (
        lakeinfer.connect(home, progress=False) as first,
        lakeinfer.connect(home, progress=False) as second,
    ):
        yield first, second


def _ctas_while_another_creates(first, second, statement: str):
    """Run ``statement`` in ``first``; while its query waits, ``second`` creates table t."""
    entered, release = threading.Event(), threading.Event()

    def gate(request):
        entered.set()
        release.wait(60)
        return "first"

    first.register_function("gate", gate, return_type="STRING")
    outcome: dict[str, BaseException | None] = {"error": None}

    def run() -> None:
        try:
            first.sql(statement)
        except BaseException as exc:  # checked by the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(60)
    second.sql("CREATE TABLE t AS SELECT 'second' AS who")
    release.set()
    thread.join(60)
    return outcome["error"]


def test_ctas_never_overwrites_a_table_created_while_its_query_ran(two_sessions, home):
    first, second = two_sessions
    error = _ctas_while_another_creates(
        first, second, "CREATE TABLE t AS SELECT ai_query('gate', 'x') AS who"
    )
    assert isinstance(error, TableExistsError)
    assert str(error) == "table main.default.t already exists (use CREATE OR REPLACE TABLE)"
    assert second.sql("SELECT who FROM t").to_pylist() == [{"who": "second"}]
    assert len(_history(home / "main" / "default" / "t")) == 1
    assert sorted(e.name for e in (home / "main" / "default").iterdir()) == ["t"]


def test_ctas_if_not_exists_returns_quietly_when_it_loses(two_sessions, home):
    first, second = two_sessions
    error = _ctas_while_another_creates(
        first, second, "CREATE TABLE IF NOT EXISTS t AS SELECT ai_query('gate', 'x') AS who"
    )
    assert error is None
    assert second.sql("SELECT who FROM t").to_pylist() == [{"who": "second"}]
    assert len(_history(home / "main" / "default" / "t")) == 1


def test_create_or_replace_replaces_a_table_created_while_its_query_ran(two_sessions, home):
    first, second = two_sessions
    error = _ctas_while_another_creates(
        first, second, "CREATE OR REPLACE TABLE t AS SELECT ai_query('gate', 'x') AS who"
    )
    assert error is None
    assert first.sql("SELECT who FROM t").to_pylist() == [{"who": "first"}]


def test_create_table_over_an_empty_directory_takes_the_name(two_sessions, home):
    first, _ = two_sessions
    (home / "main" / "default" / "t").mkdir(parents=True)
    first.sql("CREATE TABLE t AS SELECT 1 AS x")
    assert first.sql("SELECT x FROM t").to_pylist() == [{"x": 1}]
    with pytest.raises(TableExistsError, match="already exists"):
        first.sql("CREATE TABLE t (x INT)")


def test_the_lock_fallback_renames_only_onto_a_free_name(tmp_path):
    source, target = tmp_path / "a", tmp_path / "b"
    source.mkdir()
    (source / "f").write_text("a")
    target.mkdir()  # even an empty directory counts as taken
    assert files.rename_locked(source, target) is False
    assert files.rename_no_replace(source, target) is False
    assert (source / "f").exists()
    target.rmdir()
    assert files.rename_locked(source, target) is True
    assert (target / "f").read_text() == "a"
