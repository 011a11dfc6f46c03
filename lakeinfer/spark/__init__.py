"""lakeinfer's AI functions in Apache Spark: ``ai_query`` as Arrow UDFs on lakeinfer's scheduler.

::

    import lakeinfer.spark

    spark = lakeinfer.spark.session("local[2]")   # or any SparkSession
    lakeinfer.spark.register(spark)                # endpoints from <home>/config.toml
    spark.sql("SELECT ai_query('my-llm', text) FROM reviews")
    lakeinfer.spark.sql(spark, "SELECT ai_query('my-llm', text, failOnError => false) ...")
    df = lakeinfer.spark.table(spark, "main.default.reviews")   # or spark.read.format("lakeinfer")

Importing this package does not import pyspark; :func:`register` does. See docs/spark.md.
"""

import warnings

# PySpark warns on every Arrow conversion that it does not yet fully support pandas 3; the
# pinned pandas is 3.x, and everything lakeinfer does in Spark is tested on it (Arrow batches,
# not the pandas API on Spark), so the warning would only be noise in users' output.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

from lakeinfer.spark.api import (  # noqa: E402
    SparkAI,
    expr,
    register,
    registered,
    select_expr,
    session,
    sql,
    table,
)
from lakeinfer.spark.functions import FUNCTIONS, Signature  # noqa: E402

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
