"""The UDF bodies outside Spark: argument binding, signatures, the per-process runtime."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeinfer.config import LakeinferConfig, make_endpoint
from lakeinfer.errors import AnalysisError
from lakeinfer.spark import worker
from lakeinfer.spark.functions import FUNCTIONS, Signature, ai_query_body
from lakeinfer.spark.shipping import ShippedConfig
from lakeinfer.sql.task_functions import TASK_FUNCTIONS


@pytest.fixture
def shipped(fake_server, tmp_path):
    config = LakeinferConfig(
        endpoints={
            "chat": make_endpoint(base_url=fake_server.base_url, model="m"),
            "emb": make_endpoint(base_url=fake_server.base_url, model="m", task="embeddings"),
        }
    )
    return ShippedConfig.from_config(config, str(tmp_path / "responses.sqlite"))


def test_a_batch_dedups_and_the_runtime_is_reused_across_batches(shipped, fake_server):
    udf = ai_query_body(shipped, Signature(), "ai_query")
    endpoint = pa.array(["chat"] * 4)
    answers = udf(endpoint, pa.array(["a", "b", "a", None]))
    assert answers.to_pylist() == ["echo: a", "echo: b", "echo: a", None]
    assert fake_server.stats()["chat"] == 2
    first = worker.runtime(shipped)
    udf(endpoint, pa.array(["a", "c", "b", "c"]))  # 'a', 'b' from the cache
    assert fake_server.stats()["chat"] == 3
    assert worker.runtime(shipped) is first and first.batches == 2


def test_arguments_must_agree_with_the_signature(shipped):
    udf = ai_query_body(shipped, Signature("STRING", fail_on_error=False), "ai_query_safe")
    rows = pa.array(["x"])
    result = udf(pa.array(["chat"]), rows, returnType=pa.array(["string"]))
    assert result.to_pylist() == [{"result": "echo: x", "errorMessage": None}]
    with pytest.raises(AnalysisError, match="ai_query_safe is registered in Spark with"):
        udf(pa.array(["chat"]), rows, failOnError=pa.array([True]))
    with pytest.raises(AnalysisError, match="cannot take returnType => 'INT'"):
        udf(pa.array(["chat"]), rows, returnType=pa.array(["INT"]))
    with pytest.raises(
        AnalysisError, match="'emb' \\(embeddings endpoint answering ARRAY<FLOAT>\\)"
    ):
        udf(pa.array(["emb"]), rows)
    vectors = ai_query_body(shipped, Signature("ARRAY<FLOAT>"), "ai_vector")
    assert len(vectors(pa.array(["emb"]), rows).to_pylist()[0]) == 8
    with pytest.raises(AnalysisError, match="endpoint must be a constant"):
        udf(pa.array(["chat", "other"]), pa.array(["x", "y"]))


def test_signatures_name_their_spark_type():
    assert Signature().spark_ddl == "STRING"
    safe = Signature.of({"returnType": "INT", "failOnError": False})
    assert safe.spark_ddl == "STRUCT<result: INT, errorMessage: STRING>"
    assert safe.generated_name("ai_query").startswith("ai_query_")
    assert Signature.of({"returnType": "int", "failOnError": False}).generated_name(
        "ai_query"
    ) == safe.generated_name("ai_query")
    with pytest.raises(AnalysisError, match="not modelParameters"):
        Signature.of({"modelParameters": 1})
    assert set(FUNCTIONS) == {"ai_query", "ai_filter", *TASK_FUNCTIONS}
    assert FUNCTIONS["ai_similarity"].default.spark_ddl == "FLOAT"
    assert FUNCTIONS["ai_filter"].default.spark_ddl == "BOOLEAN"


def test_shipped_config_holds_the_variable_name_not_the_key(monkeypatch):
    monkeypatch.setenv("SHIPPED_TEST_KEY", "sk-never-shipped")
    config = LakeinferConfig(
        endpoints={
            "x": make_endpoint(
                base_url="http://127.0.0.1:1/v1", model="m", api_key_env="SHIPPED_TEST_KEY"
            )
        }
    )
    shipped = ShippedConfig.from_config(config, None)
    assert "SHIPPED_TEST_KEY" in shipped.config_json
    assert "sk-never-shipped" not in shipped.config_json
    assert shipped.config().endpoints["x"].api_key() == "sk-never-shipped"
