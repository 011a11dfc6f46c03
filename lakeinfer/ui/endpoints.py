"""Endpoints as the workspace lists them, and a health check that makes one real call.

The list comes from the lakehouse's ``config.toml`` (re-read each time, so endpoints created
with ``lakeinfer endpoints create`` while the workspace runs appear) plus Databricks'
pre-provisioned names, which the embedded model answers when nothing else is configured.
The check sends one tiny request through the session's own provider (same connection pool,
same API key handling) and reports the latency or the error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lakeinfer.config import load_config
from lakeinfer.endpoints.base import AIRequest
from lakeinfer.endpoints.registry import PREPROVISIONED_CHAT
from lakeinfer.errors import UnknownEndpointError
from lakeinfer.redaction import redact
from lakeinfer.session import Session

HEALTH_TIMEOUT_S = 15.0
LIMIT_FIELDS = (
    "max_concurrency",
    "requests_per_minute",
    "input_tokens_per_minute",
    "output_tokens_per_minute",
    "timeout_s",
    "max_retries",
)


def list_endpoints(session: Session) -> list[dict[str, Any]]:
    """Configured endpoints (provider, task, model, URL, limits, prices), then the
    pre-provisioned names not configured. API keys are never included, only the name of the
    environment variable that holds one."""
    config = load_config(session.home)
    rows = []
    for name, endpoint in sorted(config.endpoints.items()):
        fields = endpoint.model_dump(mode="json")
        rows.append(
            {
                "name": name,
                "provider": fields.get("provider"),
                "task": fields.get("task"),
                "model": fields.get("model"),
                "base_url": fields.get("base_url"),
                "api_key_env": fields.get("api_key_env"),
                "limits": {k: fields.get(k) for k in LIMIT_FIELDS if fields.get(k) is not None},
                "price_input_per_million": fields.get("price_input_per_million"),
                "price_output_per_million": fields.get("price_output_per_million"),
                "configured": True,
            }
        )
    for name in PREPROVISIONED_CHAT:
        if name not in config.endpoints:
            rows.append(
                {
                    "name": name,
                    "provider": "embedded",
                    "task": "chat",
                    "model": "answered by the embedded model (or a Databricks workspace)",
                    "base_url": None,
                    "api_key_env": None,
                    "limits": {},
                    "configured": False,
                }
            )
    return rows


def health(session: Session, name: str, timeout_s: float = HEALTH_TIMEOUT_S) -> dict[str, Any]:
    """Send one short request to endpoint ``name``: ``{"ok", "latency_ms", "error"}``."""
    if name not in session.registry.config.endpoints and name not in PREPROVISIONED_CHAT:
        config = load_config(session.home)
        if name not in config.endpoints:
            raise UnknownEndpointError(name, session.registry.names())
        session.registry.config.endpoints[name] = config.endpoints[name]
    task = session.registry.task_of(name)
    parameters = {"max_tokens": 1} if task == "chat" else {}
    request = AIRequest("ping", parameters)

    async def call() -> Any:
        provider = session.registry.get(name)
        return await asyncio.wait_for(provider.infer([request]), timeout_s)

    started = time.monotonic()
    try:
        # the provider lives on the session's loop, with its connection pool
        outcome = session.loop.run(call())[0]
    except TimeoutError:
        return {"ok": False, "latency_ms": None, "error": f"no answer in {timeout_s:g}s"}
    except Exception as exc:
        return {"ok": False, "latency_ms": None, "error": redact(str(exc))}
    latency = round((time.monotonic() - started) * 1000.0, 1)
    error = None if outcome.error is None else redact(outcome.error)
    return {"ok": outcome.ok, "latency_ms": latency, "error": error}
