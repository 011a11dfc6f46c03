"""Where the lakehouse lives and what ``<home>/config.toml`` holds.

Precedence for the home directory: ``--home`` > ``LAKEINFER_HOME`` > ``./lakehouse`` (see
:mod:`lakeinfer.home`).
``config.toml`` holds named endpoints under ``[endpoints.<name>]``; unknown keys are rejected so a
typo never silently falls back to a default. Secrets are never stored by value here: an endpoint
names the environment variable that holds its key (``api_key_env``).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lakeinfer import redaction
from lakeinfer.endpoints.urls import check_http_url
from lakeinfer.errors import ConfigError
from lakeinfer.home import (  # noqa: F401 (the home's names, also importable from here)
    CONFIG_FILE,
    HOME_ENV,
    config_path,
    resolve_home,
)
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.text_files import read_text

Task = Literal["chat", "embeddings", "token-classification", "text-classification", "custom"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


#: The module holding the provider table (name, tasks and fields of each provider) and
#: ``check_endpoint(endpoint)``, which raises ``ValueError`` when an endpoint does not fit its
#: provider and fills in the provider's default task. It is looked up by name, as the engine
#: loads its built-in features, so that the configuration imports nothing of the endpoints
#: layer above it.
PROVIDER_TABLE = "lakeinfer.endpoints.providers"


class EndpointConfig(BaseModel):
    """One named model endpoint.

    ``provider`` picks the implementation:

    * ``openai``: any OpenAI-compatible HTTP server (``base_url``, ``model``);
    * ``databricks``: a Databricks Model Serving endpoint over HTTP (``base_url`` is the
      workspace URL, ``model`` the serving endpoint's name), sent ``dataframe_records`` or
      ``inputs`` and answering ``predictions``;
    * ``sentence-transformers``: an in-process embedding model (``model`` is a directory);
    * ``transformers``: a Hugging Face pipeline (``task`` token-classification or
      text-classification, ``model`` a directory);
    * ``mlflow``: an MLflow pyfunc model (``model_uri``);
    * any other name: a provider installed as a package under the ``lakeinfer.providers``
      entry point group (its settings go in ``options``); see
      :mod:`lakeinfer.endpoints.providers`, the table of providers.

    ``task`` decides the request shape and the default return type of ``ai_query``: ``chat``
    gives STRING, ``embeddings`` ARRAY<FLOAT>; ``custom`` models take any value or struct and
    answer the type of their signature (else ``returnType`` is required). The limits
    (``max_concurrency``, the per-minute rates, ``timeout_s``, ``max_retries``,
    ``max_request_s``) are described in :class:`lakeinfer.runtime.limits.EndpointLimits`.
    """

    model_config = ConfigDict(extra="forbid")

    provider: str = "openai"
    base_url: str | None = None
    model: str | None = None
    model_uri: str | None = None
    #: Defaults to the provider's first task (``chat`` for openai, ``custom`` for plugins).
    task: Task = None  # type: ignore[assignment]  # filled in by the validator
    #: Requests per call to the model (batch size); the provider's own default when unset.
    max_batch: int | None = Field(default=None, ge=1, le=100_000)
    #: Provider-specific settings (third-party providers; ``aggregation_strategy`` for NER).
    options: dict[str, Any] = Field(default_factory=dict)
    api_key_env: str | None = None
    max_concurrency: int = Field(default=64, ge=1, le=4096)
    requests_per_minute: float | None = Field(default=None, gt=0)
    input_tokens_per_minute: float | None = Field(default=None, gt=0)
    output_tokens_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)
    max_request_s: float = Field(default=600.0, gt=0)
    #: USD per million tokens, for the cost estimate in summaries and the query history.
    price_input_per_million: float | None = Field(default=None, ge=0)
    price_output_per_million: float | None = Field(default=None, ge=0)
    #: USD per million tokens answered through the provider's batch API; unset: half the
    #: online price (OpenAI's batch discount).
    price_batch_input_per_million: float | None = Field(default=None, ge=0)
    price_batch_output_per_million: float | None = Field(default=None, ge=0)
    #: Whether statements may send this endpoint's requests through its provider's batch API
    #: (``auto``, ``on``, ``off``); unset: the session's ``lakeinfer.batch_mode``.
    batch_mode: Literal["auto", "on", "off"] | None = None
    #: Record every request and response in ``system.ai.inference_log``.
    log_requests: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @model_validator(mode="after")
    def _fields_of_provider(self) -> EndpointConfig:
        import_module(PROVIDER_TABLE).check_endpoint(self)
        return self

    def limits(self) -> EndpointLimits:
        return EndpointLimits(
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            input_tokens_per_minute=self.input_tokens_per_minute,
            output_tokens_per_minute=self.output_tokens_per_minute,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_request_s=self.max_request_s,
        )

    def api_key(self) -> str | None:
        """The secret named by ``api_key_env``; a clear error if that variable is unset."""
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.api_key_env} is not set "
                f"(it holds the API key of this endpoint)"
            )
        redaction.register(value)
        return value


class LakeinferConfig(BaseModel):
    """The whole ``config.toml``."""

    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    #: Defaults for session settings (see :mod:`lakeinfer.settings`), e.g. ``cache = false``.
    settings: dict[str, Any] = Field(default_factory=dict)


def load_config(home: Path) -> LakeinferConfig:
    """Read and validate ``<home>/config.toml``; a missing file is an empty config."""
    path = config_path(home)
    if not path.exists():
        return LakeinferConfig()
    try:
        raw = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = LakeinferConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    redaction.register_config(config)
    return config


def save_config(home: Path, config: LakeinferConfig) -> None:
    """Write ``config.toml`` atomically (write a temporary file, then rename)."""
    home.mkdir(parents=True, exist_ok=True)
    path = config_path(home)
    data = config.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("endpoints", {})
    for name, endpoint in config.endpoints.items():
        # keep provider/base_url/model explicit even when they equal a default
        data["endpoints"][name] = {
            **endpoint.model_dump(mode="json", exclude_defaults=True),
            "provider": endpoint.provider,
        }
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data))
    tmp.replace(path)


def validate_endpoint_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"invalid endpoint name {name!r}: use letters, digits, '_', '-' and '.'")
    return name


def make_endpoint(endpoint_name: str | None = None, /, **fields: object) -> EndpointConfig:
    """Build an :class:`EndpointConfig` from CLI-style fields with a readable error (naming
    ``endpoint_name`` when given)."""
    try:
        return EndpointConfig.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        where = f"endpoint {endpoint_name!r}: " if endpoint_name else ""
        raise ConfigError(where + _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {where!r}")
        else:
            message = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
