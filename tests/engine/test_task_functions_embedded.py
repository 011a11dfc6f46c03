"""Every task function on the embedded models: SmolLM2-135M through llama.cpp's server (the
default task endpoint, with the label sets and schemas enforced by its grammar-constrained
decoding) and all-MiniLM-L6-v2 for ai_similarity. Few rows each: the model is slow on 2 cores
(on a loaded 2-core machine, several seconds per row: this module takes minutes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.session import Session

TICKETS = [
    "I was charged twice this month",
    "The app crashes when I upload a photo",
    "My parcel has not arrived yet",
    "I cannot log in to my account",
    "Please refund my last invoice",
    "The website shows error 500",
]
LABELS = ("billing", "technical issue", "shipping", "account access")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = Path(tmp_path_factory.mktemp("embedded")) / "lakehouse"
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        yield session


def test_label_answers_are_always_valid_over_30_rows(embedded):
    texts = ", ".join(f"('{TICKETS[i % len(TICKETS)]} (case {i})')" for i in range(30))
    rows = embedded.sql(
        f"SELECT ai_classify(t, ARRAY{LABELS}) AS label FROM VALUES {texts} AS v(t)"
    ).to_pylist()
    assert len(rows) == 30
    assert all(r["label"] in LABELS for r in rows), rows
    moods = embedded.sql(
        "SELECT ai_analyze_sentiment(t) AS s FROM VALUES ('I love it, wonderful!'), "
        "('Awful, it broke after a day.'), (NULL) AS v(t)"
    ).to_pylist()
    assert all(r["s"] in ("positive", "negative", "neutral", "mixed") for r in moods[:2])
    assert moods[2]["s"] is None


def test_extraction_is_valid_json_of_the_schema(embedded):
    rows = embedded.sql(
        "SELECT ai_extract(t, ARRAY('person', 'location')) AS s, "
        'ai_extract(t, \'{"person": {"type": "string"}, "year": {"type": "integer"}}\')'
        ' AS j, ai_classify(t, \'["travel", "sport", "food"]\', '
        "MAP('multilabel', 'true')) AS c "
        "FROM VALUES ('John Smith flew to Paris in 2019.') AS v(t)"
    ).to_pylist()
    for row in rows:
        assert set(row["s"]) == {"person", "location"}
        assert all(v is None or isinstance(v, str) for v in row["s"].values())
        extracted = json.loads(row["j"])
        assert extracted["error_message"] is None
        assert set(extracted["response"]) == {"person", "year"}
        assert extracted["response"]["year"] is None or isinstance(
            extracted["response"]["year"], int
        )
        classified = json.loads(row["c"])["response"]
        assert classified and set(classified) <= {"travel", "sport", "food"}


def test_text_functions_answer_strings(embedded):
    row = embedded.sql(
        "SELECT ai_summarize(t, 5) AS s, ai_fix_grammar('She go to school yesterday.') AS g, "
        "ai_translate('Good morning', 'fr') AS tr, ai_gen('Say hello in one word.') AS gen, "
        "ai_mask('Write to jane@example.com today', ARRAY('email')) AS m "
        "FROM VALUES ('The meeting was moved to Friday because the manager is travelling "
        "to a conference in Berlin on Thursday.') AS v(t)"
    ).to_pylist()[0]
    assert 0 < len(row["s"].split()) <= 5
    for key in ("g", "tr", "gen"):
        assert isinstance(row[key], str) and row[key].strip()
    assert row["m"] == "Write to [MASKED] today"


def test_similarity_on_the_embedded_embedder_ranks_related_text_higher(embedded):
    row = embedded.sql(
        "SELECT ai_similarity('Apache Spark', 'Apache Spark') AS same, "
        "ai_similarity('a cat sat on the mat', 'a kitten sat on the rug') AS related, "
        "ai_similarity('a cat sat on the mat', 'quarterly tax filing deadline') AS unrelated"
    ).to_pylist()[0]
    assert row["same"] == 1.0
    assert -1.0 <= row["unrelated"] < row["related"] < 1.0


#: the examples of docs/ai_functions.md ("What the embedded model does"), with their answers
DOCUMENTED = [
    ("ai_analyze_sentiment('Broke in a week.')", "negative"),
    (
        "ai_classify('I was charged twice for my subscription this month.', "
        "ARRAY('billing', 'technical issue', 'shipping', 'account access'))",
        "billing",
    ),
    (
        "ai_extract('John Smith called from Chicago about his order.', "
        "ARRAY('person', 'location'))",
        {"person": "John Smith", "location": "Chicago"},
    ),
    ("ai_mask('John Doe lives in New York', ARRAY('person'))", "[MASKED] lives in New York"),
]


@pytest.mark.parametrize(("call", "answer"), DOCUMENTED, ids=[c[:12] for c, _ in DOCUMENTED])
def test_documented_examples_take_one_short_call(embedded, call, answer):
    from sqlglot import exp

    from lakeinfer.sql.parse import parse_statements
    from lakeinfer.sql.task_functions import PARAMETERS, bind_task, normalize

    assert embedded.sql(f"SELECT {call} AS r").to_pylist() == [{"r": answer}]
    stats = embedded.last_stats.ai
    assert (stats.requests, stats.calls, stats.retries, stats.errors) == (1, 1, 0, 0)
    # the answer is bounded by the scored recipe's max_tokens, a few dozen tokens at most
    # (none when the embedded MiniLM alone decides a classification)
    tree = parse_statements(f"SELECT {call}")[0]
    normalize(tree)
    node = next(n for n in tree.find_all(exp.Anonymous) if str(n.this).lower() in PARAMETERS)
    bound = bind_task(node)[1].scored.parameters["max_tokens"]
    assert 0 <= stats.completion_tokens <= bound <= 60
