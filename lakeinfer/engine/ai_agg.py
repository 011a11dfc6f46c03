"""``ai_agg(content, instruction [, endpoint])``: an aggregate that answers ``instruction`` over
any number of rows by hierarchical reduction within the model's context window.

The rows of a group are packed into prompts that fit ``lakeinfer.agg_context_tokens`` (input
tokens estimated as characters / 4, the instruction included). When one prompt holds them all,
the model answers the instruction directly. Otherwise each prompt is summarised (an
intermediate summary, at most half a prompt's room), and the summaries are packed and reduced
the same way until one prompt holds them all. Since at least two summaries always fit in one
prompt, every level at least halves the number of texts, so the reduction ends. A row longer
than one prompt's room is cut to fit.

All groups advance together, level by level, so the requests of one level go out concurrently;
each request is an ``ai_query`` request (deduplicated, cached, counted against the budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp

from lakeinfer.engine.ai_eval import CHARS_PER_TOKEN, AiEvaluator
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import DEFAULT_TEMPERATURE, AiQueryCall

#: the smallest context that leaves room for the instruction and two texts
MIN_CONTEXT_TOKENS = 64
PARTIAL = (
    "You are reading one part of a larger set of texts. Task for the whole set: {instruction}\n"
    "Write a short intermediate summary of this part that keeps what the task needs.\n\n"
    "Texts:\n{texts}"
)
FINAL = "{instruction}\n\nTexts:\n{texts}"


@dataclass
class Reduction:
    """What one reduction did: requests sent per level (level 1 reads the rows)."""

    calls_per_level: list[int] = field(default_factory=list)


class AiAggregate:
    """One ``ai_agg`` call site: reduces lists of texts to one answer each."""

    def __init__(
        self, ai: AiEvaluator, node: exp.Expression, endpoint: str, instruction: str
    ) -> None:
        self.ai = ai
        self.instruction = instruction
        self.context_tokens = int(ai.settings.get("agg_context_tokens"))
        if self.context_tokens < MIN_CONTEXT_TOKENS:
            raise AnalysisError(
                f"lakeinfer.agg_context_tokens = {self.context_tokens} is too small for ai_agg "
                f"(at least {MIN_CONTEXT_TOKENS})"
            )
        overhead = len(PARTIAL.format(instruction=instruction, texts=""))
        #: characters of texts one prompt holds
        self.room = self.context_tokens * CHARS_PER_TOKEN - overhead
        if self.room < MIN_CONTEXT_TOKENS * CHARS_PER_TOKEN // 2:
            raise AnalysisError(
                f"ai_agg: the instruction ({len(instruction)} characters) leaves no room for rows "
                f"in lakeinfer.agg_context_tokens = {self.context_tokens}"
            )
        self.summary_chars = self.room // 2 - 8
        self.partial = AiQueryCall(
            node=node,
            endpoint=endpoint,
            request=exp.Null(),
            parameters={
                "temperature": DEFAULT_TEMPERATURE,
                "max_tokens": max(16, self.summary_chars // CHARS_PER_TOKEN),
            },
        )
        self.final = AiQueryCall(
            node=node,
            endpoint=endpoint,
            request=exp.Null(),
            parameters={
                "temperature": DEFAULT_TEMPERATURE,
                "max_tokens": int(ai.settings.get("default_max_tokens")),
            },
        )
        self.last = Reduction()

    def reduce(self, groups: list[list[str | None] | None]) -> list[str | None]:
        """One answer per group (NULL for a group without non-NULL texts)."""
        pending: dict[int, list[str]] = {}
        for index, texts in enumerate(groups):
            kept = [self._clip(t, self.room) for t in (texts or []) if t is not None]
            if kept:
                pending[index] = kept
        answers: list[str | None] = [None] * len(groups)
        reduction = Reduction()
        while pending:
            finals: list[tuple[int, str]] = []
            partials: list[tuple[int, str]] = []
            for index, texts in pending.items():
                batches = self._batches(texts)
                if len(batches) == 1:
                    finals.append(
                        (index, FINAL.format(instruction=self.instruction, texts=batches[0]))
                    )
                else:
                    partials.extend(
                        (index, PARTIAL.format(instruction=self.instruction, texts=b))
                        for b in batches
                    )
            reduction.calls_per_level.append(len(finals) + len(partials))
            if finals:
                got = self._ask(self.final, [p for _, p in finals])
                for (index, _), answer in zip(finals, got, strict=True):
                    answers[index] = answer
                    del pending[index]
            if partials:
                got = self._ask(self.partial, [p for _, p in partials])
                summaries: dict[int, list[str]] = {}
                for (index, _), answer in zip(partials, got, strict=True):
                    text = self._clip(answer or "", self.summary_chars)
                    summaries.setdefault(index, []).append(text)
                pending.update(summaries)
        self.last = reduction
        return answers

    def _batches(self, texts: list[str]) -> list[str]:
        """Texts packed into prompts' room, in order, as bulleted lists."""
        batches: list[list[str]] = [[]]
        used = 0
        for text in texts:
            cost = len(text) + 3  # "- " and the newline
            if batches[-1] and used + cost > self.room:
                batches.append([])
                used = 0
            batches[-1].append(text)
            used += cost
        return ["\n".join(f"- {t}" for t in batch) for batch in batches]

    def _ask(self, call: AiQueryCall, prompts: list[str]) -> list[str | None]:
        return self.ai.answer(call, pa.array(prompts, pa.string())).to_pylist()

    @staticmethod
    def _clip(text: str, limit: int) -> str:
        text = " ".join(str(text).split())
        return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."
