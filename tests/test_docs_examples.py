"""Every command block of README.md, docs/*.md and examples/**/*.md runs, so the docs cannot drift.

The convention, for whoever writes docs:

- A block fenced as ``bash``, ``sh`` or ``console`` is a shell block: its commands run with
  ``bash -e`` (the first failing command fails the block; in ``console`` blocks only the lines
  after ``$ `` are commands). A block fenced as ``sql`` is a SQL block: its statements run one by
  one through :meth:`lakeinfer.Session.run_script`, as ``lakeinfer sql -f`` runs them. A block
  fenced as ``python`` runs as a script of this interpreter (a fragment that needs a session or
  Spark of its own says so with ``not run``). Blocks in other languages (``toml``, ``yaml``,
  plain) are not commands and are not collected.
- Each block runs in a fresh temporary folder holding a copy of the *sample home*
  (``./lakehouse``: small sample tables such as ``reviews``, ``docs`` and ``tickets``, and the
  endpoints ``my-llm``, ``judge-llm`` (chat) and ``my-emb``, ``my-embedder``, ``my-embeddings``
  (embeddings) served by the fake OpenAI server), a copy of ``examples/`` and the sample input
  files of ``tests/docs_examples/`` (``pipeline.sql``, ``prompts.jsonl``). The sample home
  configures Databricks' two chat model names on the fake server too, and sends task functions
  and embeddings to ``my-llm`` and ``my-emb`` (``[settings]`` in its ``config.toml``): the
  embedded models are slow on small machines, so only the few blocks below run them.
- ``<!-- docs-test: empty home -->`` right before a block runs it against an empty home instead
  (for blocks that create what the sample home already has; Databricks' model names are then
  answered by the embedded model, as on a fresh install), ``<!-- docs-test: no tables -->``
  against a home with the sample endpoints and settings but no tables; ``<!-- docs-test: continues the
  block above -->`` runs it in the folder of the file's previous block (which ran just before),
  for a block that reads what that one made.
- ``<!-- not run: REASON -->`` right before a block skips it; the reason is shown in the test
  report (``pytest -rs``), so nothing is skipped silently. Use it for installs, servers that run
  until Ctrl-C, clusters and syntax summaries with placeholders.

Each block is one test, named ``file:line`` (the line of its first command).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.config import CONFIG_FILE, LakeinferConfig, make_endpoint, save_config
from lakeinfer.output import render_table
from lakeinfer.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "docs_examples"
SHELL = {"bash", "sh", "console"}
PYTHON = "python"
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->$")
DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(.+?)\s*-->$")
DIRECTIVES = ("empty home", "no tables", "continues the block above")
CHAT_ENDPOINTS = ("my-llm", "judge-llm")
#: configured in the sample home (a user's endpoint of that name wins over the embedded model)
DATABRICKS_CHAT = (
    "databricks-meta-llama-3-1-8b-instruct",
    "databricks-meta-llama-3-3-70b-instruct",
)
EMBEDDING_ENDPOINTS = ("my-emb", "my-embedder", "my-embeddings")


@dataclass(frozen=True)
class Block:
    """One fenced command block of a doc."""

    path: str  # relative to the repository root
    line: int  # of the block's first line
    lang: str
    text: str
    skip: str | None  # the reason it is not run
    home: str  # "sample", "empty home" or "no tables"
    continues: bool  # runs in the folder of the previous block of its file

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("**/*.md")),
    ]


def extract_blocks(path: Path) -> list[Block]:
    """The shell and SQL blocks of one Markdown file, with the markers written above them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        lang = match.group(1).lower()
        if lang in SHELL or lang in ("sql", PYTHON):
            skip, home, continues = None, "sample", False
            k = i - 1
            while k >= 0 and lines[k].startswith("<!--"):  # the markers right above the fence
                if found := NOT_RUN.match(lines[k].strip()):
                    skip = found.group(1)
                elif found := DIRECTIVE.match(lines[k].strip()):
                    directive = found.group(1)
                    assert directive in DIRECTIVES, f"{path}:{k + 1}: unknown {directive!r}"
                    if directive == "continues the block above":
                        continues = True
                    else:
                        home = directive
                k -= 1
            blocks.append(
                Block(
                    str(path.relative_to(ROOT)),
                    i + 2,
                    lang,
                    "\n".join(lines[i + 1 : end]),
                    skip,
                    home,
                    continues,
                )
            )
        i = end + 1
    return blocks


BLOCKS = [block for path in doc_files() for block in extract_blocks(path)]


