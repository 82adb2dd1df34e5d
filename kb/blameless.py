"""The blameless-language checker: flags wording that assigns blame or hides learning.

Rules live in kb/blameless_rules.toml. The person rules there match only with a person as
subject or object of a failure verb or judgement ("Priya forgot", "the intern overlooked",
"caused by Dana"); a person is anyone named (the names the caller passes, such as the
organisation's users, the document's own people and common given names), a role or a
pronoun. Each hint carries a suggested system-focused rephrasing. The checker only
advises: it never blocks a save.
"""

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kb.models import SECTIONS

RULES_PATH = Path(__file__).with_name("blameless_rules.toml")
# Words that begin a sentence without naming anyone: never taken for a person's name.
_NOT_NAMES = (
    "The|This|That|These|Those|It|Its|There|Then|Than|And|But|Or|So|If|When|While|After|"
    "Before|Once|Nobody|Nothing|No|None|All|Each|Every|Our|Their|His|Her|We|They|He|She|"
    "You|Yes|Why|What|Who|How|Where|Which|Also|Here|Since|Because|Although|Though|As|"
    "At|In|On|By|For|From|To|With|Without|Unfortunately|Clearly|Obviously|Finally|Later"
)
_DETERMINER = (
    r"(?:(?:the|an?|our|their|his|her|my|your|that|this|these|those|one\s+of\s+(?:the|our)|"
    r"two|three|several|some|both|all|another|each)\s+)?"
)
_MODIFIERS = r"(?:[a-z][\w-]*\s+){0,2}"
_AFTER_ROLE = (
    r"(?:\s+(?:on\s+call|on\s+duty|on\s+shift|responsible|in\s+charge|"
    r"(?:on|from|in)\s+the\s+[\w-]+\s+team|who(?:\s+[\w'-]+){1,6}?))?"
)
# Between a subject and its verb: an aside ("Frank, the release manager,") and adverbs.
_GAP = (
    r"(?:,\s+[^,.;:\n]{1,40}?,)?(?:\s+(?:had|has|have|also|then|again|once\s+again|"
    r"must\s+have|may\s+have|might\s+have|hadn't|had\s+not|never|still|already|"
    r"somehow|\w+ly)){0,3}"
)
_OBJECT_END = re.compile(r"[.;:!?\n]|,\s|\s(?:and|but|so|because|which|while)\s")
_NAME_IN_TIMELINE = re.compile(
    r"(?<![\w-])([A-Z][a-z]{2,})(?:\s+[A-Z]\.?)?\s+(?:\([^)]{0,40}\)\s+)?"
    r"(?:paged|acknowledged|acked|joined|escalated|declared|called|messaged|posted|asked|"
    r"said|noted|confirmed|decided|handed|reported|opened|took\s+over|was\s+paged)\b"
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
def _data(path=RULES_PATH):
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def _bounded(pattern):
    return re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.IGNORECASE)


@cache
def rules(path=RULES_PATH):
    """The rules that match anywhere, from the TOML file, compiled."""
    return tuple(
        Rule(r["id"], _bounded(r["pattern"]), r["message"], r["suggestion"])
        for r in _data(path)["rules"]
    )


def names_in(names):
    """Every way the people in `names` may be called: each full name, and each of its
    words of three letters or more written with a capital (first and last names)."""
    out = set()
    for name in names:
        name = " ".join((name or "").split())
        if not name:
            continue
        out.add(name)
        out.update(w for w in re.split(r"[\s.]+", name) if len(w) >= 3 and w[0].isupper())
    return out


def people_of(doc):
    """The names of the people of a document: its authors and readers (from the part of
    their address before the @) and those who act in its timeline ("Priya paged ...")."""
    names = set()
    for address in (*doc.get("authors", ()), *doc.get("readers", ())):
        local = str(address).split("@")[0]
        parts = [p for p in re.split(r"[._+-]+", local) if p.isalpha() and len(p) >= 3]
        names.update(p.capitalize() for p in parts)
    for entry in doc.get("timeline") or ():
        names.update(_NAME_IN_TIMELINE.findall(entry.get("text") or ""))
    return names - set(_NOT_NAMES.split("|"))


@dataclass(frozen=True)
class PersonRule(Rule):
    """A rule about a person: tried only in sentences where `trigger` is found, and whose
    match stands only if every word taken for a name (groups `name…`) is one."""

    trigger: re.Pattern = None


