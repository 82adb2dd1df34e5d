"""Which field of the template a heading or label names, by the aliases in kb/template.toml."""

import re
import unicodedata
from functools import cache

from kb import template

_NUMBERING = re.compile(
    r"^(?:(?:\d+|[ivxlc]+|[a-z])[.)]|\d+(?:\.\d+)*|step \d+[.:]?|part \d+[.:]?)\s+"
)
_WORD = re.compile(r"[\w';&-]+")
MAX_LABEL = 80  # longer text is a sentence, not a label


def normalise(text):
    """A heading as compared with aliases: lowercase words, no numbering, emoji or colon."""
    text = unicodedata.normalize("NFKC", text or "").replace("\u2019", "'").lower().strip()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith(("S", "C")))
    text = text.strip(" \t*_#:.-–—")
    text = _NUMBERING.sub("", text)
    return " ".join(_WORD.findall(text))


@cache
def _aliases():
    """[(normalised alias, field)], longest first."""
    loaded = template.load()
    pairs = [(normalise(a), s["field"]) for s in loaded["sections"] for a in s.get("aliases", [])]
    for name, spec in loaded["lists"].items():
        pairs += [(normalise(a), name) for a in spec.get("aliases", [])]
    pairs += [(normalise(s["heading"]), s["field"]) for s in loaded["sections"]]
    pairs += [(normalise(spec["heading"]), name) for name, spec in loaded["lists"].items()]
    return sorted(set(pairs), key=lambda p: -len(p[0]))


def exact(text):
    """The field whose alias the whole label is, or None."""
    label = normalise(text)
    return next((f for alias, f in _aliases() if alias == label), None) if label else None


def fields_of(text):
    """The fields a heading names, in the order it names them: [its alias as a whole] or
    every alias found in it ("Root cause and resolution" -> [contributing_factors, response])."""
    label = normalise(text)
    if not label or len(label) > MAX_LABEL:
        return []
    found = exact(text)
    if found:
        return [found]
    hits, taken = [], []
    for alias, name in _aliases():  # longest first: "root cause" before "cause"
        for match in re.finditer(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", label):
            span = range(match.start(), match.end())
            if not any(set(span) & set(t) for t in taken):
                taken.append(span)
                hits.append((match.start(), name))
    return list(dict.fromkeys(name for _, name in sorted(hits)))


def field_of(text):
    """The first field a heading names, or None."""
    found = fields_of(text)
    return found[0] if found else None
