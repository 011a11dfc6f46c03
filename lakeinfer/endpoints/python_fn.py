"""Plain Python functions as endpoints, registered from the Python API.

    session.register_function("score", lambda r: r["a"] * 2 + r["b"], return_type="DOUBLE")
    session.sql("SELECT ai_query('score', named_struct('a', a, 'b', b)) FROM t")

The function gets one request per call (a value, or a dict for a ``named_struct`` request), or
with ``batched=True`` a list of them and returns a list of answers in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lakeinfer.endpoints.base import Capabilities
from lakeinfer.endpoints.in_process import InProcessProvider
from lakeinfer.errors import ConfigError
from lakeinfer.sql.types import ddl_to_arrow

FUNCTION_BATCH = 256


class FunctionProvider(InProcessProvider):
    """Calls ``fn`` on each request (or on each batch, when ``batched``)."""

    def __init__(
        self,
        name: str,
        fn: Callable[[Any], Any],
        *,
        return_type: str | None = None,
        batched: bool = False,
        max_batch: int = FUNCTION_BATCH,
        task: str = "custom",
    ):
        super().__init__()
        if not callable(fn):
            raise ConfigError(f"function endpoint {name!r}: {fn!r} is not callable")
        if task not in ("custom", "chat", "embeddings"):
            raise ConfigError(
                f"function endpoint {name!r}: unknown task {task!r}; use custom, chat or embeddings"
            )
        if return_type is not None:
            try:
                ddl_to_arrow(return_type)
            except Exception as exc:
                raise ConfigError(f"function endpoint {name!r}: return_type: {exc}") from None
        self.name = name
        self.fn = fn
        self.batched = batched
        self.row_at_a_time = not batched
        self.return_ddl = return_type
        self.description = f"Python function {getattr(fn, '__qualname__', repr(fn))}"
        self.capabilities = Capabilities(
            task=task,  # type: ignore[arg-type]
            max_batch=max_batch if batched else FUNCTION_BATCH,
            max_concurrency=1,
        )

    def predict(self, payloads: list[Any], parameters: dict[str, Any]) -> list[Any]:
        if self.batched:
            return list(self.fn(payloads))
        return [self.fn(payload) for payload in payloads]
