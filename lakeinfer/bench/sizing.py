"""Capacity sizing: what a batch workload needs to finish by a deadline, shown step by step.

The model: one endpoint replica sustains the input and output token rates it reached in its
benchmark (at the recommended concurrency), so it answers
``min(input tokens/s / input tokens per row, output tokens/s / output tokens per row)`` rows per
second; replicas scale linearly. The number of replicas carries a headroom factor (default 1.2:
retries, slower rows, a shared endpoint); provisioned throughput is the workload's input plus
output tokens per second with the same headroom, rounded up to the provider's increment when one
is given. Input tokens are estimated as characters / 4, like ``EXPLAIN``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeinfer.errors import AnalysisError

if TYPE_CHECKING:
    from lakeinfer.bench.results import BenchResult
    from lakeinfer.session import Session

CHARS_PER_TOKEN = 4
DEFAULT_HEADROOM = 1.2
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds in ``"2h"``, ``"1h30m"``, ``"45m"``, ``"90s"``, ``"1.5h"``, ``"2d"`` or a plain
    number of seconds."""
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        parts = _DURATION.findall(raw)
        if not parts or _DURATION.sub("", raw).strip():
            raise AnalysisError(
                f"cannot read the duration {text!r}; write e.g. 2h, 1h30m, 45m or 600s"
            ) from None
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise AnalysisError(f"the duration {text!r} must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """``7200`` -> ``"2h"``, ``5400`` -> ``"1h30m"``, ``42.5`` -> ``"42.5s"``."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts) or "0m"


@dataclass(frozen=True)
class Workload:
    """A batch job: how many rows, and tokens per row in and out."""

    rows: int
    input_tokens_per_row: float
    output_tokens_per_row: float
    deadline_s: float


@dataclass(frozen=True)
class Capacity:
    """What one replica sustains (from a benchmark level)."""

    input_tokens_per_s: float
    output_tokens_per_s: float
    requests_per_s: float
    source: str


@dataclass
class Sizing:
    """The answer, with each step of the arithmetic in ``steps``."""

    workload: Workload
    capacity: Capacity
    headroom: float
    required_rows_per_s: float
    required_input_tokens_per_s: float
    required_output_tokens_per_s: float
    replica_rows_per_s: float
    limited_by: str
    one_replica_s: float
    meets_deadline: bool
    replicas: int
    provisioned_tokens_per_s: float
    steps: list[str] = field(default_factory=list)

    @property
    def required_tokens_per_s(self) -> float:
        return self.required_input_tokens_per_s + self.required_output_tokens_per_s

    def as_dict(self) -> dict[str, object]:
        """Flat numbers for JSON output."""
        w, c = self.workload, self.capacity
        return {
            "rows": w.rows,
            "input_tokens_per_row": w.input_tokens_per_row,
            "output_tokens_per_row": w.output_tokens_per_row,
            "deadline_s": w.deadline_s,
            "required_rows_per_s": self.required_rows_per_s,
            "required_input_tokens_per_s": self.required_input_tokens_per_s,
            "required_output_tokens_per_s": self.required_output_tokens_per_s,
            "required_tokens_per_s": self.required_tokens_per_s,
            "replica_input_tokens_per_s": c.input_tokens_per_s,
            "replica_output_tokens_per_s": c.output_tokens_per_s,
            "replica_rows_per_s": self.replica_rows_per_s,
            "limited_by": self.limited_by,
            "one_replica_s": self.one_replica_s,
            "meets_deadline": self.meets_deadline,
            "headroom": self.headroom,
            "replicas": self.replicas,
            "provisioned_tokens_per_s": self.provisioned_tokens_per_s,
            "capacity_source": c.source,
            "steps": self.steps,
        }


def size(
    workload: Workload,
    capacity: Capacity,
    *,
    headroom: float = DEFAULT_HEADROOM,
    increment: float | None = None,
) -> Sizing:
    """Size ``workload`` against one replica of ``capacity`` (see the module docstring)."""
    w, c = workload, capacity
    if w.rows < 1:
        raise AnalysisError("the workload has no rows")
    if headroom < 1:
        raise AnalysisError(f"headroom must be at least 1 (got {headroom:g})")
    rows_per_s = w.rows / w.deadline_s
    need_in = rows_per_s * w.input_tokens_per_row
    need_out = rows_per_s * w.output_tokens_per_row
    steps = [
        f"workload: {w.rows:,} rows x ({_n(w.input_tokens_per_row)} input + "
        f"{_n(w.output_tokens_per_row)} output tokens) = "
        f"{_n(w.rows * (w.input_tokens_per_row + w.output_tokens_per_row))} tokens",
        f"deadline: {format_duration(w.deadline_s)} = {_n(w.deadline_s)} s",
        f"needed: {w.rows:,} rows / {_n(w.deadline_s)} s = {_n(rows_per_s)} rows/s",
        f"  = {_n(rows_per_s)} x {_n(w.input_tokens_per_row)} = {_n(need_in)} input tokens/s"
        f" + {_n(rows_per_s)} x {_n(w.output_tokens_per_row)} = {_n(need_out)} output tokens/s"
        f" = {_n(need_in + need_out)} tokens/s",
    ]
    limits: list[tuple[float, str, str]] = []
    if w.input_tokens_per_row > 0 and c.input_tokens_per_s > 0:
        value = c.input_tokens_per_s / w.input_tokens_per_row
        limits.append(
            (value, "input tokens", f"{_n(c.input_tokens_per_s)} / {_n(w.input_tokens_per_row)}")
        )
    if w.output_tokens_per_row > 0 and c.output_tokens_per_s > 0:
        value = c.output_tokens_per_s / w.output_tokens_per_row
        limits.append(
            (value, "output tokens", f"{_n(c.output_tokens_per_s)} / {_n(w.output_tokens_per_row)}")
        )
    steps.append(
        f"one replica ({c.source}): {_n(c.input_tokens_per_s)} input tokens/s, "
        f"{_n(c.output_tokens_per_s)} output tokens/s, {_n(c.requests_per_s)} requests/s"
    )
    if limits:
        replica, limited_by, _ = min(limits)
        terms = ", ".join(expr for _, _, expr in limits)
        steps.append(f"  -> min({terms}) = {_n(replica)} rows/s per replica ({limited_by} limit)")
    else:
        replica, limited_by = c.requests_per_s, "requests"
        steps.append(f"  -> {_n(replica)} rows/s per replica (requests/s: no token counts)")
    if replica <= 0:
        raise AnalysisError(f"the benchmark ({c.source}) measured no throughput to size with")
    one_replica_s = w.rows / replica
    replicas = max(1, math.ceil(round(rows_per_s * headroom / replica, 9)))
    meets = replicas == 1
    verdict = (
        f"meets the {format_duration(w.deadline_s)} deadline with {headroom:g}x headroom"
        if meets
        else f"misses the {format_duration(w.deadline_s)} deadline"
        + (" (within it without headroom)" if one_replica_s <= w.deadline_s else "")
    )
    steps.append(
        f"  -> {w.rows:,} rows / {_n(replica)} rows/s = {_n(one_replica_s)} s "
        f"({format_duration(one_replica_s)}) on one replica: {verdict}"
    )
    steps.append(
        f"replicas: ceil({_n(rows_per_s)} rows/s x {headroom:g} headroom / {_n(replica)} rows/s)"
        f" = ceil({rows_per_s * headroom / replica:.2f}) = {replicas}"
    )
    provisioned = (need_in + need_out) * headroom
    line = (
        f"provisioned throughput: {_n(need_in + need_out)} tokens/s x {headroom:g} headroom"
        f" = {_n(provisioned)} tokens/s"
    )
    if increment:
        rounded = math.ceil(round(provisioned / increment, 9)) * increment
        line += f", rounded up to increments of {_n(increment)} = {_n(rounded)} tokens/s"
        provisioned = rounded
    steps.append(line)
    return Sizing(
        w,
        c,
        headroom,
        rows_per_s,
        need_in,
        need_out,
        replica,
        limited_by,
        one_replica_s,
        meets,
        replicas,
        provisioned,
        steps,
    )


def capacity_of(bench: BenchResult) -> Capacity:
    """One replica's capacity: the recommended level of a run (else its fastest level)."""
    level = bench.recommended_level or max(bench.levels, key=lambda lv: lv.requests_per_s)
    return Capacity(
        level.input_tokens_per_s,
        level.output_tokens_per_s,
        level.requests_per_s,
        f"{bench.endpoint} at concurrency {level.concurrency}, run {bench.run_id}",
    )


def estimate_workload(
    session: Session,
    source: str,
    deadline_s: float,
    *,
    column: str | None = None,
    prompt: str = "",
    rows: int | None = None,
    output_tokens: float,
) -> Workload:
    """Tokens per row of ``prompt || column`` over a table (name or query), characters / 4.

    ``rows`` overrides the table's row count (size a full table from a sample of it).
    """
    from lakeinfer.evaluation.compare import load_rows, text_column

    table = load_rows(session, source, "--table")
    column = text_column(table, column, "--table")
    values = table.column(column).to_pylist()
    texts = [str(v) for v in values if v is not None]
    if not texts and rows is None:
        raise AnalysisError(f"--table has no non-NULL {column!r} values to estimate tokens from")
    chars = sum(len(prompt) + len(t) for t in texts) / len(texts) if texts else len(prompt)
    return Workload(
        rows if rows is not None else len(values),
        chars / CHARS_PER_TOKEN,
        output_tokens,
        deadline_s,
    )


def _n(value: float) -> str:
    """A number for people: thousands separators, at most one decimal above 10."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"
