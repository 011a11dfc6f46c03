"""Job files: YAML in the spirit of Databricks Jobs.

    name: nightly_reviews
    parameters: {source_csv: data/reviews.csv}
    schedule: {cron: "0 2 * * *", timezone: Europe/Paris}
    max_concurrent_runs: 1
    timeout_seconds: 3600
    tasks:
      - task_key: ingest
        python_script: ingest.py          # run as `python ingest.py` (path relative to the file)
      - task_key: clean
        depends_on: [ingest]              # or [{task_key: ingest}]
        sql_file: clean.sql               # or sql: "INSERT INTO ..."
      - task_key: infer
        depends_on: [clean]
        stream:                           # one availableNow run of a stream
          query: SELECT id, ai_query('my-llm', text) AS answer FROM STREAM(main.default.clean)
          target: main.default.answers
          checkpoint: answers             # optional: kept in the lakehouse, under
                                          # _checkpoints/<target>/<checkpoint or source>
        max_retries: 2
        min_retry_interval_millis: 1000   # doubled after each failed attempt
        timeout_seconds: 600
      - task_key: report
        depends_on: [infer]
        python_function: mypkg.reports:build   # called as build(session, **parameters)

``{{job.parameters.NAME}}`` (or ``{{NAME}}``) in SQL text, script arguments and stream fields is
replaced by the parameter's value; ``lakeinfer jobs run FILE --param NAME=VALUE`` overrides it.
Errors in a job file name the file, the field and its line.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lakeinfer.pipelines.errors import JobConfigError, StreamingError
from lakeinfer.pipelines.locations import check_stream_name

TASK_KINDS = ("sql", "sql_file", "python_script", "python_function", "stream")
_PARAMETER = re.compile(r"\{\{\s*(?:job\.parameters\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamTask(_Model):
    """One ``availableNow`` run of ``query`` (``... FROM STREAM(t)``, or the SQL file
    ``query_file``) into ``target``. Its checkpoint is kept in the lakehouse the job runs
    against, under ``_checkpoints/<target>/<checkpoint>``; ``checkpoint`` is a name (``answers``,
    ``daily/answers``), by default the source table's name."""

    query: str | None = None
    query_file: str | None = None
    target: str
    checkpoint: str | None = None
    options: dict[str, str | int | bool] = Field(default_factory=dict)

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint(cls, value: str | None) -> str | None:
        if value is not None and not _PARAMETER.search(value):
            try:
                check_stream_name(value)
            except StreamingError as exc:
                raise ValueError(str(exc)) from None
        return value


class Dependency(_Model):
    task_key: str


