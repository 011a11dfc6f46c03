"""What travels from the driver to the executors: endpoint configuration without secrets.

An endpoint in ``config.toml`` never holds a key, only the name of the environment variable
that does (``api_key_env``); so the shipped configuration is the validated endpoints and
settings as JSON, plus where the response cache lives. Each executor reads the key from its own
environment when it first calls the endpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lakeinfer.config import EndpointConfig, LakeinferConfig


@dataclass(frozen=True)
class ShippedConfig:
    """The executors' view of the endpoints: JSON of the config, secrets excluded by design."""

    config_json: str
    cache_path: str | None = None
    #: a Spark accumulator the executors add their usage to (see lakeinfer.spark.usage)
    usage: Any = field(default=None, compare=False)

    @classmethod
    def from_config(cls, config: LakeinferConfig, cache_path: str | None) -> ShippedConfig:
        data = config.model_dump(mode="json", exclude_defaults=True)
        data["endpoints"] = {
            name: {**endpoint.model_dump(mode="json", exclude_defaults=True)}
            | {"provider": endpoint.provider}
            for name, endpoint in config.endpoints.items()
        }
        return cls(json.dumps(data, sort_keys=True), cache_path)

    def config(self) -> LakeinferConfig:
        return LakeinferConfig.model_validate(json.loads(self.config_json))

    @property
    def key(self) -> str:
        """Identifies this configuration on an executor (one runtime per distinct config)."""
        material = json.dumps([self.config_json, self.cache_path])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def endpoint(self, name: str) -> EndpointConfig | None:
        return self.config().endpoints.get(name)


def endpoint_configs(endpoints: dict[str, Any]) -> dict[str, EndpointConfig]:
    """``{name: EndpointConfig | dict of fields}`` -> validated endpoint configs."""
    from lakeinfer.config import make_endpoint, validate_endpoint_name

    result: dict[str, EndpointConfig] = {}
    for name, value in endpoints.items():
        validate_endpoint_name(name)
        result[name] = value if isinstance(value, EndpointConfig) else make_endpoint(name, **value)
    return result
