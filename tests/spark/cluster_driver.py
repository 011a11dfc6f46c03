"""A Spark driver process for the cluster tests, so a test can kill it midway.

    python tests/spark/cluster_driver.py MASTER HOME roundtrip
    python tests/spark/cluster_driver.py MASTER HOME slow-append TABLE
    python tests/spark/cluster_driver.py MASTER HOME stream SOURCE SINK CHECKPOINT [once]

Each prints JSON lines on stdout as it goes.
"""

from __future__ import annotations

import json
import sys
import time

import lakeinfer.spark
from lakeinfer.errors import TableExistsError


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    master, home, mode, *args = sys.argv[1:]
    spark = lakeinfer.spark.session(
        master, f"lakeinfer-test-{mode}", **{"spark.executor.memory": "512m"}
    )
    say(started=True)

    def read(name: str, **options: str):
        reader = spark.read.format("lakeinfer").option("home", home)
        for key, value in options.items():
            reader = reader.option(key, value)
        return reader.load(name)

    def write(df, name: str, mode: str) -> None:
        df.write.format("lakeinfer").option("home", home).mode(mode).save(name)

    if mode == "roundtrip":
        df = read("main.default.reviews")
        pruned = read("main.default.reviews", columns="id")
        old = read("main.default.reviews", versionAsOf="1")
        say(
            partitions=df.rdd.getNumPartitions(),
            rows=sorted(r.id for r in df.collect()),
            pruned=pruned.columns,
            old=sorted(r.id for r in old.collect()),
        )
        write(df.where("id <= 2"), "main.default.copy", "errorifexists")
        write(df.where("id > 2"), "main.default.copy", "append")
        try:
            write(df, "main.default.copy", "errorifexists")
        except TableExistsError as exc:
            say(refused=str(exc))
        write(df.where("id = 1"), "main.default.copy", "overwrite")
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        say(done=True, executors=executors)
    elif mode == "slow-append":
        (name,) = args

        def slow(rows):
            for row in rows:
                time.sleep(0.5)
                yield row

        rdd = read(name).rdd.flatMap(lambda r: [r] * 20).repartition(4).mapPartitions(slow)
        say(writing=True)
        write(spark.createDataFrame(rdd, read(name).schema), name, "append")
        say(done=True)
    elif mode == "stream":
        source, sink, checkpoint, *once = args
        reader = spark.readStream.format("lakeinfer").option("home", home)
        writer = (
            reader.option("maxFilesPerTrigger", "1").load(source)
            .writeStream.format("lakeinfer").option("home", home)
            .option("checkpointLocation", checkpoint)
        )  # fmt: skip
        if once:
            writer.trigger(availableNow=True).start(sink).awaitTermination()
        else:
            query = writer.trigger(processingTime="1 second").start(sink)
            say(streaming=True)
            query.awaitTermination()
        say(done=True)
    spark.stop()


if __name__ == "__main__":
    main()
