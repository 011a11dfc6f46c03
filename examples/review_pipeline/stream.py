"""The product-review pipeline as a stream: new reviews are answered as they arrive.

    python stream.py --home ./lakehouse --endpoint my-llm                 # runs until Ctrl-C
    python stream.py --home ./lakehouse --endpoint my-llm --available-now  # what exists, then exit

Each trigger ingests the CSV's new rows, refreshes the cleaned table, lets the inference stream
(``readStream`` ... ``ai_query`` ... ``writeStream``, checkpointed, exactly once) answer the new
reviews, and refreshes the typed opinions and the errors tables. The checkpoint is the
lakehouse's (``<home>/_checkpoints/main/reviews/answers/main.reviews.clean``), the same as the
job's ``infer`` task: the job and the stream go on where either stopped.
"""

import argparse
from pathlib import Path

import sqlglot
from ingest import ingest  # the example's own module, next to this file

import lakeinfer
from lakeinfer import functions as F

HERE = Path(__file__).parent


def inference_columns(endpoint: str) -> list:
    """The SELECT list of infer.sql (the same request the job sends) as Columns."""
    text = (HERE / "infer.sql").read_text().replace("{{endpoint}}", endpoint)
    select = sqlglot.parse_one(text, read="databricks")
    return [F.expr(e.sql(dialect="databricks")) for e in select.expressions]


def refresh(session, csv: str) -> None:
    ingest(session, csv, "main.reviews.raw")
    session.sql((HERE / "preprocess.sql").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--endpoint", default="databricks-meta-llama-3-3-70b-instruct")
    parser.add_argument("--csv", default=str(HERE / "reviews.csv"))
    # default: the lakehouse's own checkpoint of this stream, the one the job uses too
    parser.add_argument("--checkpoint", help="a checkpoint folder outside the lakehouse")
    parser.add_argument("--available-now", action="store_true")
    parser.add_argument("--interval", default="10 seconds")
    args = parser.parse_args()
    with lakeinfer.connect(args.home) as session:
        refresh(session, args.csv)
        trigger = (
            {"availableNow": True} if args.available_now else {"processingTime": args.interval}
        )
        writer = (
            session.readStream.option("maxBytesPerTrigger", "50K")
            .table("main.reviews.clean")
            .select(*inference_columns(args.endpoint))
            .writeStream
        )
        if args.checkpoint:
            writer = writer.option("checkpointLocation", args.checkpoint)
        query = (
            writer.outputMode("append")
            .trigger(**trigger)
            .toTable("main.reviews.answers")
        )
        try:
            while not query.awaitTermination(timeout=5):
                refresh(session, args.csv)
                session.sql((HERE / "postprocess.sql").read_text())
                print(query.lastProgress, flush=True)
        except KeyboardInterrupt:
            query.stop()
        session.sql((HERE / "postprocess.sql").read_text())
        print(f"{query.lastProgress}\nstream stopped", flush=True)


if __name__ == "__main__":
    main()
