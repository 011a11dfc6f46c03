"""Evaluate structured model outputs against ground truth; report the results.

``evaluate(session, predictions, ground_truth, key=...)`` returns an
:class:`~lakeinfer.evaluation.api.Evaluation` with per-field metrics, coverage, the worst rows,
optional model-judged scores, ``write()`` to a Delta table and ``report()`` to HTML. The same is
on the command line as ``lakeinfer eval``.

The evaluation itself loads on first use, so that ``lakeinfer`` can register its command
cheaply.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# `compare` names both a submodule and a function: bound here, the function wins
from lakeinfer.evaluation.compare import FieldSpec, compare

if TYPE_CHECKING:
    from lakeinfer.evaluation.api import DEFAULT_RESULTS_TABLE, Evaluation, evaluate

_EXPORTS = {
    "DEFAULT_RESULTS_TABLE": "lakeinfer.evaluation.api",
    "Evaluation": "lakeinfer.evaluation.api",
    "evaluate": "lakeinfer.evaluation.api",
}

__all__ = ["DEFAULT_RESULTS_TABLE", "Evaluation", "FieldSpec", "compare", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lakeinfer.evaluation' has no attribute {name!r}")
