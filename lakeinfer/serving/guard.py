"""Who may talk to lakeinfer's HTTP servers (``lakeinfer serve`` and ``lakeinfer ui``).

Both servers apply the same three checks to every request, before any route runs:

* **Host.** Bound to a loopback address, a request must name a loopback address in its
  ``Host`` header. A web page whose domain an attacker re-points at 127.0.0.1 (DNS rebinding)
  sends its own domain there, and is refused.
* **Origin.** A request that carries an ``Origin`` header (browsers send one with every
  cross-origin request and every POST) must come from the server's own origin, so a page on
  another site cannot make the user's browser post to the server (cross-site request forgery,
  including the ``text/plain`` posts browsers send without asking first).
* **Token.** Unless started with an explicit opt-out, every request must carry the server's
  token (``Authorization: Bearer <token>``), compared in constant time. When none is given a
  random one is made, as Jupyter does, so other local users and programs cannot call the
  server either.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lakeinfer.errors import ConfigError

#: host names that always mean this machine
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to bind, or the name part of a ``Host`` header) only
    reaches this machine."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:8000`` -> ``::1``, ``x:80`` -> ``x``."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.rsplit(":", 1)[0]
    return header


def new_token() -> str:
    """A fresh random token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def required_token(host: str, given: str | None, require: bool, what: str) -> str | None:
    """The token ``what`` (a server bound to ``host``) requires: ``given``, else a fresh one;
    None only when ``require`` is False, which a loopback ``host`` alone allows."""
    if given is not None:
        if not given.strip():
            raise ConfigError(f"the token of {what} must not be empty")
        return given
    if require:
        return new_token()
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to serve {what} on {host} without a token: drop --no-token (a token is "
            f"made and printed), or bind 127.0.0.1"
        )
    return None


def same_token(given: str, token: str) -> bool:
    """Constant-time comparison of a presented token with the server's."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    value = headers.get("authorization") or ""
    scheme, _, given = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP status and a one-line message."""

    status: int
    message: str


@dataclass(frozen=True)
class Guard:
    """The checks of one server: ``loopback`` when it is bound to a loopback address,
    ``token`` the one every request must carry (None: the explicit opt-out)."""

    loopback: bool
    token: str | None

    @classmethod
    def for_server(cls, bound_host: str, token: str | None) -> Guard:
        return cls(loopback=is_loopback(bound_host), token=token)

    def origin_refusal(self, headers: Mapping[str, str]) -> Refusal | None:
        """A refusal when the request names a foreign Host or comes from another origin.
        ``headers``: a case-insensitive mapping, or one with lower-case names."""
        host = headers.get("host") or ""
        if self.loopback and not is_loopback(host_name(host)):
            return Refusal(
                403, f"refused: this server answers only to a loopback Host, not {host!r}"
            )
        origin = headers.get("origin")
        if origin is not None and origin.strip().lower().rstrip("/") not in (
            f"http://{host}".lower(),
            f"https://{host}".lower(),
        ):
            return Refusal(403, f"refused: a cross-origin request (from {origin!r})")
        return None

    def authorized(self, headers: Mapping[str, str], others: Iterable[str | None] = ()) -> bool:
        """Whether the request carries the token: as a bearer token, or as one of ``others``
        (credentials the server takes in other forms, such as a cookie)."""
        if self.token is None:
            return True
        given = [bearer(headers), *others]
        # compare every candidate, so the time taken does not tell which form matched
        matches = [same_token(g, self.token) for g in given if g]
        return any(matches)

    def refusal(self, headers: Mapping[str, str]) -> Refusal | None:
        """The first check a request fails (Host, Origin, then the bearer token), or None."""
        problem = self.origin_refusal(headers)
        if problem is not None:
            return problem
        if not self.authorized(headers):
            return Refusal(401, "a token is required: send 'Authorization: Bearer <token>'")
        return None