class Task(_Model):
    """One unit of a job; exactly one of ``sql``, ``sql_file``, ``python_script``,
    ``python_function``, ``stream``."""

    task_key: str
    depends_on: list[str] = Field(default_factory=list)
    sql: str | None = None
    sql_file: str | None = None
    python_script: str | None = None
    python_function: str | None = None
    stream: StreamTask | None = None
    parameters: dict[str, Any] | list[str] = Field(default_factory=dict)
    max_retries: int = Field(0, ge=0, le=100)
    min_retry_interval_millis: int = Field(0, ge=0)
    retry_on_timeout: bool = False
    timeout_seconds: float | None = Field(None, gt=0)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _depends(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Dependency(**v).task_key if isinstance(v, dict) else v for v in value]
        return value

    @field_validator("task_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("use letters, digits, '_' and '-' only")
        return value

    @property
    def kind(self) -> str:
        return next(k for k in TASK_KINDS if getattr(self, k) is not None)


class Schedule(_Model):
    """A cron expression (5 fields: minute hour day month weekday) in a time zone."""

    cron: str
    timezone: str = "UTC"
    pause_status: Literal["UNPAUSED", "PAUSED"] = "UNPAUSED"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a cron expression (minute hour day-of-month month "
                "day-of-week, e.g. '0 2 * * *')"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. 'UTC', 'Europe/Paris')") from None
        return value

    def next_run(self, after: dt.datetime) -> dt.datetime:
        """The first scheduled time strictly after ``after`` (aware), in the schedule's zone."""
        from croniter import croniter

        zone = zoneinfo.ZoneInfo(self.timezone)
        return croniter(self.cron, after.astimezone(zone)).get_next(dt.datetime)


class Job(_Model):
    """A parsed job file."""

    name: str
    tasks: list[Task] = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedule: Schedule | None = None
    max_concurrent_runs: int = Field(1, ge=1)
    timeout_seconds: float | None = Field(None, gt=0)
    description: str | None = None
    path: Path | None = Field(None, exclude=True)

    @property
    def base_dir(self) -> Path:
        """The job file's folder, absolute: tasks run there and resolve their files in it."""
        return self.path.parent.absolute() if self.path is not None else Path.cwd()

    def task(self, key: str) -> Task:
        return next(t for t in self.tasks if t.task_key == key)

    def order(self) -> list[Task]:
        """Tasks in dependency order (file order among independent ones)."""
        done: set[str] = set()
        ordered: list[Task] = []
        while len(ordered) < len(self.tasks):
            for task in self.tasks:
                if task.task_key not in done and all(d in done for d in task.depends_on):
                    ordered.append(task)
                    done.add(task.task_key)
                    break
        return ordered


def substitute(text: str, parameters: dict[str, Any], where: str) -> str:
    """Replace ``{{job.parameters.NAME}}`` / ``{{NAME}}`` in ``text``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise JobConfigError(
                f"{where}: unknown parameter {name!r} (job parameters: "
                f"{', '.join(sorted(parameters)) or 'none'})"
            )
        return str(parameters[name])

    return _PARAMETER.sub(value, text)


# -- loading, with line numbers ------------------------------------------------------------
def load_job(path: str | Path) -> Job:
    """Parse and check a job file; :class:`JobConfigError` names the field and its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobConfigError(f"cannot read job file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise JobConfigError(
            f"cannot read job file {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None
    return parse_job(text, path)


def parse_job(text: str, path: Path) -> Job:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise JobConfigError(f"{path}:{line}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise JobConfigError(f"{path}: a job file is a mapping with name and tasks")
    try:
        job = Job(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function"))
        ]
        field = _field_name(location, data)
        line = _line(node, location)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        raise JobConfigError(f"{path}: line {line}: {field}: {message}") from None
    job.path = path
    _check_tasks(job, node, path)
    return job


def _field_name(location: list[Any], data: Any) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            key = None
            if isinstance(data, list) and part < len(data) and isinstance(data[part], dict):
                key = data[part].get("task_key")
            parts.append(f"[{part}]" if key is None else f"[{key}]")
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            parts.append(("." if parts else "") + str(part))
            data = data.get(part) if isinstance(data, dict) else None
    return "".join(parts)


def _line(node: yaml.Node | None, location: list[Any]) -> int:
    """The line of the deepest node of ``location`` that exists."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == part), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _check_tasks(job: Job, node: yaml.Node, path: Path) -> None:
    keys: dict[str, int] = {}
    for index, task in enumerate(job.tasks):
        where = f"{path}: line {_line(node, ['tasks', index])}: tasks[{task.task_key}]"
        if task.task_key in keys:
            raise JobConfigError(f"{where}: task_key {task.task_key!r} is used twice")
        keys[task.task_key] = index
        kinds = [k for k in TASK_KINDS if getattr(task, k) is not None]
        if len(kinds) != 1:
            raise JobConfigError(
                f"{where}: a task has exactly one of {', '.join(TASK_KINDS)}"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        if task.stream is not None and (task.stream.query is None) == (
            task.stream.query_file is None
        ):
            raise JobConfigError(
                f"{path}: line {_line(node, ['tasks', index, 'stream'])}: "
                f"tasks[{task.task_key}].stream: give exactly one of query and query_file"
            )
        if task.python_function is not None and ":" not in task.python_function:
            raise JobConfigError(
                f"{path}: line {_line(node, ['tasks', index, 'python_function'])}: "
                f"tasks[{task.task_key}].python_function: use 'module:function'"
            )
    streams: dict[tuple[str, str | None], str] = {}
    for index, task in enumerate(job.tasks):
        if task.stream is None:
            continue
        key = (task.stream.target.lower(), task.stream.checkpoint)
        if key in streams:
            raise JobConfigError(
                f"{path}: line {_line(node, ['tasks', index, 'stream'])}: "
                f"tasks[{task.task_key}].stream: task {streams[key]} streams into "
                f"{task.stream.target} with the same checkpoint; give each a checkpoint name"
            )
        streams[key] = task.task_key
    for index, task in enumerate(job.tasks):
        for position, dependency in enumerate(task.depends_on):
            if dependency not in keys:
                line = _line(node, ["tasks", index, "depends_on", position])
                from lakeinfer.errors import did_you_mean

                raise JobConfigError(
                    f"{path}: line {line}: tasks[{task.task_key}].depends_on: unknown task "
                    f"{dependency!r}{did_you_mean(dependency, keys)}"
                )
    cycle = _cycle(job)
    if cycle:
        raise JobConfigError(f"{path}: tasks depend on each other in a cycle: {' -> '.join(cycle)}")


def _cycle(job: Job) -> list[str] | None:
    graph = {t.task_key: t.depends_on for t in job.tasks}
    state: dict[str, int] = {}

    def visit(key: str, trail: list[str]) -> list[str] | None:
        if state.get(key) == 1:
            return [*trail[trail.index(key) :], key]
        if state.get(key) == 2:
            return None
        state[key] = 1
        for dependency in graph[key]:
            found = visit(dependency, [*trail, key])
            if found:
                return found
        state[key] = 2
        return None

    for key in graph:
        found = visit(key, [])
        if found:
            return found
    return None


def load_jobs(directory: str | Path) -> list[Job]:
    """Every ``*.yml`` / ``*.yaml`` job file of a directory, sorted by name."""
    folder = Path(directory)
    if not folder.is_dir():
        raise JobConfigError(f"no such directory: {folder}")
    jobs = [load_job(p) for p in sorted(folder.iterdir()) if p.suffix in (".yml", ".yaml")]
    names: dict[str, Path] = {}
    for job in jobs:
        if job.name in names:
            raise JobConfigError(
                f"job name {job.name!r} is used by {names[job.name]} and {job.path}"
            )
        names[job.name] = job.path or folder
    return jobs
