"""Scored task recipes: label scores from token log-probabilities, span grammars, answers."""

from __future__ import annotations

import json

import pytest
from sqlglot import exp

from lakeinfer.sql import task_scoring as scoring
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.task_functions import PARAMETERS, bind_task, normalize


def step(token: str, logprob: float, *alternatives: tuple[str, float]) -> dict:
    """One generated token as llama.cpp reports it (``completion_probabilities``)."""
    top = [{"token": token, "logprob": logprob}] + [
        {"token": t, "logprob": lp} for t, lp in alternatives
    ]
    return {"token": token, "logprob": logprob, "top_logprobs": top}


def test_the_best_label_is_scored_where_it_leaves_the_generated_path():
    # generated " positive"; " negative" was the runner-up at the first token
    probs = [step(" positive", -0.9, (" negative", -0.6), (" neutral", -2.0))]
    # the generated label is not the answer when an alternative scores higher
    assert scoring.best_label(["positive", "negative", "neutral", "mixed"], probs) == "negative"
    assert scoring.label_logprob(" neutral", probs) == -2.0
    # a label absent from the listed alternatives scores below all of them
    assert scoring.label_logprob(" mixed", probs) < -2.0


def test_labels_sharing_a_first_token_are_told_apart_by_their_next_token():
    probs = [
        step(" tech", -0.1, (" billing", -3.0)),
        step("nical", -0.05),
        step(" issue", -1.2, (" debt", -0.4)),
    ]
    labels = ["technical issue", "technical debt", "billing"]
    assert scoring.label_logprob(" technical issue", probs) == pytest.approx(-1.35)
    assert scoring.label_logprob(" technical debt", probs) == pytest.approx(-0.55)
    assert scoring.best_label(labels, probs) == "technical debt"


def test_a_prior_removes_the_models_leaning_towards_a_label():
    probs = [step(" positive", -0.5, (" negative", -0.7))]
    assert scoring.best_label(["positive", "negative"], probs) == "positive"
    prior = {"positive": -0.2, "negative": -1.5}
    assert scoring.best_label(["positive", "negative"], probs, prior) == "negative"


def test_label_similarity_adds_to_the_scores_or_decides_alone():
    probs = [step(" positive", -0.5, (" negative", -0.7))]
    similarity = {"positive": 0.1, "negative": 0.3}
    assert scoring.best_label(["positive", "negative"], probs, None, similarity, 0.5) == "positive"
    assert scoring.best_label(["positive", "negative"], probs, None, similarity, 5.0) == "negative"
    assert scoring.best_label(["positive", "negative"], [], None, similarity) == "negative"


def test_span_grammar_offers_only_runs_of_the_inputs_words():
    grammar = scoring.fields_grammar(["person", "location"], 'Ask "Ann Lee" in New York.')
    assert grammar.splitlines()[0] == 'root ::= value "\\nlocation:" value'
    assert 'value ::= " none" | " " span' in grammar
    assert 'w1-1 ::= "\\"Ann" (" " w2-2)?' in grammar  # quotes escaped
    assert 'w5-1 ::= "York."' in grammar  # the last word ends the chain
    # a span is at most SPAN_WORDS words long: its last word has no follower
    last = scoring.SPAN_WORDS
    assert f'w5-{last} ::= "York."' in grammar
    assert f'w4-{last} ::= "New"\n' in grammar
    many = scoring.fields_grammar(["email"], "a b", per_field=3)
    assert 'value ::= " none" | " " span (" | " span (" | " span)?)?' in many
    assert scoring.fields_grammar(["x"], "   ").splitlines()[1] == 'value ::= " none"'


def test_fields_are_read_back_without_punctuation_and_none_is_null():
    content = ' "Ann Lee"\nlocation: New York.'
    assert scoring.parse_fields(content, ["person", "location"]) == {
        "person": ["Ann Lee"],
        "location": ["New York"],
    }
    assert scoring.parse_fields(" none\nlocation: Paris", ["person", "location"]) == {
        "person": [],
        "location": ["Paris"],
    }
    spans = scoring.parse_fields(" a@x.io | b@y.io | a@x.io", ["email"])
    assert spans == {"email": ["a@x.io", "b@y.io"]}


