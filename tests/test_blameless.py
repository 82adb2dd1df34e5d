"""The blameless-language checker, on sentences that must and must not be flagged."""

import pytest

from kb.blameless import check_document, check_text

MUST_FLAG = [
    ("The outage was caused by human error.", "human-error"),
    ("This was an operator error during the failover.", "human-error"),
    ("The on-call engineer should have noticed the alert.", "should-have"),
    ("We should've checked the certificate expiry.", "should-have"),
    ("The team shouldn't have deployed on a Friday.", "should-have"),
    ("The engineer failed to follow the runbook.", "failed-to"),
    ("Someone failed to renew the certificate.", "failed-to"),
    ("A careless change to the firewall rules.", "careless"),
    ("Sloppy review let the bug through.", "careless"),
    ("The rollout was negligent.", "negligent"),
    ("Why didn't the on-call page the database team?", "why-didnt"),
    ("Why did nobody notice? Why wasn't anyone watching?", "why-didnt"),
    ("The developer forgot to update the config.", "forgot"),
    ("They ignored the warning in the deploy log.", "forgot"),
    ("The root cause was the intern running the script.", "root-cause-person"),
    ("It was simply a matter of reading the dashboard; they just had to look.", "just-simply"),
    ("The root cause was a missing index.", "single-root-cause"),
    ("Dave broke production by pushing the wrong branch.", "named-person"),
    ("The failure was caused by Priya Natarajan.", "named-person"),
]

MUST_NOT_FLAG = [
    "The deploy pipeline had no canary stage, so the change reached every region at once.",
    "Alerting did not fire because the threshold was set above the observed error rate.",
    "The certificate expired because renewal was manual and nothing tracked its expiry date.",
    "Retries without jitter amplified the load on the recovering database.",
    "The runbook described a step that no longer matched the console.",
    "We got lucky: traffic was low because of the holiday.",
    "The health check failed to detect the degraded replica.",
    "The error budget was exhausted within an hour.",
    "Priya led the response and coordinated the rollback.",
    "A human-readable summary was posted in the incident channel.",
    "Engineers were paged at 03:10 and joined the bridge within five minutes.",
    "The cause was a configuration value that doubled the connection pool.",
]
NAMES = ["Dave", "Priya Natarajan", "Priya"]


@pytest.mark.parametrize(("sentence", "rule"), MUST_FLAG)
def test_blaming_sentences_are_flagged(sentence, rule):
    hints = check_text(sentence, names=NAMES)
    assert rule in {h.rule for h in hints}, (sentence, hints)
    hint = next(h for h in hints if h.rule == rule)
    assert sentence[hint.start : hint.end] == hint.text
    assert hint.suggestion


@pytest.mark.parametrize("sentence", MUST_NOT_FLAG)
def test_blameless_sentences_are_not_flagged(sentence):
    assert check_text(sentence, names=NAMES) == []


def test_documents_are_checked_field_by_field():
    doc = {
        "title": "Checkout errors",
        "summary": "Fine words.",
        "went_poorly": "The operator should have checked.",
        "timeline": [{"text": "Alert fired"}, {"text": "Human error suspected"}],
        "contributing_factors": [{"text": "Careless config edit"}],
        "action_items": [{"title": "Add a canary stage"}],
    }
    fields = [h.field for h in check_document(doc)]
    assert fields == ["went_poorly", "timeline[1].text", "contributing_factors[0].text"]
