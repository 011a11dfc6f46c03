"""The persistent response cache: re-runs are free, bypasses work, failures are not kept."""

from __future__ import annotations

import lakeinfer
from tests.conftest import configure


def _table(session, rows: int = 5) -> None:
    session.sql("CREATE TABLE t (id BIGINT, k STRING)")
    session.sql(f"INSERT INTO t SELECT id, 'q' || CAST(id AS STRING) FROM range({rows})")


def test_rerunning_a_finished_query_makes_zero_calls(home, fake_server):
    configure(home, fake_server, chat={})
    query = "SELECT id, ai_query('chat', k) AS r FROM t ORDER BY id"
    with lakeinfer.connect(home, progress=False) as session:
        _table(session)
        first = session.sql(query).to_pylist()
    assert fake_server.stats()["chat"] == 5
    with lakeinfer.connect(home, progress=False) as session:  # a new process would do the same
        again = session.sql(query).to_pylist()
        stats = session.last_stats
    assert again == first
    assert fake_server.stats()["chat"] == 5
    assert stats.cache_hits == 5 and stats.ai.calls == 0
    assert "5 cached" in stats.summary()


def test_cache_can_be_bypassed_per_session(home, fake_server):
    configure(home, fake_server, chat={})
    with lakeinfer.connect(home, progress=False) as session:
        _table(session, 3)
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
        session.sql("SET lakeinfer.cache = false")
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
        session.sql("RESET lakeinfer.cache")
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
    assert fake_server.stats()["chat"] == 6


def test_sampled_answers_are_cached_unless_asked_not_to(home, fake_server):
    configure(home, fake_server, chat={})
    query = "SELECT ai_query('chat', k, modelParameters => named_struct('temperature', 0.8)) FROM t"
    with lakeinfer.connect(home, progress=False) as session:
        _table(session, 2)
        session.sql(query).to_arrow()
        session.sql(query).to_arrow()
        assert fake_server.stats()["chat"] == 2
        session.sql("SET lakeinfer.cache_nonzero_temperature = false")
        session.sql(query).to_arrow()
    assert fake_server.stats()["chat"] == 4


def test_failed_answers_are_not_cached(home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    query = "SELECT ai_query('chat', k, failOnError => false) AS r FROM t"
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE t (k STRING)")
        session.sql("INSERT INTO t VALUES ('fine'), ('bad [[status:503]]')")
        session.sql(query).to_arrow()
        session.sql(query).to_arrow()
    assert fake_server.stats()["chat"] == 3  # the failure is asked again, the success is not


def test_another_model_under_the_same_name_is_not_served_from_cache(home, fake_server):
    configure(home, fake_server, chat={})
    with lakeinfer.connect(home, progress=False) as session:
        _table(session, 2)
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
    from lakeinfer.config import load_config, make_endpoint, save_config

    config = load_config(home)
    config.endpoints["chat"] = make_endpoint(base_url=fake_server.base_url, model="other-model")
    save_config(home, config)
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
    assert fake_server.stats()["chat"] == 4


def test_cache_stats_and_clear_commands(home, fake_server):
    from tests.test_cli import run

    configure(home, fake_server, chat={})
    with lakeinfer.connect(home, progress=False) as session:
        _table(session, 4)
        session.sql("SELECT ai_query('chat', k) FROM t").to_arrow()
    stats = run(home, "cache", "stats", "--format", "json")
    assert stats.returncode == 0, stats.stderr
    assert '"entries": 4' in stats.stdout and '"endpoint": "chat"' in stats.stdout
    cleared = run(home, "cache", "clear")
    assert cleared.stdout.strip() == "deleted 4 cached answers"
    rerun = run(home, "sql", "--no-cache", "SELECT count(ai_query('chat', k)) AS n FROM t")
    assert rerun.returncode == 0, rerun.stderr
    assert fake_server.stats()["chat"] == 8