def _bound(sql: str):
    tree = parse_statements(sql)[0]
    normalize(tree)
    return bind_task(
        next(n for n in tree.find_all(exp.Anonymous) if str(n.this).lower() in PARAMETERS)
    )[1]


def test_task_functions_have_a_scored_recipe_with_a_bounded_answer():
    sentiment = _bound("SELECT ai_analyze_sentiment(t) FROM x")
    classify = _bound("SELECT ai_classify(t, ARRAY('billing', 'technical issue')) FROM x")
    extract = _bound("SELECT ai_extract(t, ARRAY('person', 'location')) FROM x")
    mask = _bound("SELECT ai_mask(t, ARRAY('person')) FROM x")
    for spec in (sentiment, classify, extract, mask):
        assert spec.scored is not None
        assert spec.scored.parameters["max_tokens"] <= 100
        assert spec.scored.response_format is None
    request = classify.scored.prompt("My card was charged twice.")
    assert scoring.is_completion(request)
    assert request["prompt"].endswith("Text: My card was charged twice.\nCategory:")
    assert request["prior"].endswith(f"Text: {scoring.CONTENT_FREE}\nCategory:")
    assert request["grammar"] == 'root ::= " billing" | " technical issue"\n'
    assert request["similar"] == {
        "text": "My card was charged twice.",
        "options": {"billing": ["billing"], "technical issue": ["technical issue"]},
        "enough": True,
    }
    answer = {"content": " billing", "probs": [step(" billing", -0.1, (" technical", -3.0))]}
    assert classify.scored.finish(answer, "My card was charged twice.") == "billing"
    # answers come back from the response cache as JSON text
    assert classify.scored.finish(json.dumps(answer), "x") == "billing"
    by_similarity = {"similarity": {"billing": 0.2, "technical issue": 0.6}}
    assert classify.scored.finish(by_similarity, "x") == "technical issue"
    assert set(sentiment.scored.prompt("x")["similar"]["options"]) == {
        "positive",
        "negative",
        "neutral",
        "mixed",
    }
    request = extract.scored.prompt("Ann Lee lives in Oslo.")
    assert request["prompt"].endswith("Text: Ann Lee lives in Oslo.\nperson:")
    assert extract.scored.finish({"content": " Ann Lee\nlocation: none"}, "x") == {
        "person": "Ann Lee",
        "location": None,
    }
    masked = mask.scored.finish({"content": " John Doe | Doe"}, "John Doe lives in New York")
    assert masked == "[MASKED] lives in New York"


def test_no_span_starts_with_a_function_word_or_a_title():
    grammar = scoring.fields_grammar(["location"], "Ann lives in Paris with Dr. Lee")
    starts = grammar.split("span ::= ", 1)[1].splitlines()[0]
    assert starts.split(" | ") == ["w0-1", "w1-1", "w3-1", "w6-1"]  # Ann lives Paris Lee


def test_a_name_is_never_cut_between_two_capitalised_words():
    # ending the line after "Sofia" was as likely as going on with " Rossi" (and with " said")
    probs = [
        step(" Sofia", -0.1),
        step(" Rossi", -0.7, ("\n", -0.5)),
        step(" said", -0.7, ("\n", -0.5)),
        step("\n", -0.1),
    ]
    assert scoring.shortest_likely(probs) == " Sofia Rossi\n"


def test_a_possessive_is_trimmed_and_a_span_repeating_an_earlier_field_is_dropped():
    content = " Julia Kowalski's\nlocation: Kowalski\ncity: Bank of Oslo"
    assert scoring.parse_fields(content, ["person", "location", "city"]) == {
        "person": ["Julia Kowalski"],
        "location": [],  # the same name again: the model's confusion, not a location
        "city": ["Bank of Oslo"],
    }
    # words shared with an earlier field only through a function word are kept
    got = scoring.parse_fields(" Bank of America\nschool: University of Oslo", ["org", "school"])
    assert got == {"org": ["Bank of America"], "school": ["University of Oslo"]}
