"""The embedded chat model as a provider: llama.cpp's server, restarted if it dies.

The server (:func:`lakeinfer.endpoints.llama_server.shared_server`) is started on demand and
health-checked. Before each call the provider checks that its process is still alive; if it
died (killed, out of memory), a new one is started on a new port with a new token, and the
requests that failed meanwhile are retried by the scheduler like any connection failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from lakeinfer.endpoints.base import AIRequest, Outcome
from lakeinfer.endpoints.label_similarity import LabelSimilarity
from lakeinfer.endpoints.llama_server import (
    EMBEDDED_MODEL_NAME,
    LlamaServer,
    LlamaServerProvider,
    shared_server,
)

#: the embedded model's ``timeout_s``: seconds a request may go without a new token
EMBEDDED_IDLE_TIMEOUT_S = 300.0
TRANSPORT_BACKSTOP_S = 3600.0


class EmbeddedChatProvider(LlamaServerProvider):
    """Chat completions from the managed ``llama-server``, with prompt caching and prefix
    groups pinned to its slots."""

    #: calls that failed because the server died are retried against the restarted one
    circuit_breaker = False

    def __init__(self, name: str, server_factory: Callable[[], LlamaServer] = shared_server):
        server = server_factory()
        super().__init__(
            name,
            slots=server.settings.parallel,
            slot_files=server.slot_files,
            base_url=server.base_url,
            model="embedded",
            api_key=server.api_key,
            max_concurrency=server.settings.requests_in_flight,
            # seconds without a new token (answers are streamed): a queued request waits for
            # a slot, whose answer is bounded by its max_tokens
            timeout_s=EMBEDDED_IDLE_TIMEOUT_S,
            # the scheduler's deadlines follow the server's progress; the clients' own
            # limit is only a backstop
            transport_timeout_s=TRANSPORT_BACKSTOP_S,
            description=EMBEDDED_MODEL_NAME,
            prefix_caching=True,
            extra_body={"cache_prompt": True},
        )
        self.server = server
        # the embedded all-MiniLM-L6-v2 scores labels beside the chat model, when installed
        self.similarity = LabelSimilarity()
        self.restarts = 0
        self._factory = server_factory
        self._restart_lock: asyncio.Lock | None = None

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        if not self.server.running:
            await self._restart()
        return await super().infer(batch)

    async def _restart(self) -> None:
        if self._restart_lock is None:
            self._restart_lock = asyncio.Lock()
        async with self._restart_lock:
            if self.server.running:  # another worker restarted it meanwhile
                return
            server = await asyncio.to_thread(self._factory)
            self.server = server
            self.base_url = server.base_url.rstrip("/")
            self.slot_files = server.slot_files
            self._headers["Authorization"] = f"Bearer {server.api_key}"
            await self.aclose()  # the next call connects to the new server
            self._connect_to(server.base_url)
            self.restarts += 1
