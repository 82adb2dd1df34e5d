"""How the index reads text: the analyzers, and the text fields that index in one pass.

`content` is one text of parts separated by PART (title, factors, everything else), whose
words are weighted by BOOSTS at index time. Text and ExactText make the same postings as
Whoosh's own TEXT fields over the same analyzers (tests/test_search_indexing.py compares
them), a few times faster: what a full reindex spends most of its time on.
"""

import pickle
import re
from array import array
from collections import Counter
from functools import lru_cache

from whoosh import fields, formats
from whoosh.analysis import STOP_WORDS, Token, Tokenizer
from whoosh.lang.porter import stem as porter_stem
from whoosh.system import pack_uint

# Field boosts, applied inside `content` at index time: a word of the title counts three
# times, a word of a contributing factor twice. (Searching three fields per word instead made
# Whoosh score every posting of the union eagerly: four times slower at 2,000 documents.)
BOOSTS = (3.0, 2.0, 1.0)  # title, factors, everything else
PART = "\x1d"  # separates the parts of `content`; never typed, never indexed
WORD_RE = re.compile(r"\w+(?:[.']\w+)*", re.UNICODE)


@lru_cache(maxsize=200_000)
def stem(word):
    """The Porter stem of a lower-case word, cached (a corpus reuses few words many times)."""
    return porter_stem(word)


class StemmingTokenizer(Tokenizer):
    """Words, lower-cased, stop words dropped, Porter-stemmed: one pass, no filter chain.

    Equivalent to Whoosh's StemmingAnalyzer but about twice as fast, which matters for a full
    reindex. Positions count only the words kept (like StopFilter(renumber=True)).
    """

    stems = True  # False: words as written (lower-cased), for the `exact` field

    def __eq__(self, other):
        return self.__class__ is other.__class__

    def __hash__(self):
        return hash(self.__class__)

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            # Wildcards and ranges: the text as typed, lower-cased, never stemmed.
            token.original = token.text = value.lower()
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar = start_char
                token.endchar = start_char + len(value)
            yield token
            return
        pos = start_pos
        boosts = iter(BOOSTS)
        boost = next(boosts) if PART in value and mode != "query" else 1.0
        part_ends = []
        if boost != 1.0:
            at = value.find(PART)
            while at >= 0:
                part_ends.append(at)
                at = value.find(PART, at + 1)
        for match in WORD_RE.finditer(value):
            while part_ends and match.start() > part_ends[0]:
                part_ends.pop(0)
                boost = next(boosts, 1.0)
            word = match.group(0).lower()
            if len(word) < 2 or word in STOP_WORDS:
                if removestops:
                    continue
                token.stopped = True
            else:
                token.stopped = False
            if keeporiginal:
                token.original = match.group(0)
            token.text = stem(word) if self.stems else word
            token.boost = boost
            if positions:
                token.pos = pos
            if chars:
                token.startchar = start_char + match.start()
                token.endchar = start_char + match.end()
            pos += 1
            yield token


class WordTokenizer(StemmingTokenizer):
    """StemmingTokenizer without the stemming: the words of the `exact` field."""

    stems = False


ANALYZER = StemmingTokenizer()
EXACT_ANALYZER = WordTokenizer()


# word -> its stem, or "" for a word the analyzer drops (stop words, single characters): one
# dictionary look-up per word of a reindex. Bounded like stem()'s cache.
_INDEXED_AS = {}
_INDEXED_AS_MAX = 200_000


def _indexed_as(word):
    found = "" if len(word) < 2 or word in STOP_WORDS else stem(word)
    if len(_INDEXED_AS) >= _INDEXED_AS_MAX:
        _INDEXED_AS.clear()
    _INDEXED_AS[word] = found
    return found


def _postings(value):
    """{stem: [position deltas, weight, last position]} of a text as ANALYZER tokenizes it for
    indexing (the deltas are what Whoosh's Positions format encodes)."""
    found = {}
    pos = 0
    boosted = PART in value
    parts = value.split(PART) if boosted else (value,)
    known = _INDEXED_AS.get
    for number, part in enumerate(parts):
        boost = (BOOSTS[number] if number < len(BOOSTS) else 1.0) if boosted else 1.0
        for word in WORD_RE.findall(part.lower()):
            text = known(word)
            if text is None:
                text = _indexed_as(word)
            if not text:
                continue
            entry = found.get(text)
            if entry is None:
                found[text] = [[pos], boost, pos]
            else:
                entry[0].append(pos - entry[2])
                entry[1] += boost
                entry[2] = pos
            pos += 1
    return found


def _encode_deltas(deltas):
    """Whoosh's Positions.encode, for the deltas of one list of positions."""
    return pack_uint(len(deltas)) + pickle.dumps(deltas, 2)


