"""A statement that fails on Spark fails as on the embedded engine: one lakeinfer error naming
the problem, no Python traceback or Java stack, recorded in the query history."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import SqlError
from lakeinfer.spark.failures import as_sql_error
from tests.conftest import configure


@pytest.fixture
def on_spark(spark, home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as embedded:
        embedded.sql("CREATE TABLE t AS SELECT id FROM range(3)")
    with lakeinfer.connect(home, progress=False, spark=spark) as session:
        yield session


def test_a_failed_task_is_one_line_naming_sparks_error(on_spark):
    with pytest.raises(SqlError) as failed:
        on_spark.sql("SELECT id, assert_true(id < 1) AS ok FROM t").to_pylist()
    message = str(failed.value)
    assert message.startswith("Spark failed: [USER_RAISED_EXCEPTION] '(id < 1)' is not true!")
    assert "\n" not in message and "at org.apache" not in message


def test_a_failed_model_call_names_the_endpoint_and_row_not_the_traceback(on_spark):
    with pytest.raises(SqlError) as failed:
        on_spark.sql(
            "CREATE TABLE answers AS SELECT ai_query('chat', 'x [[status:400]]') AS a FROM t"
        )
    message = str(failed.value)
    assert message.startswith("a Python worker failed: endpoint 'chat' failed")
    assert "Traceback" not in message and "\n" not in message
    recorded = on_spark.sql("SELECT status, error FROM system.ai.query_history").to_pylist()
    assert recorded[-1] == {"status": "FAILED", "error": message}


def test_errors_spark_did_not_raise_are_left_as_they_are():
    assert as_sql_error(ValueError("x")) is None
    assert as_sql_error(SqlError("already ours")) is None
