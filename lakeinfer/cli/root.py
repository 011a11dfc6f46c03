"""The ``lakeinfer`` group: the root options, and the commands every module in
:data:`COMMAND_MODULES` registers.

Each of those modules defines ``register_commands(cli)``, which adds its commands to the
group (as plugins of ``llm`` do). They are imported the first time a command is looked up, so
importing this module stays cheap, and no command module imports this one.
"""

from __future__ import annotations

import importlib

import click

from lakeinfer.cli.common import Context

COMMAND_MODULES: tuple[str, ...] = (
    "lakeinfer.cli.sql",
    "lakeinfer.cli.endpoints",
    "lakeinfer.cli.cache",
    "lakeinfer.cli.batches",
    "lakeinfer.cli.load",
    "lakeinfer.cli.demo",
    "lakeinfer.evaluation.cli",
    "lakeinfer.bench.cli",
    "lakeinfer.pipelines.cli",
    "lakeinfer.serving.cli",
    "lakeinfer.ui.cli",
    "lakeinfer.vector.cli",
)
"""The modules whose ``register_commands(cli)`` adds commands to ``lakeinfer``."""


class _Commands(click.Group):
    """A group whose commands are registered by :data:`COMMAND_MODULES` on first use."""

    _registered = False

    def _register(self) -> None:
        if self._registered:
            return
        self._registered = True
        for name in COMMAND_MODULES:
            importlib.import_module(name).register_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._register()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._register()
        return super().list_commands(ctx)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--home",
    envvar="LAKEINFER_HOME",
    type=click.Path(file_okay=False),
    help="Lakehouse directory (default: $LAKEINFER_HOME, else ./lakehouse).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option(
    "--quiet", "-q", is_flag=True, help="No notices, progress bars or summaries on stderr."
)
@click.version_option(package_name="lakeinfer")
@click.pass_context
def main(ctx: click.Context, home: str | None, debug: bool, quiet: bool) -> None:
    """Run LLM and ML inference over tables, straight from SQL.

    \b
    Tables are Delta tables under the lakehouse directory, addressed as
    catalog.schema.table (default namespace main.default). ai_query() calls
    the model endpoints configured with `lakeinfer endpoints`; Databricks'
    pre-provisioned names (databricks-meta-llama-3-1-8b-instruct, ...) fall
    back to a small embedded model when nothing else is configured.

    \b
    Examples:
      lakeinfer demo
      lakeinfer sql "SHOW TABLES"
      lakeinfer sql -f pipeline.sql --format json
      lakeinfer endpoints create my-llm --provider openai \\
          --base-url http://127.0.0.1:8000/v1 --model my-model
      lakeinfer sql "SELECT ai_query('my-llm', 'Summarize: ' || text) FROM reviews LIMIT 10"
    """
    ctx.obj = Context(home, debug, quiet)
