"""Which written words say what went wrong: a state or an event, not a thing.

A label that names a failure mode holds such a word beside what it happened to ("Expired
certificates", "Alert did not fire", "Config pushed to all regions", "No backoff"); a label
without one names a topic ("DNS record"). No part-of-speech model and no list of failure
words: a word says a state or an event when

- it is a participle: written with "-ed" and shortened by the stemmer ("expired",
  "pushed", "lowered"; not "speed");
- the texts being labelled write it after a copula or a negation often enough ("was
  full", "became slow", "were missing", "not reachable"): learned per corpus;
- a negation in the phrase itself says one ("did not *fire*", "no *backoff*",
  "without *jitter*": what was missing is the failure).

A few small English words may sit inside such a phrase without counting as its content:
negations and auxiliaries ("did not"), quantifiers ("to *every* region", "*all* depots")
and the particles of phrasal verbs ("ran *out* of").
"""

from collections import Counter

# A word written after one of these (or "not", "never"; "no" comes before things) says how
# something was ("was full", "not reachable").
COPULAS = frozenset(
    "is are was were be been being became become becomes remained stayed seemed got".split()  # noqa: SIM905
)
NEGATIONS = frozenset("not no never without cannot".split())  # noqa: SIM905
# Small words a failure phrase may hold inside (never at its end): articles, auxiliaries,
# negations, quantifiers and the particles of phrasal verbs.
INNER = (
    NEGATIONS
    | COPULAS
    | frozenset("the a an did does do had has have all every each any out down off".split())  # noqa: SIM905
)
LEARNED_SHARE = 0.25  # share of a word's uses after a copula or negation to count as a state
LEARNED_MIN = 2  # and at least this many such uses


def is_participle(plain, stem):
    """Whether a lower-cased written word is an "-ed" participle ("expired", "timed-out";
    not "speed")."""
    first = plain.split("-")[0]
    return len(first) > 4 and first.endswith("ed") and stem is not None and len(stem) < len(first)


class StateCounter:
    """Learns which written words say a state: told every segment (runs of (token, stem,
    plain) as naming._segments yields them), then asked for the words written after a
    copula or negation often enough."""

    def __init__(self):
        self.after, self.seen = Counter(), Counter()

    def add(self, words):
        """Count one segment."""
        previous = None
        for _token, stem, plain in words:
            if stem is not None:
                self.seen[plain] += 1
                if previous in COPULAS or previous in ("not", "never"):
                    self.after[plain] += 1
            # An adverb between ("was briefly unavailable") keeps the copula in force.
            if not (plain.endswith("ly") and (previous in COPULAS or previous in NEGATIONS)):
                previous = plain

    def states(self):
        """The written words said after a copula or negation often enough."""
        return frozenset(
            word
            for word, count in self.after.items()
            if count >= LEARNED_MIN and count >= LEARNED_SHARE * self.seen[word]
        )


def flags(words, learned=frozenset()):
    """Per word of one segment: whether it says a state or an event by itself (a negation
    before a word makes the phrase say one too: see naming._spans)."""
    return [
        stem is not None and (is_participle(plain, stem) or plain in learned)
        for _t, stem, plain in words
    ]
