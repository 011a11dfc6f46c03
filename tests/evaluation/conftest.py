"""Predictions and ground truth with known scores, as Delta tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.session import Session

TRUTH = [
    (1, '{"name": "Kettle", "price": 20.0, "tags": ["kitchen", "steel"], "sentiment": "positive"}'),
    (2, '{"name": "Lamp", "price": 15.5, "tags": ["light"], "sentiment": "negative"}'),
    (3, '{"name": "Desk", "price": 120, "tags": ["office", "wood"], "sentiment": "positive"}'),
    (4, '{"name": "Chair", "price": 80, "tags": [], "sentiment": "positive"}'),
]
PREDICTIONS = [
    (
        1,
        '```json\n{"name": "kettle", "price": 20.1, "tags": ["Kitchen"], '
        '"sentiment": "positive"}\n```',
    ),
    (2, '{"name": "Lamp!", "price": "15.5", "tags": ["light", "desk"], "sentiment": "positive"}'),
    (3, "not json"),
    (5, "{}"),
]


def _values(rows: list[tuple[int, str]]) -> str:
    from sqlglot import exp

    return ", ".join(f"({k}, {exp.Literal.string(v).sql(dialect='databricks')})" for k, v in rows)


def make_tables(session: Session) -> None:
    """``truth(id, gt)`` and ``preds(id, r)`` (JSON text; one fenced, one broken, one extra)."""
    session.sql(f"CREATE TABLE truth AS SELECT * FROM (VALUES {_values(TRUTH)}) AS t(id, gt)")
    session.sql(f"CREATE TABLE preds AS SELECT * FROM (VALUES {_values(PREDICTIONS)}) AS t(id, r)")


@pytest.fixture
def lakehouse(tmp_path: Path) -> Iterator[Session]:
    """A session with the ``truth`` and ``preds`` tables and no endpoints."""
    with lakeinfer.connect(tmp_path / "lakehouse", progress=False) as session:
        make_tables(session)
        yield session
