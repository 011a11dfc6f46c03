"""Task functions on an endpoint that scores completions: the embedded llama.cpp model.

A 135M-parameter model asked for a JSON answer is near chance on labels, and free to write it
may repeat itself until its token limit. On an endpoint whose capabilities include
``scored_completions`` (llama.cpp's ``/completion``: a raw prompt, a GBNF grammar, the top
log-probabilities of every generated token) the task functions ask differently, each in one
short call whose answer length is bounded by the grammar:

- **labels** (``ai_analyze_sentiment``, ``ai_classify``): a few-shot prompt that ends in
  ``Label:``; the grammar allows only the labels. Each label is scored by its log-probability
  under the model (:func:`label_logprob`), minus its log-probability after a text that says
  nothing (the model's own leaning towards each label, measured once per label set), and the
  best one is the answer.
- **spans** (``ai_extract``, ``ai_mask``): the grammar allows, for each field, only ``none`` or
  a run of words copied from the input (:func:`span_rules`), so every value is verbatim and
  the answer is at most one span per field (three per label for masking).

A request is a JSON object ``{"prompt": ..., "grammar": ...}`` (see :func:`completion`); the
answer is ``{"content": text, "probs": [...]}``, llama.cpp's ``completion_probabilities``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

#: top log-probabilities asked for at each generated token
TOP_LOGPROBS = 40
#: words of the input that extracted and masked values may be copied from
MAX_INPUT_WORDS = 2000
#: longest run of words an extracted or masked value may be
SPAN_WORDS = 4
#: spans listed per masked label
MASK_SPANS_PER_LABEL = 3
NONE = "none"
#: the text of a prior's prompt: one that says nothing
CONTENT_FREE = "N/A"
#: punctuation trimmed from the ends of a span (kept inside: "O'Brien", "Al-Sayed", "3.5")
_TRIM = "\"'“”‘’()[]{}<>.,;:!?"
_CLAUSE_END = ".,;:!?)"
#: a span's end is taken where ending it was at most this much less likely than going on
STOP_SLACK = 0.5
#: words that start no span: a name is copied without its title
TITLES = frozenset("mr mr. mrs mrs. ms ms. dr dr. prof prof. professor detective sir madam".split())
#: function words that start no span either: a value is "Paris", never "in" or "in Paris"
FUNCTION_WORDS = frozenset(
    "a an the in at on of to from with by for into near and or but his her their its our my "
    "your this that these those is was are were be".split()
)
_POSSESSIVE = re.compile(r"['’]s$")


def completion(
    prompt: str,
    grammar: str,
    prior: str | None = None,
    similar: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The request payload of a scored completion. ``prior``: a prompt whose answer's
    probabilities come back too (as ``prior``), to correct for the model's leanings;
    ``similar``: ``{"text", "options": {label: [texts]}, "enough": bool}`` for label
    similarity from an embedding model, when the endpoint has one."""
    request: dict[str, Any] = {"prompt": prompt, "grammar": grammar}
    if prior is not None:
        request["prior"] = prior
    if similar is not None:
        request["similar"] = similar
    return request


def is_completion(payload: Any) -> bool:
    """Whether ``payload`` is a scored-completion request (chat requests are text or a list
    of messages)."""
    return isinstance(payload, dict) and isinstance(payload.get("prompt"), str)


# -- grammars -------------------------------------------------------------------------------
def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def choice_grammar(options: Sequence[str]) -> str:
    """A grammar whose only sentences are ``options``."""
    return "root ::= " + " | ".join(gbnf_literal(o) for o in options) + "\n"


def span_rules(text: str, max_words: int = SPAN_WORDS) -> list[str]:
    """GBNF rules whose ``span`` is any run of 1 to ``max_words`` consecutive words of
    ``text`` (whitespace as one space) that does not run past a comma or a full stop and does
    not start with a title (:data:`TITLES`). Rule ``w<i>-<k>`` is word ``i`` as the ``k``-th
    word of a span, so the grammar grows with the text, not its square. Only the first
    :data:`MAX_INPUT_WORDS` words are offered."""
    words = text.split()[:MAX_INPUT_WORDS]
    if not words:
        return []
    starts = [i for i, word in enumerate(words) if _may_start(word)] or [0]
    rules = ["span ::= " + " | ".join(f"w{i}-1" for i in starts)]
    for i, word in enumerate(words):
        for k in range(1, max_words + 1):
            if i - k + 1 < 0:
                break  # word i cannot be a span's k-th word
            # a word that ends a clause (comma, full stop, ...) ends the span too
            ends = word[-1] in _CLAUSE_END or k == max_words or i + 1 == len(words)
            follow = "" if ends else f' (" " w{i + 1}-{k + 1})?'
            rules.append(f"w{i}-{k} ::= {gbnf_literal(word)}{follow}")
    return rules


def _may_start(word: str) -> bool:
    lowered = word.lower()
    return lowered not in TITLES and lowered.strip(_TRIM) not in FUNCTION_WORDS


