"""lakeinfer's AI functions in Apache Spark: ``ai_query`` as Arrow UDFs on lakeinfer's scheduler.

::

    import lakeinfer.spark

    spark = lakeinfer.spark.session("local[2]")   # or any SparkSession
    lakeinfer.spark.register(spark)                # endpoints from <home>/config.toml
    spark.sql("SELECT ai_query('my-llm', text) FROM reviews")
    lakeinfer.spark.sql(spark, "SELECT ai_query('my-llm', text, failOnError => false) ...")
    df = lakeinfer.spark.table(spark, "main.default.reviews")   # or spark.read.format("lakeinfer")

Importing this package does not import pyspark; :func:`register` does. The names below are
loaded on first use: Spark's Python workers import submodules of this package (the data
source's reader and writer, the functions' bodies), and each worker should load only what its
task runs, not the whole driver-side API.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

# PySpark warns on every Arrow conversion that it does not yet fully support pandas 3; the
# pinned pandas is 3.x, and everything lakeinfer does in Spark is tested on it (Arrow batches,
# not the pandas API on Spark), so the warning would only be noise in users' output.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

if TYPE_CHECKING:
    from lakeinfer.spark.api import (
        SparkAI,
        expr,
        register,
        registered,
        select_expr,
        session,
        sql,
        table,
    )
    from lakeinfer.spark.functions import FUNCTIONS, Signature

#: public name -> the submodule that defines it
_LAZY = {
    "SparkAI": "api",
    "expr": "api",
    "register": "api",
    "registered": "api",
    "select_expr": "api",
    "session": "api",
    "sql": "api",
    "table": "api",
    "FUNCTIONS": "functions",
    "Signature": "functions",
}

__all__ = [
    "FUNCTIONS",
    "Signature",
    "SparkAI",
    "expr",
    "register",
    "registered",
    "select_expr",
    "session",
    "sql",
    "table",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lakeinfer.spark' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lakeinfer.spark.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
