"""`lakeinfer serve`: the official openai client and Databricks requests against local endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.endpoints.sentence_transformers import embedded_model_path, load_model
from lakeinfer.errors import ConfigError
from lakeinfer.serving.server import InferenceServer, is_loopback

EMBEDDINGS = "databricks-gte-large-en"
SERVED = ["chat", EMBEDDINGS, "double"]


@pytest.fixture
def session(home, fake_server):
    save_config(
        home,
        LakeinferConfig(
            endpoints={"chat": make_endpoint(base_url=fake_server.base_url, model="fake")}
        ),
    )
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        s.register_function(
            "double",
            lambda r: r["x"] * 2 if isinstance(r, dict) else r * 2,
            return_type="DOUBLE",
        )
        yield s


@pytest.fixture
def server(session):
    with InferenceServer(session, port=0, names=SERVED) as running:
        yield running


def post(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_openai_client_lists_chats_completes_and_embeds(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.token, max_retries=0)
    assert server.url.startswith("http://127.0.0.1:")
    assert sorted(m.id for m in client.models.list()) == sorted(SERVED)

    chat = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hello there"}], max_tokens=8
    )
    assert chat.choices[0].message.content == "echo: hello there"
    assert chat.usage is not None and chat.usage.prompt_tokens == 2

    completion = client.completions.create(model="chat", prompt=["one", "two"])
    assert [c.text for c in completion.choices] == ["echo: one", "echo: two"]

    texts = ["a kettle that boils fast", "a broken toaster", "hello"]
    embedded = client.embeddings.create(model=EMBEDDINGS, input=texts)
    vectors = np.array([d.embedding for d in sorted(embedded.data, key=lambda d: d.index)])
    expected = load_model(str(embedded_model_path())).encode(texts)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_wrong_task_or_unknown_model_is_a_clear_client_error(server):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.token, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="is a chat endpoint; it does not serve"):
        client.embeddings.create(model="chat", input="x")
    with pytest.raises(openai.NotFoundError, match="endpoint not found: 'chta'"):
        client.chat.completions.create(model="chta", messages=[{"role": "user", "content": "x"}])


def test_databricks_invocations_take_records_and_inputs(server):
    url, token = server.url + "/serving-endpoints/double/invocations", server.token
    assert post(url, {"dataframe_records": [{"x": 1.5}, {"x": 2}]}, token) == (
        200,
        {"predictions": [3.0, 4]},
    )
    assert post(url, {"dataframe_split": {"columns": ["x"], "data": [[5]]}}, token) == (
        200,
        {"predictions": [10]},
    )
    assert post(url, {"inputs": [1, 2, 3]}, token) == (200, {"predictions": [2, 4, 6]})
    status, body = post(url, {"records": []}, token)
    assert status == 400 and "expected one of 'dataframe_records'" in body["message"]
    status, body = post(
        server.url + f"/serving-endpoints/{EMBEDDINGS}/invocations", {"input": ["hi"]}, token
    )
    assert status == 200 and len(body["data"][0]["embedding"]) == 384


def test_databricks_serving_provider_calls_a_served_model(server, tmp_path, monkeypatch):
    """ai_query against a custom serving endpoint over HTTP: records in, predictions out."""
    monkeypatch.setenv("SERVE_TOKEN", server.token)
    home = tmp_path / "client"
    save_config(
        home,
        LakeinferConfig(
            endpoints={
                "remote": make_endpoint(
                    provider="databricks",
                    base_url=server.url,
                    model="double",
                    api_key_env="SERVE_TOKEN",
                )
            }
        ),
    )
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as client:
        client.sql("CREATE TABLE t (id INT, x DOUBLE)")
        client.sql("INSERT INTO t VALUES (1, 1.5), (2, 4), (3, NULL)")
        rows = client.sql(
            "SELECT id, ai_query('remote', named_struct('x', x), returnType => 'DOUBLE', "
            "failOnError => false) AS r, "
            "ai_query('remote', id, returnType => 'INT') AS s FROM t ORDER BY id"
        ).to_pylist()
        stats = client.last_stats
        with pytest.raises(lakeinfer.AnalysisError, match="returnType is required"):
            client.sql("SELECT ai_query('remote', x) FROM t").to_arrow()
        failed = client.sql(
            "SELECT ai_query('remote', id, returnType => 'BOOLEAN', failOnError => false) AS r "
            "FROM t WHERE id = 2"
        ).to_pylist()
    assert [(r["r"]["result"], r["s"]) for r in rows] == [(3.0, 2), (8.0, 4), (None, 6)]
    # the record with x = NULL fails on the server: the batch is asked again row by row,
    # and only that row gets the error
    assert "HTTP 400" in rows[2]["r"]["errorMessage"]
    assert "unsupported operand" in rows[2]["r"]["errorMessage"]
    assert rows[0]["r"]["errorMessage"] is None
    assert stats is not None and stats.ai.calls == 2  # one batched call per call site
    assert failed == [
        {"r": {"result": None, "errorMessage": "cannot cast the model's answer 4 to BOOLEAN"}}
    ]


def test_a_token_is_required_when_set_and_off_loopback(session):
    with pytest.raises(
        ConfigError, match="refusing to serve the endpoints on 0.0.0.0 without a token"
    ):
        InferenceServer(session, host="0.0.0.0", port=0, require_token=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with InferenceServer(session, port=0, token="s3cret", names=["chat"]) as server:
        refused = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            refused.models.list()
        status, _ = post(server.url + "/serving-endpoints/chat/invocations", {"prompt": "x"})
        assert status == 401
        allowed = openai.OpenAI(base_url=server.url + "/v1", api_key="s3cret", max_retries=0)
        assert [m.id for m in allowed.models.list()] == ["chat"]
        assert (
            post(server.url + "/serving-endpoints/chat/invocations", {"prompt": "x"}, "s3cret")[1][
                "choices"
            ][0]["message"]["content"]
            == "echo: x"
        )


def test_databricks_names_route_to_a_workspace_when_credentials_are_set(
    session, server, tmp_path, monkeypatch
):
    """With DATABRICKS_HOST/TOKEN, the embedding name goes over HTTP to the workspace (here a
    lakeinfer server standing in for one) instead of the embedded model."""
    session.registry.get(EMBEDDINGS)  # the serving side answers with its own embedded model
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", server.token)
    notices: list[str] = []
    with lakeinfer.connect(tmp_path / "client", notice=notices.append, progress=False) as client:
        row = client.sql(f"SELECT ai_query('{EMBEDDINGS}', 'hello') AS v").to_pylist()[0]
        stats = client.last_stats
    expected = load_model(str(embedded_model_path())).encode(["hello"])[0]
    np.testing.assert_allclose(row["v"], expected, atol=1e-5)
    assert notices == [
        f"endpoint '{EMBEDDINGS}' is answered by the Databricks workspace {server.url}"
    ]
    assert stats is not None and stats.ai.calls == 1