@cache
def _person_rules():
    data = _data()
    people = data["people"]
    roles = sorted(people["roles"], key=len, reverse=True)
    role_words = "|".join(re.escape(r).replace(r"\ ", r"\s+") for r in roles)
    role = rf"{_DETERMINER}{_MODIFIERS}(?:{role_words})s?{_AFTER_ROLE}"
    pronoun = "|".join(re.escape(p) for p in people["pronouns"])
    team = r"(?:\s+(?:on|from|in)\s+the\s+[\w-]+\s+team)?"
    titled = r"(?:Mr|Mrs|Ms|Mx|Dr)\.?\s+[A-Z][a-z]+"
    capitalised = rf"(?-i:(?!(?:{_NOT_NAMES})\b)[A-Z][a-z]+\b)"
    compiled = []
    for r in data["person_rules"]:
        counter = iter(range(100))

        def person(_match, counter=counter):
            # A capitalised word here is kept only if it is a name (checked after matching).
            named = rf"(?-i:{titled}|(?P<name{next(counter)}>{capitalised}(?:\s+[A-Z][a-z]+)?))"
            return rf"(?:(?:{pronoun})\b{team}|{named}\b(?:\s+[A-Z]\.)?|{role})"

        def anyone(_match):
            initial = r"(?:\s+[A-Z]\.)?"
            return rf"(?:{titled}|{capitalised}{initial}|(?:{pronoun})\b{team}|(?:I|we)\b|{role})"

        pattern = re.sub(r"\{person\}", person, r["pattern"])
        pattern = re.sub(r"\{anyone\}", anyone, pattern).replace("{gap}", _GAP)
        compiled.append(
            PersonRule(
                r["id"],
                _bounded(pattern),
                r["message"],
                r["suggestion"],
                re.compile(r["trigger"], re.IGNORECASE),
            )
        )
    return tuple(compiled)


def _known(names):
    """The set of words and full names that count as people's names."""
    return frozenset({*names_in(names), *_data()["people"]["given_names"]})


def _names_hold(match, known):
    return all(
        value in known or value.split()[0] in known
        for group, value in match.groupdict().items()
        if group.startswith("name") and value is not None
    )


# A stop ends a sentence unless it ends an initial or a title ("Priya N.", "Mr. Okafor").
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)\s+|\n"
)


def _sentences(text):
    """(start, end) of each sentence of `text` (roughly: a stop and a space, or a line)."""
    start = 0
    for stop in _SENTENCE_END.finditer(text):
        yield start, stop.start()
        start = stop.end()
    yield start, len(text)


def _object_after(text, end):
    """What follows a match up to the end of its clause (at most 80 characters)."""
    rest = text[end : end + 120]
    stop = _OBJECT_END.search(rest)
    words = (rest[: stop.start()] if stop else rest).strip()[:80].strip()
    for lead in ("to ", "about ", "that "):
        if words.lower().startswith(lead):
            words = words[len(lead) :]
    return words or "it"


def _suggestion(rule, text, end):
    if "{object}" not in rule.suggestion.lower():
        return rule.suggestion
    words = _object_after(text, end)
    return rule.suggestion.replace("{object}", words).replace(
        "{Object}", words[:1].upper() + words[1:]
    )


def check_text(text, field="text", names=()):
    """The hints for one piece of text; `names` are people's names (users, the document's)."""
    if not text:
        return []
    found = {}
    for rule in rules():
        for match in rule.pattern.finditer(text):
            _add(found, field, rule, match, text)
    known = _known(tuple(names))
    sentences = list(_sentences(text))
    for rule in _person_rules():
        for start, end in sentences:
            if not rule.trigger.search(text, start, end):
                continue
            position = start
            while match := rule.pattern.search(text, position, end):
                if _names_hold(match, known):
                    _add(found, field, rule, match, text)
                    position = max(match.end(), position + 1)
                else:  # a word that is no name: a person may still come later in it
                    position = match.start() + 1
    return sorted(found.values(), key=lambda h: (h.start, h.end, h.rule))


def _add(found, field, rule, match, text):
    """Add a hint, one per rule and passage: of two that overlap, the longer stays."""
    hint = Hint(
        field,
        match.start(),
        match.end(),
        match.group(0),
        rule.id,
        rule.message,
        _suggestion(rule, text, match.end()),
    )
    twin = next((h for h in found.values() if h.rule == rule.id and _overlap(h, hint)), None)
    if twin is not None and twin.end - twin.start >= hint.end - hint.start:
        return
    if twin is not None:
        del found[twin.start, twin.end, twin.rule]
    found[hint.start, hint.end, hint.rule] = hint


def _overlap(a, b):
    return a.start < b.end and b.start < a.end


def check_document(doc, names=()):
    """The hints for every prose field of a document (sections, timeline, factors, actions);
    `names` are the users' names, to which the document's own people are added."""
    names = (*names, *people_of(doc))
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
