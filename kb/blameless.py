"""The blameless-language checker: flags wording that assigns blame or hides learning.

Rules live in kb/blameless_rules.toml. A "person" rule is added at check time from the names
the caller passes (for example the organisation's users), to catch a named person given as
the cause. The checker only advises: it never blocks a save.
"""

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from kb.models import SECTIONS

RULES_PATH = Path(__file__).with_name("blameless_rules.toml")
_BLAME_VERBS = (
    r"(broke|caused|forgot|missed|ignored|deleted|dropped|pushed|messed up|screwed up|"
    r"didn't|did not|failed to|should have|neglected)"
)


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: re.Pattern
    message: str
    suggestion: str


@dataclass(frozen=True)
class Hint:
    """One flagged passage: where it is, the words, and a suggested reframing."""

    field: str
    start: int
    end: int
    text: str
    rule: str
    message: str
    suggestion: str

    def as_dict(self):
        return dict(self.__dict__)


@cache
def rules(path=RULES_PATH):
    """The rules from the TOML file, compiled."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return tuple(
        Rule(
            r["id"],
            re.compile(rf"(?<![\w-])(?:{r['pattern']})(?![\w-])", re.IGNORECASE),
            r["message"],
            r["suggestion"],
        )
        for r in data["rules"]
    )


def _person_rule(names):
    return _compiled_person_rule(tuple(sorted({n.strip() for n in names if n})))


@lru_cache(maxsize=16)  # one entry per set of user names: each change of them adds one
def _compiled_person_rule(names):
    names = sorted((n for n in names if len(n) >= 3), key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in names)
    pattern = re.compile(
        rf"(?<![\w-])(?:(?:{alternatives})(?:'s)?\s+{_BLAME_VERBS}|"
        rf"(?:caused by|fault of|because of|blame(?:d)? on)\s+(?:{alternatives}))(?![\w-])",
        re.IGNORECASE,
    )
    return Rule(
        "named-person",
        pattern,
        "A named person is given as the cause.",
        "Describe the role and the conditions they worked in, not the person.",
    )


def check_text(text, field="text", names=()):
    """The hints for one piece of text."""
    if not text:
        return []
    active = list(rules())
    person = _person_rule(names)
    if person:
        active.append(person)
    hints = []
    for rule in active:
        for match in rule.pattern.finditer(text):
            hints.append(
                Hint(
                    field,
                    match.start(),
                    match.end(),
                    match.group(0),
                    rule.id,
                    rule.message,
                    rule.suggestion,
                )
            )
    hints.sort(key=lambda h: (h.start, h.end))
    return hints


def check_document(doc, names=()):
    """The hints for every prose field of a document (sections, timeline, factors, actions)."""
    hints = []
    for field in ("title", *SECTIONS):
        hints += check_text(doc.get(field) or "", field, names)
    for i, entry in enumerate(doc.get("timeline") or []):
        hints += check_text(entry.get("text") or "", f"timeline[{i}].text", names)
    for i, factor in enumerate(doc.get("contributing_factors") or []):
        hints += check_text(factor.get("text") or "", f"contributing_factors[{i}].text", names)
    for i, item in enumerate(doc.get("action_items") or []):
        hints += check_text(item.get("title") or "", f"action_items[{i}].title", names)
    return hints
