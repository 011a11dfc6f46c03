"""`lakeinfer serve` answers only its own loopback origin and its token, on every route."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator

import pytest

import lakeinfer
from lakeinfer.errors import ConfigError
from lakeinfer.serving.guard import Guard, bearer, host_name, is_loopback, same_token
from lakeinfer.serving.server import InferenceServer
from tests.conftest import configure

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "spend my quota"}]}


@pytest.fixture
def session(home, fake_server) -> Iterator[lakeinfer.Session]:
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        yield s


def request(
    server: InferenceServer,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict]:
    """One raw request, with exactly the headers given (``Host`` included)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Host": f"127.0.0.1:{server.port}", **(headers or {})}
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        connection.close()


def routes(server: InferenceServer) -> list[tuple[str, str]]:
    """Every (method, path) the application routes, read from its router."""
    found = set()
    for route in server._app.router.routes():
        path = re.sub(r"\{[^}]+\}", "chat", route.resource.canonical)  # type: ignore[union-attr]
        found.add((route.method, path))
    assert len(found) >= 7, found
    return sorted(found)


def test_every_route_refuses_foreign_hosts_origins_and_missing_or_wrong_tokens(
    session, fake_server
):
    with InferenceServer(session, port=0, names=["chat"]) as server:
        token, own = server.token, f"127.0.0.1:{server.port}"
        assert token and len(token) >= 24
        wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off
        good = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps(CHAT).encode()
        for method, path in routes(server):
            cases = {
                "foreign Host": ({**good, "Host": f"attacker.example:{server.port}"}, 403),
                "foreign Origin": ({**good, "Origin": "http://attacker.example"}, 403),
                "null Origin": ({**good, "Origin": "null"}, 403),
                "other local port": ({**good, "Origin": "http://127.0.0.1:1"}, 403),
                "no token": ({"Content-Type": "application/json"}, 401),
                "wrong token": ({**good, "Authorization": f"Bearer {wrong}"}, 401),
                "not a bearer": ({**good, "Authorization": token}, 401),
                "non-ASCII token": ({**good, "Authorization": "Bearer j\u00e9"}, 401),
            }
            for case, (headers, status) in cases.items():
                got, answer = request(server, method, path, headers, body)
                assert got == status, (method, path, case, answer)
                if method != "HEAD":
                    assert "refused" in answer["message"] or "token" in answer["message"]
        assert fake_server.stats().get("chat", 0) == 0  # nothing reached the endpoint
        # the server's own origin with its token is served
        status, answer = request(server, "POST", "/v1/chat/completions", {
            **good, "Origin": f"http://{own}"}, body)  # fmt: skip
        assert status == 200 and answer["choices"][0]["message"]["content"].startswith("echo")
        localhost = {**good, "Host": f"localhost:{server.port}"}
        assert request(server, "GET", "/v1/models", localhost)[0] == 200
        assert fake_server.stats()["chat"] == 1


def test_a_cross_site_text_plain_post_is_not_executed_even_without_a_token(session, fake_server):
    """What a web page can make a browser send without asking: a text/plain POST. Its
    Origin, or its rebound Host name, gives it away."""
    with InferenceServer(session, port=0, names=["chat"], require_token=False) as server:
        assert server.token is None
        body = json.dumps(CHAT).encode()
        plain = {"Content-Type": "text/plain"}
        for headers in (
            {**plain, "Origin": "https://attacker.example"},
            {**plain, "Host": f"rebound.attacker.example:{server.port}"},
            {**plain, "Host": f"rebound.attacker.example:{server.port}",
             "Origin": f"http://rebound.attacker.example:{server.port}"},
        ):  # fmt: skip
            assert request(server, "POST", "/v1/chat/completions", headers, body)[0] == 403
        assert fake_server.stats().get("chat", 0) == 0
        # a local program (no Origin) is served: the opt-out trusts this machine
        assert request(server, "POST", "/v1/chat/completions", plain, body)[0] == 200
        assert fake_server.stats()["chat"] == 1


def test_tokens_are_made_per_server_and_the_opt_out_is_loopback_only(session):
    with InferenceServer(session, port=0, names=["chat"]) as one:
        with InferenceServer(session, port=0, names=["chat"]) as two:
            assert one.token and two.token and one.token != two.token
            status, _ = request(two, "GET", "/v1/models", {"Authorization": f"Bearer {one.token}"})
            assert status == 401
    with pytest.raises(ConfigError, match="without a token"):
        InferenceServer(session, host="0.0.0.0", port=0, require_token=False)
    with pytest.raises(ConfigError, match="must not be empty"):
        InferenceServer(session, port=0, token=" ")


def test_guard_rules():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "localhost.attacker.example", ""]))
    assert [host_name(h) for h in ("[::1]:80", "127.0.0.1:8", "localhost", "::1")] == [
        "::1",
        "127.0.0.1",
        "localhost",
        "::1",
    ]
    assert bearer({"authorization": "Bearer  abc "}) == "abc"
    assert bearer({"authorization": "Basic abc"}) is None and bearer({}) is None
    assert same_token("abc", "abc") and not same_token("abd", "abc")
    assert not same_token("\udcff", "abc")  # undecodable input compares, never raises
    exposed = Guard(loopback=False, token="t")
    assert exposed.refusal({"host": "lakehouse.example:80", "authorization": "Bearer t"}) is None
    assert exposed.refusal({"host": "x:80", "origin": "http://y:80"}).status == 403  # type: ignore[union-attr]
    assert Guard(loopback=True, token=None).refusal({"host": "127.0.0.1:1"}) is None
    assert Guard(loopback=True, token=None).refusal({}).status == 403  # type: ignore[union-attr]