_ONE_POSITION = [_encode_deltas([p]) for p in range(4096)]  # most words occur once


class Text(fields.TEXT):
    """fields.TEXT indexed in one pass: the same postings as Whoosh's Positions format over
    ANALYZER's tokens, about three times faster (what a full reindex spends most time on)."""

    def index(self, value, **kwargs):
        fast = (
            not kwargs
            and isinstance(value, str)
            and self.analyzer == ANALYZER
            and type(self.format) is formats.Positions
        )
        if not fast:
            yield from super().index(value, **kwargs)
            return
        field_boost = self.format.field_boost
        single = _ONE_POSITION
        for text, (deltas, weight, _last) in _postings(value).items():
            count = len(deltas)
            if count == 1 and deltas[0] < 4096:
                encoded = single[deltas[0]]
            else:
                encoded = _encode_deltas(deltas)
            yield text.encode("utf-8"), count, weight * field_boost, encoded

    def add_bulk_postings(self, value, docnum, boost, terms):
        """What index(value) yields, with each weight times `boost`, appended for document
        `docnum` to `terms` ({term text: (docnums array "I", weights array "d", encoded
        positions list)}; kb.search.whoosh_internals.BulkWriter's layout, keyed by str here).
        Returns the field length (the sum of the frequencies), or None when index() must be
        used instead. One loop instead of a generator, a tuple and a bytes key per posting."""
        if not (
            isinstance(value, str)
            and self.analyzer == ANALYZER
            and type(self.format) is formats.Positions
        ):
            return None
        field_boost = self.format.field_boost
        single = _ONE_POSITION
        known = terms.get
        length = 0
        for text, (deltas, weight, _last) in _postings(value).items():
            count = len(deltas)
            length += count
            entry = known(text)
            if entry is None:
                entry = terms[text] = (array("I"), array("d"), [])
            entry[0].append(docnum)
            entry[1].append(weight * field_boost * boost)
            if count == 1 and deltas[0] < 4096:
                entry[2].append(single[deltas[0]])
            else:
                entry[2].append(_encode_deltas(deltas))
        return length


def _word_counts(value):
    """{word: [count, weight]} of a text as EXACT_ANALYZER tokenizes it for indexing (no
    positions: the `exact` field keeps frequencies only)."""
    found = {}
    boosted = PART in value
    parts = value.split(PART) if boosted else (value,)
    for number, part in enumerate(parts):
        boost = (BOOSTS[number] if number < len(BOOSTS) else 1.0) if boosted else 1.0
        counts = Counter(WORD_RE.findall(part.lower()))
        for word, count in counts.items():
            if len(word) < 2 or word in STOP_WORDS:
                continue
            entry = found.get(word)
            if entry is None:
                found[word] = [count, count * boost]
            else:
                entry[0] += count
                entry[1] += count * boost
    return found


_PACKED_COUNTS = [pack_uint(n) for n in range(256)]


class ExactText(fields.TEXT):
    """The `exact` field: words as written, frequencies only, indexed in one pass."""

    def __init__(self):
        super().__init__(analyzer=EXACT_ANALYZER, phrase=False)

    def index(self, value, **kwargs):
        if kwargs or not isinstance(value, str) or type(self.format) is not formats.Frequency:
            yield from super().index(value, **kwargs)
            return
        field_boost = self.format.field_boost
        packed = _PACKED_COUNTS
        for text, (count, weight) in _word_counts(value).items():
            encoded = packed[count] if count < 256 else pack_uint(count)
            yield text.encode("utf-8"), count, weight * field_boost, encoded


def count_matches(text, stems):
    """How many words of `text` have one of these stems (a frozenset; cheaper than running
    the analyzer).

    Only the words that begin as one of the stems does are stemmed: Porter's stemmer rewrites
    endings alone, so a word and its stem share their first character
    (tests/test_search_passages.py checks both the rule and the count)."""
    finder = _words_beginning(stems)
    if finder is None:
        return 0
    return sum(map(stems.__contains__, map(stem, finder.findall(text.lower()))))


@lru_cache(maxsize=512)
def _words_beginning(stems):
    """The words WORD_RE finds that begin as one of `stems` does (None for no stem): the
    same word boundaries (a word starts at a word character that neither a word character
    nor a joining "." or "'" after one comes before), the same greedy extent. Kept per set
    of stems: a search counts the words of every section of ten hits with one set."""
    initials = sorted({s[0] for s in stems if s})
    if not initials:
        return None
    chars = "".join(re.escape(c) for c in initials)
    # The first character before the lookbehinds: re then skips to the next candidate fast.
    return re.compile(rf"[{chars}](?<!\w.)(?<!\w[.'].)\w*(?:[.']\w+)*")
