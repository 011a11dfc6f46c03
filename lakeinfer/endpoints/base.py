"""What a model endpoint provider is: one async batch method plus declared capabilities.

A provider answers a batch of :class:`AIRequest` with one :class:`Outcome` each, in order. A
per-row failure is a value (``Outcome.error``), never an exception, so one bad row cannot sink a
batch; ``retryable`` tells the scheduler whether trying again may help (429, 5xx, timeouts).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

#: ``chat``: a STRING prompt, a STRING answer. ``embeddings``: a STRING, an ARRAY<FLOAT>.
#: ``custom``: any value or a record (from ``named_struct``), answered with any value; the
#: answer's type comes from ``returnType`` or the provider's :attr:`Provider.return_ddl`.
Task = Literal["chat", "embeddings", "custom"]
K = TypeVar("K")


@dataclass(frozen=True)
class Capabilities:
    """What an endpoint can do and how it likes to be fed.

    ``max_batch``: requests per :meth:`Provider.infer` call (1 for chat over HTTP, many for
    embeddings). ``max_concurrency``: batches in flight at once. ``prefix_caching``: the runtime
    reuses a shared prompt prefix across requests. ``scored_completions``: it also completes
    a raw prompt under a grammar and returns each token's top log-probabilities (requests
    built by :mod:`lakeinfer.sql.task_scoring`), which the task functions use to score labels
    and copy spans instead of asking for JSON.
    """

    task: Task
    max_batch: int = 1
    max_concurrency: int = 64
    prefix_caching: bool = False
    scored_completions: bool = False


@dataclass(frozen=True)
class AIRequest:
    """One model call: the request value plus the constant per-call options."""

    payload: Any
    parameters: dict[str, Any] = field(default_factory=dict)
    #: provider-private coordination attached by :meth:`Provider.arrange` (never sent)
    lane: Any = field(default=None, compare=False, repr=False)


@dataclass
class Outcome:
    """The answer to one request: ``value`` on success, ``error`` (a message) on failure.

    ``throttled``: the endpoint pushed back (HTTP 429/503/529), so the scheduler lowers its
    concurrency; ``timed_out``: no answer came in time. Both imply ``retryable``.
    """

    value: Any = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: prompt tokens the endpoint read from its own prompt cache instead of evaluating
    cached_tokens: int = 0
    attempts: int = 1
    throttled: bool = False
    timed_out: bool = False
    #: the HTTP status of a failed answer, when there was one (None: no answer came)
    status: int | None = None
    #: seconds the last attempt took (set by the scheduler)
    latency_s: float = 0.0
    #: parameters a retry of this request is sent with, learned from this failure (e.g. a
    #: repetition penalty after an answer that repeated itself); None: the same request
    retry_parameters: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Provider(ABC):
    """An endpoint implementation. Subclasses set :attr:`capabilities` and implement
    :meth:`infer`; they must be used from one event loop (the session's runtime loop)."""

    name: str
    capabilities: Capabilities
    max_retries: int = 3
    timeout_s: float = 120.0
    #: Who really answers, for notices ("SmolLM2-135M-Instruct via llama.cpp").
    description: str = ""
    #: The Databricks type of the answers when ``ai_query`` has no ``returnType`` (a model
    #: signature's output, a pipeline's fixed shape); None: chat/embeddings defaults, or
    #: ``returnType`` is required.
    return_ddl: str | None = None
    #: Whether failures of the endpoint as a whole open its circuit (see
    #: :mod:`lakeinfer.runtime.breaker`); False for a provider that recovers by itself, such as
    #: a managed server started again when it dies.
    circuit_breaker: bool = True

    @abstractmethod
    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        """Answer every request of ``batch`` (at most ``capabilities.max_batch``), in order."""

    def arrange(self, items: list[tuple[K, AIRequest]]) -> list[tuple[K, AIRequest]]:
        """The order (and per-request options) in which to send ``items`` so the runtime's
        prefix cache hits; used for endpoints with ``prefix_caching`` when
        ``lakeinfer.prefix_ordering`` is on. Default: sorted by request text, so neighbours
        share their longest prefixes."""
        return sorted(items, key=lambda item: str(item[1].payload))

    def batch_api(self) -> BatchAPI | None:
        """The provider's offline batch interface, when its server has one (None: online
        calls only)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once when the session closes."""


class BatchAPI(ABC):
    """An offline batch interface: requests written as JSONL lines, uploaded as one file,
    answered later as an output file (and an error file) of lines keyed by ``custom_id``.

    The shape is OpenAI's Files + Batches API, which Azure OpenAI and several open-model hosts
    serve too. The methods raise :class:`~lakeinfer.errors.EndpointError` when the server
    refuses or cannot be reached.
    """

    #: the endpoint every line of a batch calls (``/v1/chat/completions``)
    url: str

    @abstractmethod
    def line(self, custom_id: str, request: AIRequest) -> bytes:
        """One JSONL line (with its newline) asking ``request`` under ``custom_id``."""

    @abstractmethod
    def outcome(self, line: dict[str, Any]) -> Outcome:
        """The answer carried by one line of an output or error file."""

    @abstractmethod
    async def upload(self, data: bytes, filename: str) -> str:
        """Upload a batch input file; returns its id."""

    @abstractmethod
    async def create(self, file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        """Submit the batch of input file ``file_id``; returns the batch object."""

    @abstractmethod
    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The batch object as it is now (``status``, ``request_counts``, file ids)."""

    @abstractmethod
    async def cancel(self, batch_id: str) -> dict[str, Any]:
        """Ask the server to stop the batch; returns the batch object."""

    @abstractmethod
    async def content(self, file_id: str) -> bytes:
        """The bytes of an output or error file."""
