"""ai_query in PySpark: SQL and DataFrame forms, named arguments, signatures, dedup, cache."""

from __future__ import annotations

import pytest
from pyspark.errors import PythonException
from pyspark.sql import functions as F

import lakeinfer.spark
from lakeinfer.errors import AnalysisError, UnknownEndpointError
from tests.spark.conftest import chat_endpoint


@pytest.fixture
def ai(spark, fake_server, tmp_path):
    ai = lakeinfer.spark.register(
        spark,
        home=tmp_path / "lakehouse",
        endpoints={
            "chat": chat_endpoint(fake_server, max_retries=0),
            "emb": chat_endpoint(fake_server, task="embeddings"),
        },
    )
    return ai


@pytest.fixture
def reviews(spark):
    rows = [(1, "good"), (2, "bad"), (3, "good"), (4, None), (5, "good")]
    df = spark.createDataFrame(rows, "id INT, text STRING").repartition(1)
    df.createOrReplaceTempView("reviews")
    return df


def test_sql_form_answers_each_row_and_dedups_requests(ai, spark, reviews, fake_server):
    rows = spark.sql("SELECT id, ai_query('chat', text) AS r FROM reviews ORDER BY id").collect()
    assert [r.r for r in rows] == ["echo: good", "echo: bad", "echo: good", None, "echo: good"]
    # one partition: 'good' x3 costs one call, NULL none
    assert fake_server.stats()["chat"] == 2


def test_response_cache_makes_a_rerun_free(ai, spark, reviews, fake_server):
    query = "SELECT id, ai_query('chat', text) AS r FROM reviews ORDER BY id"
    first = spark.sql(query).collect()
    assert fake_server.stats()["chat"] == 2
    assert spark.sql(query).collect() == first
    assert fake_server.stats()["chat"] == 2


def test_expr_and_select_expr_with_named_arguments(ai, spark, reviews, fake_server):
    by_expr = reviews.where("id < 3").select(
        "id", F.expr("ai_query(request => concat('Say: ', text), endpoint => 'chat')").alias("r")
    )
    assert sorted((r.id, r.r) for r in by_expr.collect()) == [
        (1, "echo: Say: good"),
        (2, "echo: Say: bad"),
    ]
    by_select = reviews.where("id = 2").selectExpr("ai_query('chat', request => text) AS r")
    assert by_select.collect()[0].r == "echo: bad"


def test_model_parameters_and_response_format_reach_the_endpoint(ai, spark, fake_server):
    row = spark.sql(
        "SELECT ai_query('chat', 'hi', modelParameters => named_struct('temperature', 0.5, "
        "'max_tokens', 7), responseFormat => 'STRUCT<label: STRING>') AS r"
    ).collect()[0]
    assert row.r == '{"label": "hi"}'
    body = fake_server.stats()["bodies"][0]
    assert body["temperature"] == 0.5 and body["max_tokens"] == 7
    assert body["response_format"]["type"] == "json_schema"


def test_fail_on_error_false_gives_the_struct(ai, spark, fake_server):
    table = ai.sql(
        "SELECT k, ai_query('chat', k, failOnError => false) AS r "
        "FROM VALUES ('ok'), ('x [[status:400]]') AS t(k) ORDER BY k"
    ).collect()
    assert table[0].r.asDict() == {"result": "echo: ok", "errorMessage": None}
    assert table[1].r.result is None and "400" in table[1].r.errorMessage


def test_return_type_casts_and_a_failed_cast_is_the_rows_error(ai, spark, fake_server):
    rows = ai.sql(
        "SELECT ai_query('chat', 'p', returnType => 'STRUCT<label: STRING, score: DOUBLE>', "
        "responseFormat => 'STRUCT<label: STRING, score: DOUBLE>') AS a, "
        "ai_query('chat', 'q', returnType => 'INT', failOnError => false) AS b"
    ).collect()
    assert rows[0].a.asDict() == {"label": "p", "score": 1.5}
    assert rows[0].b.result is None and "cannot cast" in rows[0].b.errorMessage
    schema = ai.sql("SELECT ai_query('chat', 'q', 'INT', false) AS b").schema
    assert schema["b"].dataType.simpleString() == "struct<result:int,errorMessage:string>"


def test_embeddings_get_array_of_float_through_the_rewrite(ai, spark, fake_server):
    df = lakeinfer.spark.sql(spark, "SELECT ai_query('emb', 'text') AS v")
    assert df.schema["v"].dataType.simpleString() == "array<float>"
    assert len(df.collect()[0].v) == 8


def test_plain_expr_with_another_signature_fails_clearly(ai, spark, reviews):
    df = reviews.select(F.expr("ai_query('chat', text, failOnError => false)"))
    with pytest.raises(PythonException) as error:
        df.collect()
    message = str(error.value)
    assert "registered in Spark with returnType => 'STRING', failOnError => true" in message
    assert "lakeinfer.spark.sql" in message


def test_signatures_registered_up_front_work_in_expr(spark, fake_server, tmp_path, reviews):
    lakeinfer.spark.register(
        spark,
        home=tmp_path,
        endpoints={"chat": chat_endpoint(fake_server)},
        signatures={"ai_query_safe": {"failOnError": False}},
    )
    row = reviews.where("id = 1").select(F.expr("ai_query_safe('chat', text)").alias("r")).first()
    assert row.r.asDict() == {"result": "echo: good", "errorMessage": None}
    row = (
        reviews.where("id = 1")
        .select(lakeinfer.spark.expr("ai_query('chat', text, 'INT', false)").alias("r"))
        .first()
    )
    assert "cannot cast" in row.r.errorMessage


def test_fail_on_error_true_fails_the_query_naming_endpoint(ai, spark):
    with pytest.raises(PythonException) as error:
        spark.sql("SELECT ai_query('chat', 'boom [[status:400]]') AS r").collect()
    assert "endpoint 'chat' failed" in str(error.value)


def test_rewrite_checks_arguments_on_the_driver(ai, spark):
    with pytest.raises(UnknownEndpointError, match="did you mean 'chat'"):
        ai.sql("SELECT ai_query('chta', 'x', failOnError => false)")
    with pytest.raises(AnalysisError, match="line 2.*failOnError must be TRUE or FALSE"):
        ai.sql("SELECT 1,\n ai_query('chat', 'x', failOnError => 'no')")
    assert ai.rewrite("SELECT ai_query('chat', ai_query('chat', x)) FROM t") == (
        "SELECT ai_query('chat', ai_query('chat', x)) FROM t"
    )


def test_no_pandas_version_warning_from_pyspark_on_the_pinned_versions():
    import subprocess
    import sys

    script = (
        "import lakeinfer.spark\n"
        "from pyspark.sql.pandas.utils import require_minimum_pandas_version\n"
        "require_minimum_pandas_version()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "does not yet fully support pandas" not in done.stderr
