"""Evaluate structured model outputs against ground truth; report the results.

``evaluate(session, predictions, ground_truth, key=...)`` returns an
:class:`~lakeinfer.evaluation.api.Evaluation` with per-field metrics, coverage, the worst rows,
optional model-judged scores, ``write()`` to a Delta table and ``report()`` to HTML. The same is
on the command line as ``lakeinfer eval``.
"""

from __future__ import annotations

from lakeinfer.evaluation.api import DEFAULT_RESULTS_TABLE, Evaluation, evaluate
from lakeinfer.evaluation.compare import FieldSpec, compare

__all__ = ["DEFAULT_RESULTS_TABLE", "Evaluation", "FieldSpec", "compare", "evaluate"]
