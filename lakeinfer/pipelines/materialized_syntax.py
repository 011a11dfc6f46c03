"""The grammar of the materialized view statements sqlglot does not read itself::

    CREATE [OR REPLACE] MATERIALIZED VIEW [IF NOT EXISTS] mv [COMMENT ...] [TBLPROPERTIES (...)]
        SCHEDULE [REFRESH] { CRON 'quartz cron' [AT TIME ZONE 'zone'] | EVERY n {HOURS | DAYS | WEEKS} }
        AS SELECT ...
    REFRESH MATERIALIZED VIEW mv [FULL] [SYNC | ASYNC]

Without ``SCHEDULE``, sqlglot's Databricks parser reads ``CREATE MATERIALIZED VIEW`` (a CREATE
VIEW with a materialized property); with it, the clause is taken out here and the rest is read
by that parser. This module imports only the dialect.
"""

from __future__ import annotations

import re

from sqlglot import exp, parse_one
from sqlglot.generator import Generator
from sqlglot.tokens import TokenType

from lakeinfer.sql.dialect import NAME, Grammar, LakeStatement, Parser

SCHEDULE_USAGE = (
    "SCHEDULE [REFRESH] CRON 'quartz cron' [AT TIME ZONE 'zone'] or "
    "SCHEDULE [REFRESH] EVERY <n> {HOURS | DAYS | WEEKS}"
)
_UNITS = {"HOUR": "HOURS", "HOURS": "HOURS", "DAY": "DAYS", "DAYS": "DAYS"}
_UNITS |= {"WEEK": "WEEKS", "WEEKS": "WEEKS"}


class Schedule(LakeStatement):
    """A refresh schedule: ``cron`` (five fields, minute first), ``timezone``, and ``text`` (the
    clause as written)."""

    arg_types = {"cron": True, "timezone": True, "text": True}

    @property
    def cron(self) -> str:
        return self.args["cron"]

    @property
    def timezone(self) -> str:
        return self.args["timezone"]

    def to_sql(self, generator: Generator) -> str:
        return str(self.args["text"])


class CreateMaterializedView(LakeStatement):
    """``CREATE MATERIALIZED VIEW ... SCHEDULE ... AS``: ``this`` is the statement without its
    schedule (a :class:`sqlglot.exp.Create`), ``schedule`` a :class:`Schedule`."""

    arg_types = {"this": True, "schedule": True}

    def to_sql(self, generator: Generator) -> str:
        create = self.this.sql(dialect="databricks")
        head, sep, tail = create.partition(" AS ")
        return f"{head} {generator.sql(self, 'schedule')}{sep}{tail}"


class RefreshMaterializedView(LakeStatement):
    """``REFRESH MATERIALIZED VIEW mv [FULL]``."""

    arg_types = {"this": True, "full": False}

    def to_sql(self, generator: Generator) -> str:
        full = " FULL" if self.args.get("full") else ""
        return f"REFRESH MATERIALIZED VIEW {generator.sql(self, 'this')}{full}"


NODES = (CreateMaterializedView, RefreshMaterializedView)


def is_create(statement: exp.Expression) -> bool:
    """Whether ``statement`` creates a materialized view."""
    if isinstance(statement, CreateMaterializedView):
        return True
    if not isinstance(statement, exp.Create):
        return False
    properties = statement.args.get("properties")
    return properties is not None and any(
        isinstance(p, exp.MaterializedProperty) for p in properties.expressions
    )


def matches(statement: exp.Expression) -> bool:
    """Whether ``statement`` is a materialized view statement this module runs."""
    if isinstance(statement, exp.Drop):
        return bool(statement.args.get("materialized"))
    if isinstance(statement, exp.Refresh):
        return str(statement.args.get("kind") or "").upper() == "MATERIALIZED VIEW"
    return is_create(statement) or isinstance(statement, RefreshMaterializedView)


