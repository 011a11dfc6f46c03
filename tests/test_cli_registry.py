"""Commands come from the modules listed in ``COMMAND_MODULES``, each through its
``register_commands(cli)``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lakeinfer.cli import main, root


def test_the_command_lists_every_registered_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = main.list_commands(click.Context(main))
    assert listed == [
        "batches",
        "bench",
        "cache",
        "demo",
        "endpoints",
        "eval",
        "index",
        "jobs",
        "load",
        "serve",
        "size",
        "sql",
        "stream",
        "ui",
    ]
    for name in listed:
        assert f"  {name} " in result.output


def test_a_module_in_the_list_adds_its_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "extra_commands.py").write_text(
        "import click\n"
        "from lakeinfer.cli.common import friendly_errors, notice\n\n"
        "@click.command()\n"
        "@click.pass_obj\n"
        "@friendly_errors\n"
        "def hello(ctx):\n"
        '    """Say hello."""\n'
        "    click.echo(f'hello from {ctx.home}')\n"
        "    notice(ctx, 'said hello')\n\n"
        "def register_commands(cli):\n"
        "    cli.add_command(hello)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(root, "COMMAND_MODULES", ("extra_commands",))
    monkeypatch.delitem(sys.modules, "extra_commands", raising=False)
    group = root._Commands("lakeinfer", callback=main.callback, params=main.params)
    result = CliRunner().invoke(group, ["--home", "h", "hello"])
    assert result.exit_code == 0, result.output
    assert "hello from h" in result.output
    assert group.list_commands(click.Context(group)) == ["hello"]
