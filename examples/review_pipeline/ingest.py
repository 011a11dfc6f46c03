"""Ingest: append the CSV's reviews that the raw table does not hold yet (by review_id).

    python ingest.py --csv reviews.csv --table main.reviews.raw

Run by the job's first task with LAKEINFER_HOME set; appending only new ids keeps the raw
table append-only, so the streams downstream read each review once.
"""

import argparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

import lakeinfer

SCHEMA = pa.schema(
    [("review_id", pa.int64()), ("product", pa.string()), ("review_text", pa.string())]
)


def ingest(session: lakeinfer.Session, csv_path: str, table: str) -> int:
    """Append the rows of ``csv_path`` whose review_id ``table`` lacks; returns their count."""
    rows = csv.read_csv(csv_path, convert_options=csv.ConvertOptions(column_types=SCHEMA))
    catalog_name, schema_name, _ = table.split(".")
    session.sql(f"CREATE SCHEMA IF NOT EXISTS {catalog_name}.{schema_name}")
    session.sql(
        f"CREATE TABLE IF NOT EXISTS {table} (review_id BIGINT, product STRING, review_text STRING)"
    )
    known = session.sql(f"SELECT review_id FROM {table}").to_arrow().column(0)
    new = rows.filter(pc.invert(pc.is_in(rows.column("review_id"), known)))
    if new.num_rows:  # one commit
        session.catalog.write(
            session.catalog.qualify(table.split("."), session.namespace), new, "append"
        )
    return new.num_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", required=True)
    parser.add_argument("--table", required=True)
    args = parser.parse_args()
    with lakeinfer.connect() as session:
        count = ingest(session, args.csv, args.table)
    print(f"ingested {count} new reviews into {args.table}")


if __name__ == "__main__":
    main()
