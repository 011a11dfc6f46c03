"""The shipped product-review pipeline (examples/review_pipeline), run as a job through the CLI
and as a stream, against the fake OpenAI server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.pipelines.job_runner import JobRunner
from lakeinfer.pipelines.jobs import load_job
from tests.conftest import configure

EXAMPLE = Path(__file__).parents[2] / "examples" / "review_pipeline"
OPINIONS_PER_ANSWER = 3  # the fake server echoes the prompt: its few-shot example's opinions


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def example(tmp_path: Path, home: Path, fake_server) -> Path:
    folder = tmp_path / "review_pipeline"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("checkpoints", "__pycache__"))
    with open(folder / "reviews.csv", "a") as csv:
        csv.write('9,kettle,"[[status:500]] the model fails on this one"\n')
    configure(home, fake_server, llm={"max_retries": 0})
    return folder


def _tables(home: Path) -> dict[str, list]:
    with lakeinfer.connect(home, progress=False) as session:
        return {
            name: session.sql(query).to_pylist()
            for name, query in {
                "opinions": "SELECT review_id, count(*) AS n, min(sentiment) AS s "
                "FROM main.reviews.opinions GROUP BY review_id ORDER BY review_id",
                "errors": "SELECT review_id, error FROM main.reviews.errors",
                "answers": "SELECT count(*) AS n FROM main.reviews.answers",
            }.items()
        }


def test_the_example_job_runs_incrementally(example, home, fake_server):
    result = _cli(home, "jobs", "run", str(example / "job.yml"), "--param", "endpoint=llm")
    assert result.returncode == 0, result.stderr
    assert "job review_pipeline run" in result.stderr and "SUCCEEDED" in result.stderr
    tables = _tables(home)
    answered = [1, 2, 3, 4, 5, 7, 8]  # review 6 is empty: dropped by preprocessing
    assert [r["review_id"] for r in tables["opinions"]] == answered
    assert {r["n"] for r in tables["opinions"]} == {OPINIONS_PER_ANSWER}
    assert [r["review_id"] for r in tables["errors"]] == [9]
    assert "HTTP 500" in tables["errors"][0]["error"]
    assert fake_server.stats()["chat"] == 8

    with open(example / "reviews.csv", "a") as csv:
        csv.write('10,toaster,"Works, but the timer dial is vague."\n')
    run = JobRunner(home).run(load_job(example / "job.yml"), {"endpoint": "llm"})
    assert run.ok, run.error
    tables = _tables(home)
    assert [r["review_id"] for r in tables["opinions"]] == [*answered, 10]
    assert tables["answers"] == [{"n": 9}]
    assert fake_server.stats()["chat"] == 9  # only the new review was sent
    with lakeinfer.connect(home, progress=False) as session:
        statuses = session.sql("SELECT status FROM system.lakeflow.job_runs").to_pylist()
    assert statuses == [{"status": "SUCCEEDED"}] * 2


def test_the_example_stream_answers_each_review_once(example, home, fake_server):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    command = [
        sys.executable,
        str(example / "stream.py"),
        "--home",
        str(home),
        "--endpoint",
        "llm",
        "--available-now",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("stream stopped")
    tables = _tables(home)
    assert [r["review_id"] for r in tables["opinions"]] == [1, 2, 3, 4, 5, 7, 8]
    assert [r["review_id"] for r in tables["errors"]] == [9]
    assert fake_server.stats()["chat"] == 8


def test_the_example_job_fills_a_second_lakehouse_too(example, home, fake_server, tmp_path):
    """Its checkpoints are each lakehouse's own: the second one gets every row, not 0."""
    second = tmp_path / "second"
    configure(second, fake_server, llm={"max_retries": 0})
    for lakehouse in (home, second):
        result = _cli(lakehouse, "jobs", "run", str(example / "job.yml"), "--param", "endpoint=llm")
        assert result.returncode == 0, result.stderr
        tables = _tables(lakehouse)
        assert [r["review_id"] for r in tables["opinions"]] == [1, 2, 3, 4, 5, 7, 8]
        assert tables["answers"] == [{"n": 8}]
    assert not (example / "checkpoints").exists()


def test_the_example_job_runs_from_relative_paths(example, home, fake_server):
    """As the README writes it: `lakeinfer --home ./lh jobs run folder/job.yml`, both paths
    relative to where the command runs (tasks run in the job's folder)."""
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    command = [sys.executable, "-m", "lakeinfer.cli", "--home", home.name]
    command += ["jobs", "run", f"{example.name}/job.yml", "--param", "endpoint=llm"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, cwd=home.parent
    )
    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED" in result.stderr
    assert [r["review_id"] for r in _tables(home)["opinions"]] == [1, 2, 3, 4, 5, 7, 8]
    assert not (example / home.name).exists()  # the lakehouse is where --home said