def _create(parser: Parser) -> exp.Expression | None:
    start = parser.previous
    parser.words("OR", "REPLACE") or parser.words("OR", "REFRESH")
    if not parser.words("MATERIALIZED", "VIEW"):
        return None
    depth, schedule, as_token = 0, None, None
    while not parser.done():
        token = parser.take()
        assert token is not None
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.text.upper() == "SCHEDULE" and schedule is None:
            schedule = token
        elif depth == 0 and token.text.upper() == "TRIGGER":
            parser.fail(
                "CREATE MATERIALIZED VIEW: TRIGGER ON UPDATE is not supported; refresh on a "
                "schedule (SCHEDULE CRON or EVERY) or with REFRESH MATERIALIZED VIEW",
                token,
            )
        elif depth == 0 and token.token_type == TokenType.ALIAS:
            as_token = token
            break
    if schedule is None:
        return None  # sqlglot's parser reads it
    if as_token is None:
        parser.fail("CREATE MATERIALIZED VIEW needs AS SELECT ...", schedule)
    text = parser.sql
    clause = text[schedule.start : as_token.start].strip()
    parsed = _schedule(clause, parser, schedule)
    rest = text[start.start : schedule.start] + " " + text[as_token.start :]
    parser.rest_text()
    create = parse_one(rest, read=NAME)
    return CreateMaterializedView(this=create, schedule=parsed)


_CRON = re.compile(
    r"^SCHEDULE(?:\s+REFRESH)?\s+CRON\s+'([^']*)'(?:\s+AT\s+TIME\s+ZONE\s+'([^']*)')?$",
    re.IGNORECASE,
)
_EVERY = re.compile(r"^SCHEDULE(?:\s+REFRESH)?\s+EVERY\s+(\d+)\s+(\w+)$", re.IGNORECASE)


def _schedule(clause: str, parser: Parser, token) -> Schedule:  # type: ignore[no-untyped-def]
    words = " ".join(clause.split())
    cron = _CRON.match(words)
    if cron is not None:
        return Schedule(
            cron=quartz_to_cron(cron.group(1), parser, token),
            timezone=cron.group(2) or "UTC",
            text=words,
        )
    every = _EVERY.match(words)
    if every is not None:
        amount, unit = int(every.group(1)), _UNITS.get(every.group(2).upper())
        if unit is None or amount < 1:
            parser.fail(f"expected {SCHEDULE_USAGE}; got {words!r}", token)
        limits = {"HOURS": 24, "DAYS": 31, "WEEKS": 1}
        if amount > limits[unit]:
            parser.fail(
                f"SCHEDULE EVERY {amount} {unit}: lakeinfer schedules at most every "
                f"{limits[unit]} {unit.lower()} this way; use SCHEDULE CRON",
                token,
            )
        cron_text = {
            "HOURS": "0 * * * *" if amount in (1, 24) else f"0 */{amount} * * *",
            "DAYS": "0 0 * * *" if amount == 1 else f"0 0 */{amount} * *",
            "WEEKS": "0 0 * * 0",
        }[unit]
        if unit == "HOURS" and amount == 24:
            cron_text = "0 0 * * *"
        return Schedule(cron=cron_text, timezone="UTC", text=words)
    parser.fail(f"expected {SCHEDULE_USAGE}; got {words!r}", token)


def quartz_to_cron(text: str, parser: Parser, token) -> str:  # type: ignore[no-untyped-def]
    """A Quartz cron expression (seconds first, ``?`` for no value, weekdays 1-7 from Sunday)
    as a five-field cron expression (minute first, weekdays 0-6)."""
    fields = text.split()
    if len(fields) not in (6, 7):
        parser.fail(
            f"SCHEDULE CRON takes a Quartz cron expression of 6 or 7 fields (seconds minutes "
            f"hours day-of-month month day-of-week [year]), e.g. '0 0 2 * * ?'; got {text!r}",
            token,
        )
    if fields[0] != "0" or (len(fields) == 7 and fields[6] != "*"):
        parser.fail(
            f"SCHEDULE CRON {text!r}: lakeinfer's scheduler runs on whole minutes of any year: "
            "the seconds field must be 0 and the year field * or absent",
            token,
        )
    minute, hour, day, month, weekday = (f.replace("?", "*") for f in fields[1:6])
    weekday = re.sub(r"\d+", lambda m: str(int(m.group()) - 1), weekday)
    return f"{minute} {hour} {day} {month} {weekday}"


def _refresh(parser: Parser) -> exp.Expression | None:
    if not parser.words("MATERIALIZED", "VIEW"):
        return None
    name = parser.name("expected a name: REFRESH MATERIALIZED VIEW name [FULL]")
    full = parser.words("FULL")
    parser.one_of("SYNC", "ASYNC")
    parser.expect_end(f"unexpected {{found}} after REFRESH MATERIALIZED VIEW {name.sql()}")
    return RefreshMaterializedView(this=name, full=full)


#: The statements' grammars, by first word.
SYNTAX: tuple[tuple[str, Grammar], ...] = (("CREATE", _create), ("REFRESH", _refresh))
