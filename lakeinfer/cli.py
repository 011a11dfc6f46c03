"""The ``lakeinfer`` command.

Errors are printed as ``error: ...`` with exit status 1 (a syntax error adds the line at fault
with a caret under the token); ``--debug`` shows the traceback instead. Notices (which model
answered) and progress go to stderr, results to stdout.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from lakeinfer.errors import LakeinferError
from lakeinfer.redaction import redact

FORMATS = click.Choice(["table", "json", "csv"])


class _Context:
    def __init__(self, home: str | None, debug: bool, quiet: bool):
        self.home = home
        self.debug = debug
        self.quiet = quiet


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn exceptions into one-line messages unless ``--debug`` was given."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(_Context)
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except LakeinferError as exc:
            if ctx is not None and ctx.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # an internal error: still no traceback without --debug
            if ctx is not None and ctx.debug:
                raise
            click.echo(
                f"internal error: {exc.__class__.__name__}: {redact(str(exc))} "
                "(run with --debug for the traceback)",
                err=True,
            )
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    ctx.obj = _Context(home, debug, quiet)


def _session(ctx: _Context, **extra: Any):
    from lakeinfer.session import Session

    notice = (lambda message: None) if ctx.quiet else None
    options: dict[str, Any] = {"progress": False if ctx.quiet else None, **extra}
    if notice is not None:
        options["notice"] = notice
    return Session(ctx.home, **options)


def _emit(result_table, fmt: str, file: Any = None) -> None:
    from lakeinfer.output import render_table, write_csv, write_json_lines

    file = file or sys.stdout
    if fmt == "json":
        write_json_lines(result_table, file)
    elif fmt == "csv":
        write_csv(result_table, file)
    else:
        render_table(result_table, file=file)


@main.command()
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read statements from a file ('-' for stdin).",
)
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="table",
    show_default=True,
    help="table for people; json = one JSON object per row; csv with a header.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write query results to this file instead of stdout.",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bind the parameter marker :NAME (repeatable). Numbers stay numbers.",
)
@click.option("--no-cache", is_flag=True, help="Call the models even for answers already cached.")
@click.option("--budget-tokens", type=int, help="Refuse or stop a statement over this many tokens.")
@click.option(
    "--spark",
    "spark_master",
    metavar="MASTER",
    help="Run queries, CTAS and INSERT on this Spark master (spark://host:port, local[N]).",
)
@click.pass_obj
@_friendly_errors
def sql(
    ctx: _Context,
    query: str | None,
    file: str | None,
    fmt: str,
    output: str | None,
    params: tuple[str, ...],
    no_cache: bool,
    budget_tokens: int | None,
    spark_master: str | None = None,
) -> None:
    """Run SQL statements (separated by ';') and print what queries return.

    With no QUERY and no -f on a terminal, opens an interactive shell
    (multi-line statements ending with ';', history, Tab completion).

    \b
    Databricks SQL: SELECT (CTEs, joins, WHERE, GROUP BY, ORDER BY, LIMIT),
    CREATE [OR REPLACE] CATALOG|SCHEMA|TABLE|VIEW [AS SELECT] with
    PARTITIONED BY, COMMENT, TBLPROPERTIES; INSERT INTO|OVERWRITE, UPDATE,
    DELETE, MERGE INTO; DROP; USE; SHOW CATALOGS|SCHEMAS|TABLES|TBLPROPERTIES;
    DESCRIBE [EXTENDED|HISTORY]; time travel (t VERSION AS OF 3, TIMESTAMP
    AS OF '...'); read_files('path', format => 'csv'); EXPLAIN; SET/RESET
    lakeinfer.<key>; parameter markers (:name, bound with -p name=value); and
      ai_query(endpoint, request [, returnType] [, failOnError]
               [, modelParameters => named_struct(...)])
    failOnError => false returns STRUCT<result, errorMessage> per row
    instead of failing the statement.

    \b
    Examples:
      lakeinfer sql "SELECT * FROM main.default.reviews LIMIT 5"
      lakeinfer sql -f pipeline.sql --format json -o out.jsonl
      lakeinfer sql -p lang=en "SELECT * FROM docs WHERE lang = :lang"

    \b
    Answers are cached in the lakehouse: re-running a statement is free,
    and a statement killed midway resumes where it stopped. Each AI
    statement prints a summary on stderr and is recorded in
    system.ai.query_history (query it with SQL).
    """
    from lakeinfer.text_files import read_stream, read_text

    interactive = query is None and file is None
    if (interactive and not sys.stdin.isatty()) or file == "-":
        text = read_stream(sys.stdin.buffer, "stdin")  # `echo "SELECT 1" | lakeinfer sql`
        interactive = False
    else:
        text = read_text(file) if file is not None else query
    args = _parse_params(params)
    spark = {"spark": spark_master} if spark_master else {}
    with _session(ctx, **spark) as session, _output(output) as out:
        if no_cache:
            session.settings.set("lakeinfer.cache", False)
        if budget_tokens is not None:
            session.settings.set("lakeinfer.budget_tokens", budget_tokens)

        def emit(table: Any, form: str) -> None:
            _emit(table, form, out)

        def summary(stats: Any) -> None:
            if not ctx.quiet:
                _summary(stats)

        if interactive:
            from lakeinfer.shell import run_shell

            run_shell(session, emit, summary, fmt, debug=ctx.debug)
            return
        for table, is_query, stats in session.run_script(text, args or None):
            if is_query:
                emit(table, fmt)
            if stats is not None:
                summary(stats)


def _parse_params(params: tuple[str, ...]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--param")
        args[name.strip()] = _number_or_text(value)
    return args


def _number_or_text(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


@contextmanager
def _output(path: str | None) -> Iterator[Any]:
    """stdout, or a file written in full only when the command succeeds."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as file:
        try:
            yield file
        except BaseException:
            file.close()
            partial.unlink(missing_ok=True)
            raise
    partial.replace(target)


