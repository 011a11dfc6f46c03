"""Driver side: register lakeinfer's functions in a SparkSession and run SQL through them."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeinfer.config import EndpointConfig, LakeinferConfig, load_config, resolve_home
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.errors import AnalysisError, ConfigError
from lakeinfer.runtime.cache import cache_path
from lakeinfer.spark.functions import FUNCTIONS, TASK_DEFAULT_DDL, Signature
from lakeinfer.spark.rewrite import rewrite_ai_calls
from lakeinfer.spark.shipping import ShippedConfig, endpoint_configs
from lakeinfer.spark.tasks import task_ddl
from lakeinfer.sql.functions import AiQueryCall

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_REGISTERED: dict[int, SparkAI] = {}


class SparkAI:
    """lakeinfer's functions in one SparkSession; made by :func:`register`."""

    def __init__(self, spark: SparkSession, config: LakeinferConfig, shipped: ShippedConfig):
        self.spark = spark
        self.config = config
        self.shipped = shipped
        self.registry = EndpointRegistry(config, lambda message: None)
        #: registered function name -> (function, signature)
        self.functions: dict[str, tuple[str, Signature]] = {}

    def add(self, name: str, function: str, signature: Signature) -> None:
        """Register ``function`` with ``signature`` under ``name`` as an Arrow UDF."""
        from pyspark.sql.functions import arrow_udf

        body = FUNCTIONS[function].body(self.shipped, signature, name)
        self.spark.udf.register(name, arrow_udf(body, signature.spark_ddl))
        self.functions[name] = (function, signature)

    def name_for(self, call: AiQueryCall, function: str = "ai_query") -> str:
        """The registered function for ``call``'s signature (registered now if new)."""
        if call.task is not None:
            function = call.task.function
            signature = Signature(task_ddl(call.task.result_type))
        else:
            signature = self.signature_of(call)
        for name, (registered, existing) in self.functions.items():
            if registered == function and existing == signature:
                return name
        name = signature.generated_name(function)
        self.add(name, function, signature)
        return name

    def signature_of(self, call: AiQueryCall) -> Signature:
        ddl = call.return_ddl
        if ddl is None:
            task = self.registry.task_of(call.endpoint)  # unknown endpoints fail here, named
            ddl = TASK_DEFAULT_DDL.get(task)
            if ddl is None:
                raise AnalysisError(
                    f"ai_query: endpoint {call.endpoint!r} serves a custom model; on Spark give "
                    f"its type, e.g. ai_query('{call.endpoint}', request, returnType => 'DOUBLE')"
                )
        return Signature(ddl, call.fail_on_error)

    def rewrite(self, text: str) -> str:
        """``text`` with each AI call renamed to the function of its signature."""
        return rewrite_ai_calls(text, self.name_for)

    def sql(self, text: str, args: Any = None) -> DataFrame:
        """``spark.sql(text)`` where every ``ai_query`` may use any signature."""
        rewritten = self.rewrite(text)
        return self.spark.sql(rewritten, args) if args is not None else self.spark.sql(rewritten)

    def expr(self, text: str) -> Column:
        """``F.expr(text)`` where every ``ai_query`` may use any signature."""
        from pyspark.sql import functions as F

        return F.expr(self.rewrite(text))


def register(
    spark: SparkSession,
    *,
    endpoints: Mapping[str, EndpointConfig | Mapping[str, Any]] | None = None,
    config: LakeinferConfig | None = None,
    home: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    cache: bool | str | os.PathLike[str] = True,
    signatures: Mapping[str, Signature | Mapping[str, Any]] | None = None,
) -> SparkAI:
    """Make ``ai_query`` (and every function in :data:`lakeinfer.spark.functions.FUNCTIONS`)
    callable from ``spark.sql``, ``F.expr`` and ``selectExpr`` in ``spark``.

    Endpoints come from ``config`` (default: ``<home>/config.toml``, home resolved as
    everywhere in lakeinfer) with ``endpoints`` (name -> fields, as in config.toml) added over
    it. They reach the executors as JSON; keys are read there from the variable each endpoint
    names in ``api_key_env``, so set it in the executors' environment. ``settings`` are
    lakeinfer settings (``cache``, ``max_concurrency``...). ``cache``: True keeps answers in
    ``<home>/_cache/responses.sqlite`` (a path: there; False: no cache); executors must be able
    to reach that path.

    ``ai_query`` is registered returning STRING with ``failOnError => true``; ``signatures``
    registers more names with other return types, e.g. ``{"ai_query_safe": {"failOnError":
    False}}``, or changes ``ai_query``'s own (``{"ai_query": {"failOnError": False}}``).
    :meth:`SparkAI.sql` and :meth:`SparkAI.expr` handle any signature by rewriting the text.
    """
    lake_home = resolve_home(home)
    base = config if config is not None else load_config(lake_home)
    merged = dict(base.endpoints)
    merged.update(endpoint_configs(dict(endpoints or {})))
    file_settings = {**base.settings, **dict(settings or {})}
    full = LakeinferConfig(endpoints=merged, settings=file_settings)
    if cache is True:
        where: str | None = str(cache_path(lake_home))
    elif cache is False:
        where = None
    else:
        where = str(Path(cache).expanduser().resolve())
    shipped = ShippedConfig.from_config(full, where)
    usage = _usage_accumulator(spark)
    if usage is not None:
        shipped = dataclasses.replace(shipped, usage=usage)
    ai = SparkAI(spark, full, shipped)
    chosen = {name: Signature.of(spec) for name, spec in (signatures or {}).items()}
    for name, function in FUNCTIONS.items():
        ai.add(name, name, chosen.pop(name, function.default))
    for name, signature in chosen.items():
        ai.add(name, "ai_query", signature)
    _REGISTERED[id(spark)] = ai
    from lakeinfer.spark.datasource import register_source

    register_source(spark)
    return ai


