"""Checking the base URL of an endpoint before anything connects to it."""

from __future__ import annotations

from urllib.parse import urlsplit


def check_http_url(url: str) -> str:
    """``url`` without a trailing ``/`` if it is an http(s) URL a client can connect to; a
    ``ValueError`` quoting it (credentials hidden) and saying what is wrong otherwise."""
    parts = urlsplit(url)
    shown = repr(_without_credentials(url))
    if not parts.scheme or "://" not in url:
        raise ValueError(f"{shown} has no scheme: start it with http:// or https://")
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{shown} has the unsupported scheme {parts.scheme!r} (use http or https)")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError(f"{shown} contains a space or a control character")
    if "@" in parts.netloc:
        raise ValueError(
            f"{shown} holds credentials (user:password@); name the variable holding the key "
            f"with api_key_env instead"
        )
    if not parts.hostname:
        raise ValueError(f"{shown} has no host")
    if parts.netloc.endswith(":"):
        raise ValueError(f"{shown} has an empty port (write host:PORT or leave the ':' out)")
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        raise ValueError(f"{shown} has an invalid port {port_text!r} (1 to 65535)") from None
    if port == 0:
        raise ValueError(f"{shown} has an invalid port '0' (1 to 65535)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"{shown} has a query or fragment (?... or #...); give the base URL only")
    return url.rstrip("/")


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    host_part, slash, path = rest.partition("/")
    if sep and "@" in host_part:
        return f"{scheme}://***@{host_part.rpartition('@')[2]}{slash}{path}"
    return url
