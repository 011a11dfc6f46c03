"""Traditional ML behind a Hugging Face ``transformers`` pipeline (token or text classification).

A BERT named-entity recognizer saved to a directory answers
``ai_query('ner', text, returnType => 'ARRAY<STRUCT<entity: STRING, word: STRING,
score: FLOAT>>')``; without ``returnType`` the pipeline's whole output shape is returned (see
:data:`DEFAULT_RETURN`). Texts go through the pipeline ``max_batch`` at a time.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from lakeinfer.endpoints.base import Capabilities
from lakeinfer.endpoints.in_process import InProcessProvider, RowError
from lakeinfer.errors import ConfigError, RuntimeUnavailableError

PIPELINE_BATCH = 32
#: The answer type of each task when ai_query gives no returnType.
DEFAULT_RETURN = {
    "token-classification": (
        "ARRAY<STRUCT<entity: STRING, score: FLOAT, index: BIGINT, word: STRING, "
        "start: BIGINT, end: BIGINT>>"
    ),
    "text-classification": "STRUCT<label: STRING, score: FLOAT>",
}
GROUPED_TOKEN_RETURN = (
    "ARRAY<STRUCT<entity_group: STRING, score: FLOAT, word: STRING, start: BIGINT, end: BIGINT>>"
)
_load_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def load_pipeline(task: str, path: str, aggregation_strategy: str | None) -> Any:
    """Build (once per process) the ``transformers`` pipeline for ``task`` from ``path``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import pipeline
    except ImportError:
        raise RuntimeUnavailableError(
            "transformers is not installed: pip install 'lakeinfer[ml]'"
        ) from None
    if not Path(path).is_dir():
        raise RuntimeUnavailableError(f"model directory not found: {path}")
    options: dict[str, Any] = {}
    if task == "token-classification" and aggregation_strategy:
        options["aggregation_strategy"] = aggregation_strategy
    with _load_lock:
        try:
            return pipeline(task, model=path, tokenizer=path, device="cpu", **options)
        except (OSError, ValueError) as exc:
            raise RuntimeUnavailableError(
                f"cannot load a {task} pipeline from {path}: {exc}"
            ) from None


class PipelineProvider(InProcessProvider):
    """A token-classification or text-classification pipeline over STRING requests."""

    def __init__(
        self,
        name: str,
        task: str,
        model_path: str | os.PathLike[str],
        *,
        max_batch: int = PIPELINE_BATCH,
        aggregation_strategy: str | None = None,
    ):
        super().__init__()
        if task not in DEFAULT_RETURN:
            raise ConfigError(
                f"endpoint {name!r}: unknown pipeline task {task!r}; "
                f"use one of {', '.join(DEFAULT_RETURN)}"
            )
        self.name = name
        self.task = task
        self.model_path = str(model_path)
        self.aggregation_strategy = aggregation_strategy
        self.description = f"transformers {task} pipeline {self.model_path}"
        self.capabilities = Capabilities(task="custom", max_batch=max_batch, max_concurrency=1)
        grouped = aggregation_strategy not in (None, "none")
        if task == "token-classification" and grouped:
            self.return_ddl = GROUPED_TOKEN_RETURN
        else:
            self.return_ddl = DEFAULT_RETURN[task]
        self._pipe: Any = None

    def load(self) -> None:
        if self._pipe is None:
            self._pipe = load_pipeline(self.task, self.model_path, self.aggregation_strategy)

    def predict(self, payloads: list[Any], parameters: dict[str, Any]) -> list[Any]:
        for payload in payloads:
            if not isinstance(payload, str):
                raise RowError(
                    f"a {self.task} request must be a STRING, got {type(payload).__name__}"
                )
        answers = self._pipe(payloads, batch_size=self.capabilities.max_batch)
        if self.task == "text-classification":
            # one {label, score} per text (the top label)
            return [a[0] if isinstance(a, list) else a for a in answers]
        return list(answers)
