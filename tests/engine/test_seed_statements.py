"""The two statements of Databricks' batch-inference guide run unchanged."""

from __future__ import annotations

import lakeinfer
from lakeinfer.demo import OUTPUTS, create_sample_tables, seed_statement
from tests.conftest import configure

SUMMARY_ENDPOINT = "databricks-meta-llama-3-1-8b-instruct"
OPINION_ENDPOINT = "databricks-meta-llama-3-3-70b-instruct"


def test_seed_statements_run_unchanged_and_write_back(home, fake_server):
    configure(home, fake_server, **{SUMMARY_ENDPOINT: {}, OPINION_ENDPOINT: {}})
    with lakeinfer.connect(home, progress=False) as session:
        create_sample_tables(session)

        summary = session.sql(seed_statement("seed_summary.sql")).to_pylist()
        assert len(summary) == 3
        assert all(row["summary"].startswith("echo: Summarize the given text") for row in summary)
        assert all(row["text"] in row["summary"] for row in summary)

        opinions = session.sql(seed_statement("seed_opinion_mining.sql")).to_arrow()
        assert opinions.num_rows == 10  # LIMIT 10 of 12 reviews
        assert opinions.column_names == ["review_id", "product_id", "REVIEW_TEXT", "result"]
        first = opinions.to_pylist()[0]
        assert first["result"].startswith("echo: You are an opinion mining service.")
        assert first["result"].endswith(first["REVIEW_TEXT"] + "\n\nRESULT\n")  # '\n' decoded
        assert fake_server.stats()["chat"] == 3 + 10

        for file, target in OUTPUTS.items():
            statement = seed_statement(file).strip().rstrip(";")
            session.sql(f"CREATE OR REPLACE TABLE {target} AS\n{statement}")
        written = session.sql("SELECT count(*) AS n FROM main.default.review_opinions").to_pylist()
        assert written == [{"n": 10}]
