"""The ``lakeinfer`` group: the root options, and the commands every module in
:data:`COMMAND_MODULES` registers.

Each of those modules defines ``register_commands(cli)``, which adds its commands to the
group (as plugins of ``llm`` do). They are imported when a command is looked up, in order and
only until the command is found, so importing this module stays cheap and a command loads no
other command's module; no command module imports this one.
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


#: root flags a command also accepts after its name (``lakeinfer sql --quiet ...``)
ROOT_FLAGS = {
    "debug": ("--debug", "Show full tracebacks on errors (as before the command)."),
    "quiet": ("--quiet", "No notices, progress bars or summaries (as before the command)."),
}


def accept_root_flags(command: click.Command) -> None:
    """Let ``command`` (and the commands of a group) take ``--debug`` and ``--quiet`` after
    its name too, with the same effect as before it."""
    names = {p.name for p in command.params}
    for name, (flag, help_text) in ROOT_FLAGS.items():
        if name not in names:
            command.params.append(
                click.Option(
                    [flag],
                    is_flag=True,
                    expose_value=False,
                    help=help_text,
                    callback=_set_root_flag(name),
                )
            )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_root_flags(sub)


def _set_root_flag(name: str):  # noqa: ANN202 (a click callback)
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        root = ctx.find_object(Context)
        if value and root is not None:
            setattr(root, name, True)

    return callback


class _Commands(click.Group):
    """A group whose commands are registered by :data:`COMMAND_MODULES` on first use: looking
    up a command imports the modules in order until one has registered it (``sql``, the first,
    imports no other); listing them imports them all."""

    def _register(self, until: str | None = None) -> None:
        done: set[str] = self.__dict__.setdefault("_registered_modules", set())
        for name in COMMAND_MODULES:
            if until is not None and until in self.commands:
                return
            if name not in done:
                done.add(name)
                importlib.import_module(name).register_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._register(until=cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            accept_root_flags(command)
        return command

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