def _summary(stats) -> None:
    click.echo(stats.summary(), err=True)


@main.group()
def endpoints() -> None:
    """Manage the model endpoints ai_query can call (stored in <home>/config.toml).

    \b
    Secrets are never stored: --api-key-env names the environment variable
    that holds the key.
    """


def _endpoint_options(creating: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of `endpoints create` (required ones enforced) and `endpoints update`."""
    options = [
        click.option(
            "--provider",
            default="openai" if creating else None,
            help="openai: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI); "
            "databricks: a Databricks serving endpoint; sentence-transformers, transformers, "
            "mlflow: a local model; or an installed third-party provider.",
        ),
        click.option(
            "--base-url",
            help="openai: base URL with the version, e.g. http://127.0.0.1:8000/v1; "
            "databricks: the workspace URL.",
        ),
        click.option(
            "--model",
            help="Model name sent in each request (databricks: the serving endpoint; "
            "sentence-transformers, transformers: the model directory).",
        ),
        click.option("--model-uri", help="mlflow: the model URI (path, runs:/..., models:/...)."),
        click.option(
            "--task",
            type=click.Choice(
                ["chat", "embeddings", "token-classification", "text-classification", "custom"]
            ),
            help="chat: ai_query returns STRING; embeddings: ARRAY<FLOAT>; "
            "token-classification, text-classification: transformers pipelines; custom: "
            "a custom model (default: the provider's first task).",
        ),
        click.option("--max-batch", type=int, help="Requests per model call (batch size)."),
        click.option(
            "--option",
            "options",
            multiple=True,
            help="Provider setting KEY=VALUE (repeatable), e.g. aggregation_strategy=simple.",
        ),
        click.option(
            "--api-key-env",
            help="Environment variable holding the API key (sent as a bearer token).",
        ),
        click.option(
            "--max-concurrency", type=int, help="Requests in flight at once (default 64)."
        ),
        click.option("--requests-per-minute", type=float, help="Request rate limit."),
        click.option("--input-tokens-per-minute", type=float, help="Input token rate limit."),
        click.option("--output-tokens-per-minute", type=float, help="Output token rate limit."),
        click.option(
            "--timeout", "timeout_s", type=float, help="Seconds per request (default 120)."
        ),
        click.option(
            "--max-retries", type=int, help="Retries of 429/5xx/network failures (default 3)."
        ),
        click.option(
            "--price-input",
            "price_input_per_million",
            type=float,
            help="USD per million input tokens (for cost estimates).",
        ),
        click.option(
            "--price-output",
            "price_output_per_million",
            type=float,
            help="USD per million output tokens.",
        ),
        click.option(
            "--log-requests/--no-log-requests",
            default=None,
            help="Record each request in system.ai.inference_log.",
        ),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@endpoints.command("create")
@click.argument("name")
@_endpoint_options(creating=True)
@click.option("--replace", is_flag=True, help="Overwrite an existing endpoint of that name.")
@click.pass_obj
@_friendly_errors
def endpoints_create(ctx: _Context, name: str, replace: bool, **fields: Any) -> None:
    """Create (or with --replace, overwrite) the endpoint NAME.

    \b
    Example:
      lakeinfer endpoints create my-llm --base-url http://127.0.0.1:8000/v1 \\
          --model meta-llama/Llama-3.1-8B-Instruct --max-concurrency 128 \\
          --requests-per-minute 600 --api-key-env MY_LLM_KEY
    """
    from lakeinfer.config import (
        ConfigError,
        load_config,
        make_endpoint,
        resolve_home,
        save_config,
        validate_endpoint_name,
    )

    home = resolve_home(ctx.home)
    config = load_config(home)
    validate_endpoint_name(name)
    if name in config.endpoints and not replace:
        raise ConfigError(f"endpoint {name!r} already exists (use --replace to overwrite it)")
    fields["options"] = _options(fields.get("options"))
    endpoint = make_endpoint(name, **fields)
    config.endpoints[name] = endpoint
    save_config(home, config)
    where = endpoint.model_uri or endpoint.model
    if endpoint.base_url:
        where = f"{where} at {endpoint.base_url}"
    click.echo(f"created endpoint {name!r} ({endpoint.provider}, {endpoint.task}, {where})")


def _options(pairs: tuple[str, ...] | None) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs as a dict (values parsed as JSON where they are, else text)."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@endpoints.command("update")
@click.argument("name")
@_endpoint_options(creating=False)
@click.pass_obj
@_friendly_errors
def endpoints_update(ctx: _Context, name: str, **fields: Any) -> None:
    """Change some settings of the endpoint NAME (the others stay as they are)."""
    from lakeinfer.config import load_config, make_endpoint, resolve_home, save_config
    from lakeinfer.errors import UnknownEndpointError

    home = resolve_home(ctx.home)
    config = load_config(home)
    if name not in config.endpoints:
        raise UnknownEndpointError(name, config.endpoints)
    fields["options"] = _options(fields.get("options"))
    changes = {k: v for k, v in fields.items() if v is not None}
    merged = {**config.endpoints[name].model_dump(), **changes}
    config.endpoints[name] = make_endpoint(name, **merged)
    save_config(home, config)
    shown = ", ".join(f"{k}={v}" for k, v in changes.items()) or "nothing changed"
    click.echo(f"updated endpoint {name!r}: {shown}")


@main.group()
def cache() -> None:
    """The persistent response cache (<home>/_cache/responses.sqlite).

    \b
    Answers are cached per endpoint, model, request, returnType and model
    parameters (temperature > 0 too, unless SET
    lakeinfer.cache_nonzero_temperature = false). Bypass it for one run with
    `lakeinfer sql --no-cache` or SET lakeinfer.cache = false.
    """


@cache.command("stats")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
@_friendly_errors
def cache_stats(ctx: _Context, fmt: str) -> None:
    """Entries and size per endpoint."""
    import pyarrow as pa

    from lakeinfer.config import resolve_home
    from lakeinfer.runtime.cache import ResponseCache, cache_path

    store = ResponseCache(cache_path(resolve_home(ctx.home)))
    try:
        rows = store.stats()
    finally:
        store.close()
    columns = ["endpoint", "entries", "bytes"]
    _emit(
        pa.table(
            {c: [r[c] for r in rows] for c in columns},
            schema=pa.schema(
                [("endpoint", pa.string()), ("entries", pa.int64()), ("bytes", pa.int64())]
            ),
        ),
        fmt,
    )


@cache.command("clear")
@click.option("--endpoint", help="Only this endpoint's answers.")
@click.pass_obj
@_friendly_errors
def cache_clear(ctx: _Context, endpoint: str | None) -> None:
    """Delete cached answers (all, or one endpoint's)."""
    from lakeinfer.config import resolve_home
    from lakeinfer.runtime.cache import ResponseCache, cache_path

    store = ResponseCache(cache_path(resolve_home(ctx.home)))
    try:
        deleted = store.clear(endpoint)
    finally:
        store.close()
    click.echo(f"deleted {deleted} cached answer{'s' if deleted != 1 else ''}")


@endpoints.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
@_friendly_errors
def endpoints_list(ctx: _Context, fmt: str) -> None:
    """List configured endpoints."""
    import pyarrow as pa

    from lakeinfer.config import load_config, resolve_home

    config = load_config(resolve_home(ctx.home))
    rows = [
        {"name": name, **endpoint.model_dump(mode="json")}
        for name, endpoint in sorted(config.endpoints.items())
    ]
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    columns = ["name", "provider", "task", "model", "base_url", "api_key_env", "max_concurrency"]
    _emit(pa.table({c: [r.get(c) for r in rows] for c in columns}), fmt)


@endpoints.command("delete")
@click.argument("name")
@click.pass_obj
@_friendly_errors
def endpoints_delete(ctx: _Context, name: str) -> None:
    """Delete the endpoint NAME."""
    from lakeinfer.config import load_config, resolve_home, save_config
    from lakeinfer.errors import UnknownEndpointError

    home = resolve_home(ctx.home)
    config = load_config(home)
    if name not in config.endpoints:
        raise UnknownEndpointError(name, config.endpoints)
    del config.endpoints[name]
    save_config(home, config)
    click.echo(f"deleted endpoint {name!r}")


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("table")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "json", "parquet"]),
    help="File format (default: from the file extension).",
)
@click.option(
    "--mode",
    type=click.Choice(["create", "append", "overwrite"]),
    default="create",
    show_default=True,
    help="create a new table, append to an existing one, or replace its rows.",
)
@click.option(
    "--header/--no-header",
    default=True,
    show_default=True,
    help="CSV: the first line names columns.",
)
@click.pass_obj
@_friendly_errors
def load(
    ctx: _Context, path: str, table: str, file_format: str | None, mode: str, header: bool
) -> None:
    """Load a CSV, Parquet or JSON-lines file (or a directory of them) into a Delta table.

    \b
    Examples:
      lakeinfer load reviews.csv main.default.reviews
      lakeinfer load exports/ main.raw.events --format parquet --mode append
    Same as: CREATE TABLE t AS SELECT * FROM read_files('PATH', format => ...)
    """
    from sqlglot import exp

    options = [exp.Literal.string(path).sql()]
    if file_format is not None:
        options.append(f"format => {exp.Literal.string(file_format).sql()}")
    options.append(f"header => {'true' if header else 'false'}")
    source = f"SELECT * FROM read_files({', '.join(options)})"
    statement = {
        "create": f"CREATE TABLE {table} AS {source}",
        "append": f"INSERT INTO {table} {source}",
        "overwrite": f"INSERT OVERWRITE {table} {source}",
    }[mode]
    with _session(ctx) as session:
        if mode == "create" and session.table_exists(table):
            raise click.UsageError(
                f"table {table} already exists: add --mode append or --mode overwrite"
            )
        counts = session.sql(statement).to_pylist()
    rows = counts[0]["num_inserted_rows"] if counts else 0
    if not ctx.quiet:
        click.echo(f"loaded {rows} rows into {table}", err=True)