def _sample_sql() -> str:
    """Small tables the docs' examples read (a few rows each, so AI calls stay few)."""
    months = ", ".join(
        f"(DATE '{2022 + m // 12}-{m % 12 + 1:02d}-01', '{region}', {100 + 5 * m + offset})"
        for m in range(24)
        for region, offset in (("north", 0), ("south", 30))
    )
    return f"""
CREATE TABLE main.default.reviews AS SELECT * FROM VALUES
  (1, 'Great kettle, boils fast.', 'Great kettle, boils fast.', 'kettle'),
  (2, 'Broke in a week.', 'Broke in a week.', 'lamp') AS t(id, text, review, product);
CREATE TABLE main.default.tickets AS SELECT * FROM VALUES
  (1, 'I was charged twice for my subscription this month.') AS t(id, ticket);
CREATE TABLE main.default.people AS SELECT * FROM VALUES
  ('Ann is 34 and a gold member.') AS t(text);
CREATE TABLE main.default.docs AS SELECT * FROM VALUES
  (1, 'A kitten sleeps on the couch.', 'A kitten sleeps on the couch.',
   'Kettle K1, 25.0 EUR, tags: kitchen'),
  (2, 'The parcel arrived two weeks late.', 'The parcel arrived two weeks late.',
   'Lamp L2, 12.5 EUR, tags: light') AS t(id, body, text, prompt);
CREATE TABLE main.default.docs_truth AS SELECT * FROM VALUES
  (1, 'Kettle K1', 25.0, array('kitchen')),
  (2, 'Lamp L2', 12.5, array('light')) AS t(id, name, price, tags);
CREATE TABLE main.default.products AS SELECT * FROM VALUES
  (1, 'Kettle K1', 'An electric kettle', 'Kettle K1 costs 25 EUR, tags: kitchen'),
  (2, 'Lamp L2', 'A desk lamp', 'Lamp L2 costs 12.5 EUR, tags: light')
  AS t(id, name, description, text);
CREATE TABLE main.default.products_truth AS SELECT * FROM VALUES
  (1, 'Kettle K1', 25.0, array('kitchen'), 'kitchen'),
  (2, 'Lamp L2', 12.5, array('light'), 'light') AS t(id, name, price, tags, category);
CREATE TABLE main.default.categories AS SELECT * FROM VALUES ('kitchen'), ('light') AS t(label);
CREATE TABLE main.default.houses AS SELECT * FROM VALUES (3, 70.0) AS t(rooms, area);
CREATE TABLE main.default.sales AS SELECT * FROM VALUES {months} AS t(month, region, units);
CREATE TABLE main.default.summaries (id INT, summary STRING);
INSERT INTO main.default.summaries VALUES (1, 'old');
INSERT INTO main.default.summaries VALUES (3, 'other');
CREATE SCHEMA main.reviews;
CREATE TABLE main.reviews.clean AS SELECT * FROM VALUES
  (1, 'Great kettle, boils fast.'), (2, 'Broke in a week.') AS t(review_id, review_text);
"""


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory, _server: FakeOpenAIServer) -> Path:
    """A lakehouse with the docs' sample tables and endpoints, copied for each block."""
    home = tmp_path_factory.mktemp("docs-sample") / "lakehouse"
    endpoints = {
        name: make_endpoint(base_url=_server.base_url, model=name)
        for name in (*CHAT_ENDPOINTS, *DATABRICKS_CHAT)
    }
    for name in EMBEDDING_ENDPOINTS:
        endpoints[name] = make_endpoint(base_url=_server.base_url, model=name, task="embeddings")
    # task functions and embeddings go to the fake server too: the embedded models are slow to
    # load on small machines (blocks in an empty home still use them)
    settings = {"task_endpoint": "my-llm", "embedding_endpoint": "my-emb"}
    save_config(home, LakeinferConfig(endpoints=endpoints, settings=settings))
    with lakeinfer.connect(home, progress=False) as session:
        for _ in session.run_script(_sample_sql()):
            pass
    return home


_folders: dict[str, Path] = {}  # the folder of the last block run, per doc


@pytest.fixture
def workdir(tmp_path: Path, sample_home: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    block: Block = request.param
    if block.skip:
        pytest.skip(f"{block.id} not run: {block.skip}")
    if block.continues:
        assert block.path in _folders, f"{block.id} continues a block that has not run"
        yield _folders[block.path]
        return
    _folders[block.path] = tmp_path
    if block.home == "empty home":
        (tmp_path / "lakehouse").mkdir()
    elif block.home == "no tables":
        (tmp_path / "lakehouse").mkdir()
        shutil.copy(sample_home / CONFIG_FILE, tmp_path / "lakehouse" / CONFIG_FILE)
    else:
        shutil.copytree(sample_home, tmp_path / "lakehouse")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for item in FIXTURES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    yield tmp_path


def _shell_script(block: Block) -> str:
    if block.lang != "console":
        return block.text
    return "\n".join(line[2:] for line in block.text.splitlines() if line.startswith("$ "))


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEINFER_HOME")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("workdir", BLOCKS, ids=[b.id for b in BLOCKS], indirect=True)
def test_doc_block(workdir: Path, request: pytest.FixtureRequest) -> None:
    block: Block = request.node.callspec.params["workdir"]
    if block.lang == "sql":
        home = workdir / "lakehouse"
        with lakeinfer.connect(home, progress=False) as session:
            for table, is_query, _stats in session.run_script(block.text):
                if is_query:
                    render_table(table, file=io.StringIO())
        return
    if block.lang == PYTHON:
        script = workdir / "block.py"
        script.write_text(block.text, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        script = workdir / "block.sh"
        script.write_text(_shell_script(block), encoding="utf-8")
        command = ["bash", "-e", "-o", "pipefail", str(script)]
    done = subprocess.run(
        command,
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, (
        f"{block.id} failed (exit {done.returncode}):\n{block.text}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def test_every_doc_has_been_looked_at() -> None:
    """The collection itself: blocks are found, and each skip gives its reason."""
    assert len(BLOCKS) > 20
    assert all(block.skip is None or block.skip.strip() for block in BLOCKS)
    assert "README.md" in {block.path for block in BLOCKS}
