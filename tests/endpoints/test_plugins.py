"""Third-party providers installed as packages, found through the entry point group."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.endpoints.providers import GROUP, plugin_names
from lakeinfer.errors import ConfigError

PLUGIN = '''
"""A provider package: reverses text, or counts the fields of a record."""
from lakeinfer.endpoints.base import Capabilities, Outcome, Provider


class Reverser(Provider):
    def __init__(self, name, config):
        self.name = name
        self.suffix = config.options.get("suffix", "")
        self.capabilities = Capabilities(task="custom", max_batch=10)
        self.return_ddl = "STRING"
        self.batches = []

    async def infer(self, batch):
        self.batches.append(len(batch))
        return [Outcome(value=str(r.payload)[::-1] + self.suffix) for r in batch]


def create(name, config):
    return Reverser(name, config)


def broken(name, config):
    return "not a provider"
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A distribution 'reverser-plugin' on sys.path, as pip would have installed it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "reverser_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "reverser_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: reverser-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{GROUP}]\nreverser = reverser_plugin:create\nbroken = reverser_plugin:broken\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("reverser_plugin", None)


def test_installed_provider_answers_ai_query_in_batches(home, installed):
    assert {"reverser", "broken"} <= set(plugin_names())
    endpoint = make_endpoint(provider="reverser", options={"suffix": "!"})
    assert endpoint.task == "custom"
    save_config(home, LakeinferConfig(endpoints={"rev": endpoint}))
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("CREATE TABLE t (id INT, w STRING)")
        values = ", ".join(f"({i}, 'w{i}')" for i in range(12))
        session.sql(f"INSERT INTO t VALUES {values}")
        rows = session.sql("SELECT ai_query('rev', w) AS r FROM t ORDER BY id").to_pylist()
        provider = session.registry.get("rev")
    assert rows[0] == {"r": "0w!"} and rows[11] == {"r": "11w!"}
    assert sorted(provider.batches) == [2, 10]  # type: ignore[attr-defined]


def test_unknown_or_broken_providers_are_named(home, installed):
    with pytest.raises(ConfigError, match=r"unknown provider 'nope'; available: .*reverser"):
        make_endpoint(provider="nope")
    save_config(home, LakeinferConfig(endpoints={"b": make_endpoint(provider="broken")}))
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(ConfigError, match="returned str, not a lakeinfer Provider"):
            session.sql("SELECT ai_query('b', 'x', returnType => 'STRING')").to_arrow()
