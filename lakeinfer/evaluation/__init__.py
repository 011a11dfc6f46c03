"""Evaluate structured model outputs against ground truth; report the results.

``evaluate(session, predictions, ground_truth, key=...)`` returns an
:class:`~lakeinfer.evaluation.api.Evaluation` with per-field metrics, coverage, the worst rows,
optional model-judged scores, ``write()`` to a Delta table and ``report()`` to HTML. The same is
on the command line as ``lakeinfer eval``.

The names below load on first use, so that ``lakeinfer`` can register its command cheaply.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeinfer.evaluation.api import DEFAULT_RESULTS_TABLE, Evaluation, evaluate
    from lakeinfer.evaluation.compare import FieldSpec, compare

_EXPORTS = {
    "DEFAULT_RESULTS_TABLE": "lakeinfer.evaluation.api",
    "Evaluation": "lakeinfer.evaluation.api",
    "evaluate": "lakeinfer.evaluation.api",
    "FieldSpec": "lakeinfer.evaluation.compare",
    "compare": "lakeinfer.evaluation.compare",
}

__all__ = ["DEFAULT_RESULTS_TABLE", "Evaluation", "FieldSpec", "compare", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lakeinfer.evaluation' has no attribute {name!r}")
