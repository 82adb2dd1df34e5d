"""Theme labels name the failure mode: what went wrong beside what it happened to."""

from kb.insights import features
from kb.insights.themes import naming, states


def _label(texts, others=(), generic=None):
    """The label of one theme made of `texts`, against a theme made of `others`."""
    everything = list(texts) + list(others)
    labels = [0] * len(texts) + [1] * len(others)
    scores = [1.0 - i / 100 for i in range(len(everything))]
    token_sets = [features.tokens(t) for t in everything]
    found = naming.label_themes(
        everything, labels, scores, [True] * len(everything), token_sets, generic or {}
    )
    return found[0]


OTHERS = [
    "The deploy pipeline ran the migration before the new code was live.",
    "A retry storm from the mobile app doubled the load on the gateway.",
    "The cache warmed slowly after the restart and the database took the load.",
    "The queue consumer fell behind during the sale.",
]


def test_a_participle_beside_a_thing_beats_the_bare_topic():
    label = _label(
        [
            "The TLS certificate of the payment API expired over the weekend.",
            "An expired certificate on the mail relay stopped outgoing mail.",
            "The intermediate certificate expired and clients refused the chain.",
        ],
        OTHERS,
    )
    assert "certificate" in label.lower() and "expired" in label.lower(), label
    assert 2 <= len(label.split()) <= 6, label


def test_a_negation_says_what_was_missing():
    label = _label(
        [
            "The disk alert did not fire because the threshold was never set.",
            "No alert watched replica lag, so nobody was paged.",
            "The latency alert did not fire for the regional outage.",
        ],
        OTHERS,
    )
    assert "alert" in label.lower(), label
    assert any(w in label.lower().split() for w in ("not", "no", "never")), label


def test_a_verb_cut_from_its_object_is_not_the_label():
    label = _label(
        [
            "The load test replaced the fraud provider with a stub.",
            "The load test replaced the payment provider with a stub.",
            "The load test used a stub that always answered at once.",
        ],
        OTHERS,
    )
    assert not label.lower().endswith("replaced"), label


def test_states_are_learned_from_how_the_texts_write_them():
    counter = states.StateCounter()
    for text in [
        "The disk was full at noon.",
        "The second disk was full too.",
        "The full backup ran at night.",
        "Nothing was saturated.",
    ]:
        for words in naming._segments(text):
            counter.add(words)
    learned = counter.states()
    assert "full" in learned  # twice of three uses after "was"
    assert "disk" not in learned and "backup" not in learned
    assert states.is_participle("expired", "expir") and states.is_participle("timed-out", "time")
    assert not states.is_participle("speed", "speed")


def test_discounted_terms_count_less_in_labels():
    generic = naming.with_discounts({"alert": 0.2}, {"acme": 0.0, "alert": 0.9})
    assert generic["acme"] == naming.DISCOUNT_SHARE
    assert generic["alert"] == 0.2  # the larger of the two
    texts = [
        "Acme Cloud certificate expired on the edge.",
        "Acme Cloud certificate expired on the relay.",
        "Acme Cloud certificate expired for the API.",
    ]
    plain = _label(texts, OTHERS)
    named = _label(texts, OTHERS, generic={"acm": 1.0, "cloud": 1.0})
    assert "acme" not in named.lower(), (plain, named)
    assert "certificate" in named.lower(), named
