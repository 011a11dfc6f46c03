"""Third-party providers, installed as packages.

A package registers a provider under the ``lakeinfer.providers`` entry point group::

    [project.entry-points."lakeinfer.providers"]
    my-provider = "my_package:create"

``create(name, config)`` gets the endpoint's name and its
:class:`~lakeinfer.config.EndpointConfig` (provider-specific settings are in
``config.options``) and returns a :class:`~lakeinfer.endpoints.base.Provider`. Users then
``lakeinfer endpoints create NAME --provider my-provider [--option key=value ...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from lakeinfer.endpoints.base import Provider
from lakeinfer.errors import ConfigError

if TYPE_CHECKING:
    from lakeinfer.config import EndpointConfig

GROUP = "lakeinfer.providers"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def provider_names() -> list[str]:
    """Names of the installed third-party providers."""
    return sorted(_entry_points())


def create_provider(name: str, config: EndpointConfig) -> Provider:
    """Build endpoint ``name`` with the installed provider ``config.provider``."""
    entry = _entry_points().get(config.provider)
    if entry is None:
        raise ConfigError(
            f"endpoint {name!r}: provider {config.provider!r} is not installed "
            f"(no entry point of that name in the group {GROUP!r})"
        )
    try:
        factory: Callable[..., Any] = entry.load()
    except Exception as exc:
        raise ConfigError(
            f"endpoint {name!r}: provider {config.provider!r} ({entry.value}) cannot be "
            f"loaded: {exc.__class__.__name__}: {exc}"
        ) from None
    provider = factory(name, config)
    if not isinstance(provider, Provider):
        raise ConfigError(
            f"endpoint {name!r}: provider {config.provider!r} ({entry.value}) returned "
            f"{type(provider).__name__}, not a lakeinfer Provider"
        )
    return provider
