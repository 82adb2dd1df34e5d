"""Synonyms and abbreviations (kb/synonyms.toml, and an organisation's own file): a query
word also matches the other words of its group, counted a little below the word typed.

The table is read again when either file changes (its modification time is checked at each
search, one stat() per file). Expanding a query is bounded: at most MAX_ALTERNATIVES words
per word typed and MAX_SYNONYM_TERMS in all, so a query of 500 characters stays a query of
a bounded number of words (docs/security.md, "Bounded cost for every request").
"""

import os
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import query as wq

from kb.search import analysis, schema

SHIPPED = Path(__file__).resolve().parent.parent / "synonyms.toml"
SYNONYM_BOOST = 0.8  # a synonym counts a little below the word typed
MAX_ALTERNATIVES = 8  # other words of a group searched for one word typed
MAX_SYNONYM_TERMS = 40  # synonym words added to one query in all
MAX_PHRASE_WORDS = 4  # the longest entry matched as a phrase


class SynonymError(ValueError):
    """A synonyms file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Entry:
    text: str  # as written in the file
    stems: tuple  # as the index holds its words


@dataclass
class Table:
    """Each entry's stems -> the other entries of its groups."""

    alternatives: dict = field(default_factory=dict)
    longest: int = 1  # the most words of a key

    def of(self, stems):
        """The other entries of the groups holding these stems (a word or a phrase)."""
        return self.alternatives.get(tuple(stems), ())

    def knows(self, word):
        """True when a typed word (any form) is an entry of some group."""
        return bool(self.of(analyse(word)))


def analyse(text):
    """The stems the index holds for `text` (stop words dropped, as at indexing)."""
    return tuple(t.text for t in analysis.ANALYZER(text))


def _read(path):
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SynonymError(f"{path}: {exc}") from exc
    groups = data.get("groups", {})
    if not isinstance(groups, dict) or not all(
        isinstance(v, list) and all(isinstance(w, str) for w in v) for v in groups.values()
    ):
        raise SynonymError(f'{path}: [groups] must map names to lists of words, e.g. db = ["db"]')
    return bool(data.get("replace", False)), groups


def build(groups):
    """A Table from {name: [words]}."""
    table = Table()
    for words in groups.values():
        entries = []
        for text in words:
            stems = analyse(text)
            if stems and len(stems) <= MAX_PHRASE_WORDS and stems not in {e.stems for e in entries}:
                entries.append(Entry(text.strip(), stems))
        for entry in entries:
            others = table.alternatives.setdefault(entry.stems, [])
            for other in entries:
                if other.stems != entry.stems and other not in others:
                    others.append(other)
            table.longest = max(table.longest, len(entry.stems))
    table.alternatives = {k: tuple(v) for k, v in table.alternatives.items() if v}
    return table


def load(own=None):
    """The table of the shipped file, with the organisation's file `own` merged over it."""
    _replace, groups = _read(SHIPPED)
    if own:
        replace, theirs = _read(own)
        groups = {} if replace else dict(groups)
        groups.update(theirs)
    return build({k: v for k, v in groups.items() if v})


_lock = threading.Lock()
_cache = {}


def _stamp(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def current(own=None):
    """The table for the setting KB_SYNONYMS (`own`), read again when a file changed.

    A broken organisation's file does not break searching: the last good table is kept, or
    the shipped one, and the problem is logged by the caller through `problem(own)`."""
    key = (str(SHIPPED), _stamp(SHIPPED), own, _stamp(own) if own else None)
    with _lock:
        cached = _cache.get(own)
        if cached is not None and cached[0] == key:
            return cached[1]
    try:
        table = load(own)
    except SynonymError:
        if cached is not None:
            return cached[1]
        table = load(None)
    with _lock:
        _cache[own] = (key, table)
    return table


# --- expanding a query ----------------------------------------------------------------------


class SynonymOr(wq.Or):
    """The word typed or one of its synonyms (a word of the query, for counting words)."""


@dataclass
class Expansion:
    """The synonyms added to one query, for "Also searched for" on the page."""

    words: list = field(default_factory=list)
    terms: int = 0
    cut: bool = False


def _alternative(fieldname, entry, boost):
    if len(entry.stems) == 1:
        return wq.Term(fieldname, entry.stems[0], boost=boost)
    return wq.Phrase(fieldname, list(entry.stems), boost=boost)


def _with_synonyms(original, stems, fieldname, boost, table, expansion):
    """`original` or the synonyms of `stems`, or `original` alone when there are none."""
    others = table.of(stems)[:MAX_ALTERNATIVES]
    if not others:
        return None
    room = MAX_SYNONYM_TERMS - expansion.terms
    if room < len(others):
        expansion.cut = True
        others = others[: max(room, 0)]
    if not others:
        return None
    expansion.terms += len(others)
    for entry in others:
        if entry.text not in expansion.words:
            expansion.words.append(entry.text)
    alternatives = [_alternative(fieldname, e, boost * SYNONYM_BOOST) for e in others]
    return SynonymOr([original, *alternatives])


def _is_word(node):
    """A word of a text field that may have synonyms (a word typed between quotes has none)."""
    return (
        type(node) is wq.Term
        and node.fieldname in schema.TEXT_FIELDS
        and node.fieldname != schema.EXACT_FIELD
    )


def _group_runs(nodes, table, expansion):
    """Runs of consecutive words that form a phrase of the table, each as one SynonymOr."""
    out, i = [], 0
    while i < len(nodes):
        matched = False
        for size in range(min(table.longest, len(nodes) - i), 1, -1):
            run = nodes[i : i + size]
            if not all(_is_word(n) and n.fieldname == run[0].fieldname for n in run):
                continue
            stems = tuple(n.text for n in run)
            grouped = _with_synonyms(
                wq.And(list(run)), stems, run[0].fieldname, run[0].boost, table, expansion
            )
            if grouped is not None:
                out.append(grouped)
                i += size
                matched = True
                break
        if not matched:
            out.append(nodes[i])
            i += 1
    return out


def expand(q, table):
    """(query, Expansion): every word of a text field, outside NOT, also matching its
    synonyms; consecutive words forming a phrase of the table match its synonyms too."""
    expansion = Expansion()

    def walk(node):
        if _is_word(node):
            grouped = _with_synonyms(
                node, (node.text,), node.fieldname, node.boost, table, expansion
            )
            return grouped if grouped is not None else node
        if isinstance(node, wq.Not | SynonymOr):
            return node  # a word excluded is excluded as typed
        if isinstance(node, wq.AndNot):
            return wq.AndNot(walk(node.a), node.b)
        if isinstance(node, wq.And) and table.longest > 1:
            node = wq.And(_group_runs(list(node.subqueries), table, expansion), boost=node.boost)
        return node.apply(walk)

    return walk(q), expansion
