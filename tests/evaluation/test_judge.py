"""Model-judged metrics through a judge endpoint (a small local server with fixed verdicts)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.errors import AnalysisError
from lakeinfer.evaluation import evaluate
from lakeinfer.evaluation.judge import judge_prompt, parse_verdict
from lakeinfer.evaluation.report import render_report


def verdict_for(prompt: str) -> str:
    """Paris answers get 5/4, anything else 1/2; "BROKEN" answers get no JSON at all."""
    answer = prompt.split("Model answer:")[1]
    if "BROKEN" in answer:
        return "I cannot grade this."
    if "Paris" in answer:
        return 'Sure. {"relevance": 5, "faithfulness": 4, "reason": "correct capital"}'
    return '{"relevance": 1, "faithfulness": "2", "reason": "wrong capital"}'


class JudgeServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 answering with :func:`verdict_for`."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.prompts.append(prompt)
        return web.json_response(
            {
                "choices": [{"message": {"role": "assistant", "content": verdict_for(prompt)}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }
        )

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.post("/v1/chat/completions", self._chat)])
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def judged_session(tmp_path: Path) -> Iterator[tuple[lakeinfer.Session, JudgeServer]]:
    home = tmp_path / "lakehouse"
    with JudgeServer() as server:
        endpoint = make_endpoint(base_url=f"http://127.0.0.1:{server.port}/v1", model="judge")
        save_config(home, LakeinferConfig(endpoints={"judge": endpoint}))
        with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
            session.sql(
                "CREATE TABLE truth AS SELECT * FROM (VALUES (1, 'Paris'), (2, 'Paris'), "
                "(3, 'Paris'), (4, 'Paris'), (5, 'Paris')) AS t(id, capital)"
            )
            session.sql(
                "CREATE TABLE answers AS SELECT * FROM (VALUES "
                "(1, 'Paris', 'Capital of France?'), (2, 'paris', 'Capital of France?'), "
                "(3, 'Lyon', 'Capital of France?'), (5, 'BROKEN', 'Capital of France?')) "
                "AS t(id, capital, question)"
            )
            yield session, server


def test_judge_scores_are_model_judged_and_kept_apart(judged_session, tmp_path):
    session, server = judged_session
    result = evaluate(
        session,
        "answers",
        "truth",
        "id",
        judge_endpoint="judge",
        judge_input="question",
    )
    # ground truth: ids 1 and 2 right ("paris" matches as a label), 3 wrong, 4 missing, 5 wrong
    assert result.metric("capital", "accuracy") == 2 / 5
    judge = result.judge
    assert judge is not None and judge.endpoint == "judge"
    # id 4 has no prediction, so it is not judged; id 5's verdict holds no scores
    assert len(server.prompts) == 4
    assert judge.per_row == {
        1: {"relevance": 5.0, "faithfulness": 4.0},
        2: {"relevance": 1.0, "faithfulness": 2.0},
        3: {"relevance": 1.0, "faithfulness": 2.0},
    }
    assert list(judge.failures) == [5]
    assert judge.means == {"relevance": pytest.approx(7 / 3), "faithfulness": pytest.approx(8 / 3)}
    assert judge.reasons[1] == "correct capital"
    judged = [r for r in result.records() if r["kind"] == "model-judged"]
    assert {r["metric"]: r["value"] for r in judged} == {
        "relevance": pytest.approx(7 / 3),
        "faithfulness": pytest.approx(8 / 3),
        "judged_rows": 3.0,
        "judge_failures": 1.0,
    }
    assert {r["judge_endpoint"] for r in judged} == {"judge"}
    assert result.score == 2 / 5  # the judge does not change the ground-truth score
    # the input column reached the judge, and the calls went through ai_query's accounting
    assert "Input:\nCapital of France?" in server.prompts[0]
    assert session.last_stats is not None and session.last_stats.ai.requests == 4
    page = render_report(result)
    section = page[page.index('id="model-judged"') :]
    assert "Model-judged (not ground truth)" in section
    assert "judge endpoint <code>judge</code>" in section
    assert 'alt="model-judged scores chart"' in section


def test_judge_errors_name_the_problem(judged_session):
    session, _ = judged_session
    with pytest.raises(AnalysisError, match="unknown judge criterion 'style'"):
        evaluate(
            session,
            "answers",
            "truth",
            "id",
            prediction_column="capital",
            judge_endpoint="judge",
            judge_criteria=["style"],
        )
    with pytest.raises(AnalysisError, match="judge input column 'nope'"):
        evaluate(
            session,
            "answers",
            "truth",
            "id",
            prediction_column="capital",
            judge_endpoint="judge",
            judge_input="nope",
        )


def test_prompt_and_verdict_parsing():
    prompt = judge_prompt(["relevance"], "doc", {"a": 1}, "x")
    assert 'Reference answer:\n{"a": 1}' in prompt
    assert prompt.endswith('{"relevance": <score>, "reason": "<one sentence>"}')
    assert parse_verdict('x {"relevance": 3} y', ["relevance"]) == ({"relevance": 3.0}, "")
    with pytest.raises(ValueError, match="no JSON object"):
        parse_verdict('{"relevance": 9}', ["relevance"])  # out of the 1-5 scale
    with pytest.raises(ValueError, match="empty"):
        parse_verdict(None, ["relevance"])
    assert json.loads('{"ok": 1}')
