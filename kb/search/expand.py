"""Wildcards, prefixes and ranges turned into plain words, within a fixed budget per query.

Whoosh expands a pattern such as `*a*` by walking the whole term list, and did so again for
every segment, for ranking and for highlighting: one query of a few patterns cost tens of
seconds on a varied vocabulary. Here each pattern is expanded once per search, against the
searcher's merged term list, and the walk stops after a fixed number of entries; the query
keeps at most MAX_TERMS words in all, and the result says when it was cut.
"""

from dataclasses import dataclass

from whoosh import query as wq

from kb.search import whoosh_internals as internals

MAX_PATTERNS = 8  # wildcards, prefixes and ranges in one query
MAX_TERMS = 200  # words all the patterns of one query may expand to
MAX_SCANNED = 20_000  # entries of the term list one query may walk through
GUESS_BOOST = 0.5  # a word found by a pattern counts less than a word typed in full


@dataclass
class Expansion:
    """What expanding a query's patterns cost, and whether it was cut short."""

    patterns: int = 0
    terms: int = 0
    scanned: int = 0
    cut: bool = False
    scan_limit: int = 0  # where the walk of the pattern being expanded stops


class _BudgetedReader:
    """A reader whose term-list walks stop when the query's budget is spent."""

    def __init__(self, reader, expansion):
        self._reader = reader
        self._expansion = expansion

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def __contains__(self, term):
        return term in self._reader

    def _walk(self, entries):
        for entry in entries:
            if self._expansion.scanned >= self._expansion.scan_limit:
                self._expansion.cut = True
                return
            self._expansion.scanned += 1
            yield entry

    def lexicon(self, fieldname):
        return self._walk(self._reader.lexicon(fieldname))

    def expand_prefix(self, fieldname, prefix):
        return self._walk(self._reader.expand_prefix(fieldname, prefix))

    def terms_from(self, fieldname, prefix):
        return self._walk(self._reader.terms_from(fieldname, prefix))


def count_patterns(q):
    """The number of wildcards, prefixes and ranges in a query."""
    if isinstance(q, wq.MultiTerm):
        return 1
    return sum(count_patterns(child) for child in q.children())


def expand(q, reader, visible=None):
    """(query, Expansion): `q` with every pattern replaced by the words it matches, at most
    MAX_TERMS of them in all, found walking at most MAX_SCANNED entries of the term list.
    Each pattern has an equal share of both, so the first cannot leave the others nothing.

    `visible(field, word)`: whether a postmortem the reader may read holds the word (None:
    every word). Only such words are kept and counted: a word of a postmortem the reader may
    not read neither takes a place of theirs nor says, by a cut, that it exists."""
    expansion = Expansion()
    budgeted = _BudgetedReader(reader, expansion)
    patterns = max(1, count_patterns(q))
    terms_each, scanned_each = MAX_TERMS // patterns, MAX_SCANNED // patterns

    def replace(node):
        if not isinstance(node, wq.MultiTerm):
            return node.apply(replace)
        expansion.patterns += 1
        expansion.scan_limit = expansion.scanned + scanned_each
        field = reader.schema[node.fieldname]
        words = []
        for btext in internals.pattern_terms(node, budgeted):
            if len(words) >= terms_each:
                expansion.cut = True
                break
            text = field.from_bytes(btext)
            if visible is not None and not visible(node.fieldname, text):
                continue
            expansion.terms += 1
            words.append(wq.Term(node.fieldname, text, boost=node.boost * GUESS_BOOST))
        if not words:
            return wq.NullQuery
        return words[0] if len(words) == 1 else wq.Or(words)

    return replace(q), expansion
