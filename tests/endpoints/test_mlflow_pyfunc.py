"""MLflow pyfunc models logged in the test answer ai_query; the signature gives the type."""

from __future__ import annotations

import warnings

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.errors import AnalysisError, EndpointError

mlflow = pytest.importorskip("mlflow.pyfunc")


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # MLflow advises type hints on predict; signatures suffice

    class Price(mlflow.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input["a"] * 2 + model_input["b"]

    class Shout(mlflow.PythonModel):
        def predict(self, context, model_input, params=None):
            return [str(v).upper() + "!" for v in model_input.iloc[:, 0]]


@pytest.fixture(scope="module")
def model_uris(tmp_path_factory):
    import mlflow as mlflow_root
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    root = tmp_path_factory.mktemp("mlflow") / "mlruns"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow_root.set_tracking_uri(root.as_uri())
        signature = ModelSignature(
            inputs=Schema([ColSpec("double", "a"), ColSpec("double", "b")]),
            outputs=Schema([ColSpec("double")]),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's advice on type hints and input examples
            with mlflow_root.start_run():
                price = mlflow.log_model(name="price", python_model=Price(), signature=signature)
            shout_dir = root / "shout"
            mlflow.save_model(str(shout_dir), python_model=Shout())
        yield {"price": price.model_uri, "shout": str(shout_dir), "tracking": root.as_uri()}
        mlflow_root.set_tracking_uri("")


@pytest.fixture
def session(home, model_uris, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", model_uris["tracking"])
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    save_config(
        home,
        LakeinferConfig(
            endpoints={
                "price": make_endpoint(provider="mlflow", model_uri=model_uris["price"]),
                "shout": make_endpoint(provider="mlflow", model_uri=model_uris["shout"]),
            }
        ),
    )
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        s.sql("CREATE TABLE t (id INT, a DOUBLE, b DOUBLE, word STRING)")
        s.sql("INSERT INTO t VALUES (1, 1, 2, 'hi'), (2, 3, 1, 'yo'), (3, 0.5, 0, 'hi')")
        yield s


def test_signature_gives_the_return_type_and_records_go_in_one_batch(session):
    table = session.sql(
        "SELECT id, ai_query('price', named_struct('a', a, 'b', b)) AS p FROM t ORDER BY id"
    ).to_arrow()
    assert table.column("p").to_pylist() == [4.0, 7.0, 1.0]
    assert str(table.schema.field("p").type) == "double"
    assert session.last_stats is not None and session.last_stats.ai.calls == 1


def test_wrong_struct_fields_are_row_errors_naming_the_signature(session):
    rows = session.sql(
        "SELECT ai_query('price', named_struct('a', a, 'c', b), failOnError => false) AS p "
        "FROM t WHERE id = 1"
    ).to_pylist()
    assert rows[0]["p"]["result"] is None
    assert rows[0]["p"]["errorMessage"].startswith(
        "the request's fields (a, c) do not match the model signature's inputs "
        "(a: DOUBLE, b: DOUBLE): missing b; unexpected c"
    )
    with pytest.raises(EndpointError, match=r"'price' failed \(row 1\): the request's fields"):
        session.sql("SELECT ai_query('price', named_struct('a', a)) FROM t").to_arrow()


def test_model_without_signature_needs_a_return_type(session):
    with pytest.raises(AnalysisError, match="'shout' serves a custom model without a signature"):
        session.sql("SELECT ai_query('shout', word) FROM t").to_arrow()
    rows = session.sql(
        "SELECT ai_query('shout', word, returnType => 'STRING') AS s FROM t ORDER BY id"
    ).to_pylist()
    assert [r["s"] for r in rows] == ["HI!", "YO!", "HI!"]
