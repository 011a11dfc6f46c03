"""Checkpoints belong to the lakehouse they write into, stay inside it, and a checkpoint that
does not match its tables' history stops the stream instead of skipping rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer import functions as F
from lakeinfer.catalog.delta_catalog import TableName
from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.errors import JobConfigError, StreamingError
from lakeinfer.pipelines.job_runner import JobRunner
from lakeinfer.pipelines.jobs import load_job
from tests.conftest import configure

TARGET = TableName("main", "default", "answers")
SOURCE = TableName("main", "default", "docs")
JOB = """name: answer_docs
parameters: {{name: answers}}
tasks:
  - task_key: answer
    stream:
      query: SELECT id, ai_query('chat', text) AS answer FROM STREAM(main.default.docs)
      target: main.default.answers
{checkpoint}
"""


def stream_checkpoint(*args):
    from lakeinfer.pipelines.locations import stream_checkpoint

    return stream_checkpoint(*args)


def find_checkpoints(home: Path) -> list[tuple[str, Path]]:
    from lakeinfer.pipelines.locations import find_checkpoints

    return find_checkpoints(home)


def _docs(home: Path, server, ids: range) -> None:
    configure(home, server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE IF NOT EXISTS docs (id INT, text STRING)")
        values = ", ".join(f"({i}, 'doc {i}')" for i in ids)
        session.sql(f"INSERT INTO docs VALUES {values}")


def _answers(home: Path) -> list[int]:
    with lakeinfer.connect(home, progress=False) as session:
        rows = session.sql("SELECT id FROM answers ORDER BY id").to_pylist()
    return [r["id"] for r in rows]


def _job(folder: Path, checkpoint: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yml"
    path.write_text(JOB.format(checkpoint=f"      checkpoint: {checkpoint}" if checkpoint else ""))
    return path


def _stream(home: Path, checkpoint: Path) -> None:
    """The stream of the job, run through the Python API on an explicit checkpoint."""
    with lakeinfer.connect(home, progress=False) as session:
        (
            session.readStream.table("docs")
            .select("id", F.expr("ai_query('chat', text)").alias("answer"))
            .writeStream.option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .toTable("answers")
            .awaitTermination()
        )


# -- a job's checkpoints are the lakehouse's -------------------------------------------------
@pytest.mark.parametrize("checkpoint", ["", "checkpoints/answers"])
def test_the_same_job_against_a_second_lakehouse_writes_every_row_there(
    tmp_path, fake_server, checkpoint
):
    job_file = _job(tmp_path / "jobs", checkpoint)
    for home in (tmp_path / "first", tmp_path / "second"):
        _docs(home, fake_server, range(1, 6))
        run = JobRunner(home).run(load_job(job_file))
        assert run.ok, run.error
        assert _answers(home) == [1, 2, 3, 4, 5]
        key = checkpoint or "main.default.docs"
        folder = home / "_checkpoints" / "main" / "default" / "answers" / key
        assert find_checkpoints(home) == [("main.default.answers", folder)]
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == ["job.yml"]
    assert fake_server.stats()["chat"] == 10


def test_a_checkpoint_left_next_to_the_job_file_is_taken_only_by_its_own_lakehouse(
    tmp_path, fake_server
):
    """Where job checkpoints used to be kept: the lakehouse whose target holds its batches
    takes it over (no row answered twice); another lakehouse starts its own."""
    jobs = tmp_path / "jobs"
    job_file = _job(jobs, "ckpt")
    first, second = tmp_path / "first", tmp_path / "second"
    _docs(first, fake_server, range(1, 4))
    _stream(first, jobs / "ckpt")
    _docs(first, fake_server, range(4, 6))
    assert JobRunner(first).run(load_job(job_file)).ok
    assert _answers(first) == [1, 2, 3, 4, 5]
    assert fake_server.stats()["chat"] == 5
    _docs(second, fake_server, range(1, 6))
    assert JobRunner(second).run(load_job(job_file)).ok
    assert _answers(second) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "name",
    ["..", "../../outside", "a/../../b", "/tmp/elsewhere", "~/x", "", ".hidden", "a//b",
     "a\\b", "offsets", "a/commits", "x\x00y", "a" * 300, "a b"],
)  # fmt: skip
def test_checkpoint_names_cannot_leave_the_lakehouse(tmp_path, name):
    with pytest.raises(StreamingError, match="checkpoint name"):
        stream_checkpoint(tmp_path, TARGET, SOURCE, name)
    if "\x00" not in name:
        path = _job(tmp_path / "jobs", json.dumps(name))
        with pytest.raises(JobConfigError, match=r"line 8: tasks\[answer\].stream.checkpoint"):
            load_job(path)


def test_names_that_stay_inside_are_folders_below_the_target(tmp_path):
    folder = tmp_path / "_checkpoints" / "main" / "default" / "answers"
    assert stream_checkpoint(tmp_path, TARGET, SOURCE) == folder / "main.default.docs"
    assert stream_checkpoint(tmp_path, TARGET, SOURCE, "daily/v2") == folder / "daily" / "v2"
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "_checkpoints").mkdir()
    (tmp_path / "_checkpoints" / "main").symlink_to(outside)
    with pytest.raises(StreamingError, match="would lie outside"):
        stream_checkpoint(tmp_path, TARGET, SOURCE, "answers")


def test_a_parameter_cannot_lead_a_job_checkpoint_out_of_the_lakehouse(tmp_path, fake_server):
    home = tmp_path / "lakehouse"
    _docs(home, fake_server, range(1, 3))
    run = JobRunner(home).run(load_job(_job(tmp_path / "jobs", "'{{name}}'")), {"name": "../x"})
    assert not run.ok
    assert "checkpoint name '../x'" in run.attempts[0].error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs", "lakehouse"]
    assert fake_server.stats()["chat"] == 0


def test_two_streams_of_a_job_into_one_table_need_their_own_checkpoints(tmp_path):
    path = tmp_path / "job.yml"
    stream = "stream: {query: 'SELECT * FROM STREAM(docs)', target: out}"
    path.write_text(
        f"name: j\ntasks:\n  - task_key: a\n    {stream}\n  - task_key: b\n    {stream}\n"
    )
    with pytest.raises(JobConfigError, match=r"line 6: tasks\[b\].stream: task a streams into"):
        load_job(path)


# -- a checkpoint must match its tables --------------------------------------------------------
def _refused(home: Path, checkpoint: Path, *expected: str) -> str:
    with pytest.raises(StreamingError) as caught:
        _stream(home, checkpoint)
    message = str(caught.value)
    for part in (str(checkpoint), "delete the checkpoint", *expected):
        assert part in message, message
    return message


def test_a_checkpoint_from_another_lakehouse_is_an_error(tmp_path, fake_server):
    checkpoint = tmp_path / "ckpt"
    first, second = tmp_path / "first", tmp_path / "second"
    _docs(first, fake_server, range(1, 4))
    _stream(first, checkpoint)
    _docs(second, fake_server, range(1, 4))
    _refused(second, checkpoint, "source table main.default.docs", "another lakehouse")
    # an older checkpoint (no table ids recorded): the target's history tells
    metadata = Checkpoint(checkpoint).metadata()
    del metadata["sourceTableId"], metadata["sinkTableId"]
    (checkpoint / "metadata").write_text(json.dumps(metadata))
    _refused(second, checkpoint, "main.default.answers", "does not exist")
    with lakeinfer.connect(second, progress=False) as session:
        session.sql("CREATE TABLE answers (id INT, answer STRING)")
    _refused(second, checkpoint, "main.default.answers", "has no commit of this stream")
    assert _answers(second) == []
    assert fake_server.stats()["chat"] == 3


def test_a_recreated_or_older_target_is_an_error(tmp_path, fake_server):
    home, checkpoint = tmp_path / "lakehouse", tmp_path / "ckpt"
    _docs(home, fake_server, range(1, 4))
    _stream(home, checkpoint)
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    _docs(home, fake_server, range(4, 6))
    _stream(home, checkpoint)
    assert _answers(home) == [1, 2, 3, 4, 5]
    _refused(home, copy, "main.default.answers holds batch 1", "older than the table")
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("DROP TABLE answers")
    _refused(home, checkpoint, "records batches 0 to 1", "does not exist")
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE answers (id INT, answer STRING)")
    _refused(home, checkpoint, "re-created")
    shutil.rmtree(checkpoint)  # the fix the error names: start over
    _stream(home, checkpoint)
    assert _answers(home) == [1, 2, 3, 4, 5]
    assert fake_server.stats()["chat"] == 5  # the answers came from the cache
