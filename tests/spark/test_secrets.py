"""Endpoint configuration reaches the executors; the key stays in their environment."""

from __future__ import annotations

import pickle

import pytest
from pyspark.errors import PythonException

import lakeinfer.spark
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.spark.conftest import SECRET, SECRET_ENV


def test_key_is_read_on_the_worker_and_never_in_the_plan(spark, tmp_path):
    with FakeOpenAIServer(token=SECRET) as server:
        ai = lakeinfer.spark.register(
            spark,
            home=tmp_path,
            endpoints={
                "guarded": {"base_url": server.base_url, "model": "m", "api_key_env": SECRET_ENV}
            },
        )
        df = ai.sql("SELECT ai_query('guarded', 'hello', failOnError => false) AS r")
        # the server only answers with the bearer token, so the worker read it
        assert df.collect()[0].r.asDict() == {"result": "echo: hello", "errorMessage": None}
        assert server.stats()["chat"] == 1
    plan = df._jdf.queryExecution().toString()
    assert "ai_query" in plan and SECRET not in plan
    assert SECRET not in ai.shipped.config_json and SECRET_ENV in ai.shipped.config_json
    name = ai.rewrite("SELECT ai_query('guarded', 'x', failOnError => false)").split("(")[0][7:]
    assert SECRET.encode() not in pickle.dumps(ai.shipped)
    assert name.startswith("ai_query_")


def test_a_missing_key_names_the_variable_not_a_value(spark, tmp_path):
    ai = lakeinfer.spark.register(
        spark,
        home=tmp_path,
        endpoints={
            "keyless": {
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
                "api_key_env": "LAKEINFER_SPARK_UNSET_KEY",
            }
        },
    )
    with pytest.raises(PythonException, match="LAKEINFER_SPARK_UNSET_KEY is not set"):
        ai.sql("SELECT ai_query('keyless', 'x') AS r").collect()
