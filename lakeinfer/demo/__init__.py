"""The end-to-end demo: sample Delta tables, the two statements of Databricks' batch-inference
guide run unchanged, answers written back to Delta tables and shown.

The statements live beside this file (``seed_summary.sql``, ``seed_opinion_mining.sql``) exactly
as the guide prints them; the demo only wraps each in ``CREATE OR REPLACE TABLE ... AS``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import pyarrow as pa

from lakeinfer.session import Session

REVIEWS = [
    (
        "B-100",
        "The blender is powerful and crushed ice in seconds, but it is so loud that my dog "
        "leaves the room. The lid is hard to remove. For the price it is a decent deal.",
    ),
    ("B-100", "Stopped working after two weeks. Customer service never answered my emails. Avoid."),
    (
        "K-220",
        "This kettle boils water really fast and the auto shut-off gives me peace of mind. "
        "The handle gets a bit warm though.",
    ),
    (
        "K-220",
        "Beautiful design, matches my kitchen perfectly. The water tastes like plastic for "
        "the first few days.",
    ),
    (
        "V-310",
        "The vacuum picks up pet hair like a champ. Battery lasts about 40 minutes, enough "
        "for the whole apartment. Emptying the bin is messy.",
    ),
    ("V-310", "Overpriced for what it does. The charging dock is flimsy and fell apart."),
    (
        "C-450",
        "Coffee comes out hot and strong. Setting the timer is confusing, the manual does "
        "not help at all.",
    ),
    (
        "C-450",
        "Excellent machine. Easy to clean, quick, and the support team replaced a cracked "
        "carafe for free.",
    ),
    (
        "T-510",
        "The toaster browns unevenly: one side burnt, the other pale. It looks nice on the "
        "counter, I guess.",
    ),
    ("T-510", "Simple and reliable. Two years in and it still works like new."),
    ("M-620", "The microwave's buttons are tiny and hard to read. Heats food evenly."),
    ("M-620", "Great value. Quiet, fast, and the child lock is a nice safety feature."),
]

DOCUMENTS = [
    "Delta Lake is an open-source storage layer that brings ACID transactions to data lakes. "
    "It keeps a transaction log next to Parquet files, so readers always see a consistent "
    "snapshot and writers can update tables safely at the same time.",
    "DuckDB is an in-process analytical database. It runs inside the application, needs no "
    "server, and executes SQL over columnar data with vectorized operators, which makes it fast "
    "for analytics on a laptop.",
    "Batch inference applies a trained model to many inputs at once. Throughput depends on "
    "keeping the model server busy: sending requests concurrently, reusing connections and "
    "caching shared prompt prefixes matter more than the speed of a single request.",
]

SETUP = """
CREATE CATALOG IF NOT EXISTS uc_catalog;
CREATE SCHEMA IF NOT EXISTS uc_catalog.schema;
CREATE OR REPLACE TABLE uc_catalog.schema.table (id INT, text STRING);
CREATE CATALOG IF NOT EXISTS catalog;
CREATE SCHEMA IF NOT EXISTS catalog.schema;
CREATE OR REPLACE TABLE catalog.schema.product_reviews
  (review_id INT, product_id STRING, REVIEW_TEXT STRING);
"""

OUTPUTS = {
    "seed_summary.sql": "main.default.text_summaries",
    "seed_opinion_mining.sql": "main.default.review_opinions",
}


def seed_statement(name: str) -> str:
    """The text of one of the guide's statements, as shipped."""
    return resources.files(__package__).joinpath(name).read_text()


def create_sample_tables(session: Session) -> None:
    """(Re)create the two sample input tables with a few rows each."""
    session.sql(SETUP)
    session.catalog.write(
        session.catalog.qualify(["uc_catalog", "schema", "table"], session.namespace),
        pa.table({"id": pa.array(range(1, len(DOCUMENTS) + 1), pa.int32()), "text": DOCUMENTS}),
        "append",
    )
    session.catalog.write(
        session.catalog.qualify(["catalog", "schema", "product_reviews"], session.namespace),
        pa.table(
            {
                "review_id": pa.array(range(1, len(REVIEWS) + 1), pa.int32()),
                "product_id": [p for p, _ in REVIEWS],
                "REVIEW_TEXT": [t for _, t in REVIEWS],
            }
        ),
        "append",
    )


def run_demo(
    session: Session, show: Callable[[pa.Table], None], say: Callable[[str], None] | None = None
) -> None:
    """Create the inputs, run both statements into Delta tables, and ``show`` the results."""
    say = say or (lambda message: None)
    create_sample_tables(session)
    say("created uc_catalog.schema.table (3 rows) and catalog.schema.product_reviews (12 rows)")
    for file, target in OUTPUTS.items():
        statement = seed_statement(file).strip().rstrip(";")
        say(f"running {file} into {target} ...")
        session.sql(f"CREATE OR REPLACE TABLE {target} AS\n{statement}")
        stats = session.last_stats
        if stats is not None:
            say("  " + stats.summary())
        show(session.sql(f"SELECT * FROM {target}").to_arrow())
