"""Providers and table functions from a package outside lakeinfer (``tests.sample_extension``),
registered through the registries' API or as an installed package's entry points, and used from
SQL."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.endpoints import providers
from lakeinfer.engine.extensions import EXTENSIONS, GROUP
from lakeinfer.errors import AnalysisError, ConfigError, SqlError
from tests import sample_extension


@pytest.fixture
def registered() -> Iterator[None]:
    """The sample package registered through the public API, and forgotten afterwards."""
    providers.register(sample_extension.SHOUTER)
    sample_extension.register(EXTENSIONS)
    yield
    providers.unregister("shouter")
    EXTENSIONS.remove("split_words")
    EXTENSIONS.remove("word counts")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sample package's entry points, in a distribution on sys.path as pip would leave
    it."""
    site = tmp_path / "site"
    dist = site / "sample_extension-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sample-extension\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{GROUP}]\nsample = tests.sample_extension:register\n\n"
        f"[{providers.GROUP}]\nshouter = tests.sample_extension:create\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    EXTENSIONS.remove("split_words")
    EXTENSIONS.remove("word counts")


def _use_both(home: Path, **endpoint: object) -> list[dict]:
    save_config(home, LakeinferConfig(endpoints={"loud": make_endpoint("loud", **endpoint)}))
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        return session.sql(
            "SELECT s.pos, ai_query('loud', s.word) AS answer "
            "FROM split_words('lakes hold data', min_length => 5) AS s ORDER BY s.pos"
        ).to_pylist()


def test_registered_provider_and_table_function_answer_sql(home, registered):
    assert "shouter" in providers.provider_names()
    rows = _use_both(home, provider="shouter", options={"suffix": "!"})
    assert rows == [{"pos": 1, "answer": "LAKES!"}]


def test_registered_provider_checks_its_tasks(registered):
    with pytest.raises(ConfigError, match=r"provider 'shouter' does not serve task 'embeddings'"):
        make_endpoint("e", provider="shouter", task="embeddings")


def test_installed_extension_and_provider_answer_sql(home, installed):
    rows = _use_both(home, provider="shouter", task="chat")
    assert rows == [{"pos": 1, "answer": "LAKES"}]


def test_installed_statement_loads_on_first_use(home, installed):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        rows = session.sql("REFRESH WORD COUNTS 'lakes hold data'").to_pylist()
    assert rows == [{"words": 3}]


def test_statement_nothing_runs_is_still_unsupported(home):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(AnalysisError, match=r"unsupported statement: REFRESH\s+WORD COUNTS"):
            session.sql("REFRESH WORD COUNTS 'a b'").to_pylist()


def test_table_function_errors_and_unknown_names(home, registered):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(AnalysisError, match="split_words: text must be a string"):
            session.sql("SELECT * FROM split_words(42)").to_pylist()
        EXTENSIONS.remove("split_words")
        with pytest.raises(
            SqlError, match=r"\[UNRESOLVED_ROUTINE\] Cannot resolve routine `split_words`"
        ):
            session.sql("SELECT * FROM split_words('a b')").to_pylist()


def test_read_stream_is_what_the_streaming_feature_registered(home):
    with lakeinfer.connect(home) as session:
        builtin = EXTENSIONS.stream_reader()
        assert type(session.readStream).__name__ == "DataStreamReader"
        EXTENSIONS.set_stream_reader(lambda owner: ("reader of", owner))
        try:
            assert session.readStream == ("reader of", session)
        finally:
            assert builtin is not None
            EXTENSIONS.set_stream_reader(builtin)
