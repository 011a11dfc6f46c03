"""One SparkSession on ``local[2]`` for every Spark test (it takes seconds to start).

The executors' environment is fixed when the JVM starts, so the secret the key test reads on
the workers is put into the environment before the session is built.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a JDK", allow_module_level=True)

SECRET_ENV = "LAKEINFER_SPARK_TEST_KEY"
SECRET = "sk-spark-test-4f1c9a7e"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    import lakeinfer.spark

    os.environ[SECRET_ENV] = SECRET
    session = lakeinfer.spark.session("local[2]", "lakeinfer-tests")
    try:
        yield session
    finally:
        session.stop()


def chat_endpoint(server: Any, **fields: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "model": "fake", **fields}