def _usage_accumulator(spark: SparkSession) -> Any:
    """An accumulator of the executors' AI usage (None where the session has no
    SparkContext, as with Spark Connect)."""
    from lakeinfer.spark.usage import accumulator

    try:
        return accumulator(spark.sparkContext)
    except Exception:  # Spark Connect sessions have no SparkContext
        return None


def registered(spark: SparkSession | None = None) -> SparkAI:
    """The :class:`SparkAI` of ``spark`` (default: the active session)."""
    if spark is None:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
    ai = _REGISTERED.get(id(spark)) if spark is not None else None
    if ai is None:
        raise ConfigError(
            "lakeinfer's functions are not registered in this SparkSession: call "
            "lakeinfer.spark.register(spark) first"
        )
    return ai


def sql(spark: SparkSession, text: str, args: Any = None) -> DataFrame:
    """``spark.sql(text)`` with any ``ai_query`` signature (see :meth:`SparkAI.sql`)."""
    return registered(spark).sql(text, args)


def expr(text: str, spark: SparkSession | None = None) -> Column:
    """``F.expr(text)`` with any ``ai_query`` signature (see :meth:`SparkAI.expr`)."""
    return registered(spark).expr(text)


def select_expr(df: DataFrame, *exprs: str) -> DataFrame:
    """``df.selectExpr(*exprs)`` with any ``ai_query`` signature."""
    ai = registered(df.sparkSession)
    return df.selectExpr(*(ai.rewrite(e) for e in exprs))


def table(
    spark: SparkSession,
    name: str,
    *,
    home: str | os.PathLike[str] | None = None,
    version: int | None = None,
    timestamp: str | None = None,
    columns: list[str] | None = None,
) -> DataFrame:
    """The lakeinfer table ``name`` (``catalog.schema.table``) as a DataFrame read by the
    ``lakeinfer`` data source: only ``columns`` when given, at ``version`` or ``timestamp``
    (time travel) when given, in at least as many partitions as the session's default
    parallelism (when the table has that many files)."""
    from lakeinfer.spark.datasource import register_source

    register_source(spark)
    reader = spark.read.format("lakeinfer").option("home", str(resolve_home(home)))
    if version is not None:
        reader = reader.option("versionAsOf", str(version))
    if timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    if columns:
        reader = reader.option("columns", ",".join(columns))
    try:
        reader = reader.option("minPartitions", str(spark.sparkContext.defaultParallelism))
    except Exception:  # Spark Connect sessions have no SparkContext
        pass
    return reader.load(name)


def session(master: str = "local[2]", app_name: str = "lakeinfer", **conf: str) -> SparkSession:
    """A SparkSession whose Python workers run this interpreter (so they have lakeinfer and
    pyarrow), with Arrow enabled, the console progress bar off, and the executors' Python
    daemon :mod:`lakeinfer.spark.daemon` (workers fork with lakeinfer loaded). ``conf``
    overrides any of these."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    defaults = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # filters reach the lakeinfer data source, which skips files by the Delta log
        "spark.sql.python.filterPushdown.enabled": "true",
        # executors' Python workers fork with lakeinfer's executor code already imported
        "spark.python.daemon.module": "lakeinfer.spark.daemon",
    }
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    from lakeinfer.spark.datasource import register_source

    register_source(spark)
    return spark