def fields_grammar(fields: Sequence[str], text: str, per_field: int = 1) -> str:
    """A grammar for the answer after ``<first field>:``: each field is `` none`` or up to
    ``per_field`` spans of ``text`` joined by `` | ``, one field per line (``\n<field>:``)."""
    spans = span_rules(text)
    if spans:
        more = ' (" | " span' * (per_field - 1) + ")?" * (per_field - 1)
        rules = [f'value ::= " {NONE}" | " " span{more}', *spans]
    else:
        rules = [f'value ::= " {NONE}"']
    body = " value"
    for field in fields[1:]:
        body += f" {gbnf_literal(chr(10) + field + ':')} value"
    return f"root ::={body}\n" + "\n".join(rules) + "\n"


def clean_span(span: str) -> str:
    """A generated span without the punctuation (or possessive ``'s``) it took along from
    the text's words."""
    return _POSSESSIVE.sub("", span.strip().strip(_TRIM)).strip(_TRIM).strip()


# -- answers --------------------------------------------------------------------------------
def answer_of(raw: Any) -> dict[str, Any]:
    """The ``{"content", "probs"}`` answer (also from its JSON text, as cached)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return {"content": raw, "probs": [], "prior": [], "similarity": {}}
    if not isinstance(raw, dict):
        return {"content": str(raw), "probs": [], "prior": [], "similarity": {}}
    return {
        "content": str(raw.get("content") or ""),
        "probs": raw.get("probs") or [],
        "prior": raw.get("prior") or [],
        "similarity": raw.get("similarity") or {},
    }


def label_logprob(continuation: str, probs: Sequence[dict[str, Any]]) -> float:
    """Log-probability of ``continuation`` (a label as it follows the prompt) from one answer's
    token probabilities: the tokens it shares with the generated path, then, where it leaves
    the path, the best token of the alternatives there that starts its rest (or a floor below
    every listed alternative when none does). The label's later tokens are taken as certain,
    as a word once begun nearly always is."""
    rest, total = continuation, 0.0
    for step in probs:
        if not rest:
            break
        token = str(step.get("token") or "")
        if token and rest.startswith(token):
            total += float(step.get("logprob", 0.0))
            rest = rest[len(token) :]
            continue
        alternatives = step.get("top_logprobs") or []
        matching = [
            float(a["logprob"])
            for a in alternatives
            if a.get("token") and rest.startswith(str(a["token"]))
        ]
        if matching:
            return total + max(matching)
        floor = min((float(a["logprob"]) for a in alternatives), default=-30.0)
        return total + floor - 1.0
    return total


def best_label(
    labels: Sequence[str],
    probs: Sequence[dict[str, Any]],
    prior: dict[str, float] | None = None,
    similarity: dict[str, float] | None = None,
    weight: float = 0.0,
    prefix: str = " ",
) -> str:
    """The label with the highest :func:`label_logprob` (each label follows ``prefix``) less
    its ``prior`` log-probability, plus ``weight`` times its ``similarity``; ties go to the
    earlier label. Without ``probs`` the similarity alone decides."""
    prior = prior or {}
    similarity = similarity or {}
    scores = [
        (label_logprob(prefix + label, probs) - prior.get(label, 0.0) if probs else 0.0)
        + (weight if probs else 1.0) * similarity.get(label, 0.0)
        for label in labels
    ]
    return labels[max(range(len(labels)), key=lambda i: scores[i])]


def shortest_likely(probs: Sequence[dict[str, Any]], slack: float = STOP_SLACK) -> str:
    """The answer text of ``probs`` with each field's value cut where ending the line was
    nearly as likely (within ``slack`` in log-probability) as the word the model went on
    with: greedy decoding tends to run a name on into the next words ("Lagos office"). A
    capitalised word after a capitalised word is never cut off: it goes on a name ("Sofia
    Rossi", "Ho Chi Minh")."""
    out: list[str] = []
    value = ""  # the current field's value so far; None while in a field's name
    in_value: bool = True
    cut = False
    for step in probs:
        token = str(step.get("token") or "")
        if "\n" in token:
            out.append(token)
            in_value, value, cut = token.endswith(":"), "", False
            continue
        if not in_value:
            out.append(token)
            in_value = ":" in token
            continue
        # (only before a new word: "Ho Chi", never "Zanel|e")
        if (
            not cut
            and token.startswith(" ")
            and value.strip(_TRIM + " ")
            and not _goes_on_a_name(value, token)
        ):
            stop = max(
                (
                    float(a["logprob"])
                    for a in step.get("top_logprobs") or []
                    if str(a.get("token") or "").startswith("\n")
                ),
                default=float("-inf"),
            )
            cut = stop >= float(step.get("logprob", 0.0)) - slack
        if not cut:
            out.append(token)
            value += token
    return "".join(out)


def _goes_on_a_name(value: str, token: str) -> bool:
    last = value.split()[-1].strip(_TRIM)
    return last[:1].isupper() and token.strip()[:1].isupper() and last[-1:] not in _CLAUSE_END


def parse_fields(content: str, fields: Sequence[str]) -> dict[str, list[str]]:
    """The spans of each field from an answer generated under :func:`fields_grammar` (the
    first field's name is in the prompt, not in ``content``). A span that repeats words of an
    earlier field's span is dropped: a small model tends to give one name for every field
    ("person: Julia Kowalski", "location: Kowalski")."""
    lines = ("x:" + content).split("\n")
    values: dict[str, list[str]] = {}
    taken: set[str] = set()
    for field, line in zip(fields, lines, strict=False):
        value = line.split(":", 1)[1].strip() if ":" in line else ""
        if field != fields[0] and not line.startswith(field + ":"):
            value = ""
        parts = [clean_span(p) for p in value.split(" | ")] if value else []
        kept = [p for p in dict.fromkeys(parts) if p and p != NONE and not _words(p) & taken]
        taken |= {w for p in kept for w in _words(p)}
        values[field] = kept
    return values


def _words(span: str) -> set[str]:
    return {w.strip(_TRIM).lower() for w in span.split()} - FUNCTION_WORDS - {""}


# -- prompts --------------------------------------------------------------------------------
#: worked examples of ai_analyze_sentiment's prompt (written for it; not from any eval set)
SENTIMENT_EXAMPLES = (
    ("The soup was cold and the waiter ignored us.", "negative"),
    ("Lovely hotel, we will definitely come back.", "positive"),
    ("The store is on Main Street next to the bank.", "neutral"),
    ("The screen is bright, but the battery is weak.", "mixed"),
)


#: sentences standing for each sentiment, for label similarity (written for it; not from any
#: eval set)
SENTIMENT_PROTOTYPES = {
    "positive": (
        "I love it, it works perfectly.",
        "Excellent quality, highly recommended.",
        "Great service and friendly staff.",
        "Wonderful experience, we will come back.",
        "Very happy with this purchase.",
        "Amazing, exceeded my expectations.",
        "Fast, reliable and easy to use.",
        "Thank you, you were very helpful.",
        "The best one I have ever had.",
        "Delicious food and a beautiful view.",
    ),
    "negative": (
        "Terrible, it broke after two days.",
        "Very disappointed, a waste of money.",
        "Awful service and rude staff.",
        "It never arrived and nobody answers.",
        "Worst experience ever, avoid.",
        "It stopped working and support will not help.",
        "Poor quality, cheap and flimsy.",
        "Slow, buggy and frustrating.",
        "I want a refund, this is unacceptable.",
        "Dirty room and noisy neighbours.",
    ),
    "neutral": (
        "The store opens at nine.",
        "The package contains two items.",
        "The meeting is on Tuesday at 3 pm.",
        "The phone comes in black and white.",
        "I ordered it last week.",
        "The train leaves from platform two.",
        "The manual is available online.",
        "The price is listed on the website.",
        "It weighs about one kilogram.",
        "The office is on the third floor.",
    ),
    "mixed": (
        "Good food, but the service was slow.",
        "Nice design, though the battery is weak.",
        "I like the screen, but the speakers are bad.",
        "Cheap, but the quality is poor.",
        "Friendly staff, dirty room.",
        "It works well, but it is too expensive.",
        "Great start, disappointing ending.",
        "Fast delivery, but the box was damaged.",
        "Comfortable, although it broke after a year.",
        "Beautiful place, terrible parking.",
    ),
}
#: how much a cosine counts against a log-probability when both score a label
SIMILARITY_WEIGHT = 20.0


def sentiment_prompt(text: str) -> str:
    """ai_analyze_sentiment's few-shot prompt; the answer follows ``Sentiment:``."""
    shots = "".join(f"Text: {t}\nSentiment: {s}\n\n" for t, s in SENTIMENT_EXAMPLES)
    return (
        "Label the sentiment of each text: positive, negative, neutral (no opinion) or mixed "
        f"(both good and bad).\n\n{shots}Text: {_one_line(text)}\nSentiment:"
    )


def classify_prompt(text: str, labels: Sequence[str]) -> str:
    """ai_classify's prompt; the answer follows ``Category:``."""
    return (
        f"Classify the text into one of these categories: {', '.join(labels)}.\n\n"
        f"Text: {_one_line(text)}\nCategory:"
    )


#: the worked example of the span prompt (other fields than the user's: it shows the form)
FIELDS_EXAMPLE = (
    "Maria Lopez ordered a blue lamp from the Denver store on May 3.",
    (("name", "Maria Lopez"), ("product", "lamp"), ("city", "Denver"), ("email", NONE)),
)


def fields_prompt(text: str, fields: Sequence[str]) -> str:
    """ai_extract's (and ai_mask's) prompt; the answer follows ``<first field>:``."""
    example, values = FIELDS_EXAMPLE
    shown = "".join(f"{field}: {value}\n" for field, value in values)
    return (
        "Copy each field's value from the text, a few words exactly as written, or none.\n\n"
        f"Text: {example}\n{shown}\nText: {_one_line(text)}\n{fields[0]}:"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