@main.command()
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
@_friendly_errors
def demo(ctx: _Context, fmt: str) -> None:
    """Run the end-to-end example on the embedded model.

    \b
    Creates sample Delta tables (uc_catalog.schema.table and
    catalog.schema.product_reviews), runs the two ai_query statements of
    Databricks' batch-inference guide unchanged, writes their answers to
    main.default.text_summaries and main.default.review_opinions, and
    shows them.
    """
    from lakeinfer.demo import run_demo

    started = time.monotonic()
    with _session(ctx) as session:
        run_demo(session, lambda table: _emit(table, fmt), say=None if ctx.quiet else _say)
    if not ctx.quiet:
        _say(
            f"demo finished in {time.monotonic() - started:.1f}s; tables are under {Path(session.home)}"
        )


def _say(message: str) -> None:
    click.echo(message, err=True)


def _register_commands() -> None:
    from lakeinfer.bench.cli import bench, size_command
    from lakeinfer.evaluation.cli import eval_command
    from lakeinfer.pipelines.cli import jobs, stream
    from lakeinfer.serving.cli import serve
    from lakeinfer.ui.cli import ui
    from lakeinfer.vector.cli import index

    main.add_command(eval_command)
    main.add_command(bench)
    main.add_command(size_command)
    main.add_command(stream)
    main.add_command(jobs)
    main.add_command(serve)
    main.add_command(ui)
    main.add_command(index)


_register_commands()

if __name__ == "__main__":
    main()
