"""The embedded llama-server gets its API key from a private file, never on its command line
(which every user of the machine can read in /proc), and still requires it."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lakeinfer.endpoints.llama_server import server_environment, shared_server


def test_the_api_key_is_not_on_the_command_line_and_is_enforced():
    server = shared_server()
    assert server._process is not None
    cmdline = Path(f"/proc/{server._process.pid}/cmdline")
    if not cmdline.exists():
        pytest.skip("this system has no /proc")
    argv = cmdline.read_bytes().split(b"\0")
    assert any(b"llama-server" in a for a in argv)  # the right process
    assert server.api_key.encode() not in cmdline.read_bytes()
    assert b"--api-key" not in argv
    key_file = Path(argv[argv.index(b"--api-key-file") + 1].decode())
    assert not key_file.exists()  # removed once the server had read it
    # the key still guards the server: refused without it or with another, answered with it
    models = f"http://127.0.0.1:{server.port}/v1/models"
    for headers in ({}, {"Authorization": "Bearer not-the-key"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(models, headers=headers), timeout=10)
        with refused.value as error:
            assert error.code == 401
    allowed = urllib.request.Request(models, headers={"Authorization": f"Bearer {server.api_key}"})
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert response.status == 200


def test_the_environment_names_no_other_key(monkeypatch):
    monkeypatch.setenv("LLAMA_API_KEY", "someone-elses-key")
    monkeypatch.setenv("LLAMA_ARG_N_GPU_LAYERS", "0")
    environment = server_environment()
    assert "LLAMA_API_KEY" not in environment
    assert environment["LLAMA_ARG_N_GPU_LAYERS"] == "0" and "PATH" in environment
