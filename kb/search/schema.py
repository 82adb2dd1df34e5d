"""The shape of the search index: its analyzer, its fields, and one postmortem as index fields.

Text fields carry the words (title above factors above everything else, through field
boosts; stemmed, and as written in `exact`); keyword fields carry the facets and the
visibility rule's inputs; the sections are stored (compressed) so a hit can show the passage
that matched and name its section.
"""

import json
import pickle
import re
import zlib
from array import array
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache

from whoosh import columns, fields, formats
from whoosh.analysis import STOP_WORDS, IDAnalyzer, Token, Tokenizer
from whoosh.lang.porter import stem as porter_stem
from whoosh.system import pack_uint

# Bump when the schema or the analyzer changes: an index of another version is rebuilt.
SCHEMA_VERSION = 2
STATE_ID = "__state__"

# `content` holds every word of a postmortem and answers plain words; `title` and `factors`
# also exist on their own for title: and factor: queries (and for BM25F, kb.search.scoring).
# `exact` holds the same words as `content`, as written (lower-cased, not stemmed, no
# positions): a word typed between quotes ("cert") is searched there, without synonyms.
TEXT_FIELDS = ("content", "title", "factors", "exact")
DEFAULT_FIELD = "content"
EXACT_FIELD = "exact"
# Field boosts, applied inside `content` at index time: a word of the title counts three
# times, a word of a contributing factor twice. (Searching three fields per word instead made
# Whoosh score every posting of the union eagerly: four times slower at 2,000 documents.)
BOOSTS = (3.0, 2.0, 1.0)  # title, factors, everything else
PART = "\x1d"  # separates the parts of `content`; never typed, never indexed
# Facets: (index field, label, query prefix the user types).
FACETS = (
    ("severity", "Severity", "severity"),
    ("kind", "Kind", "kind"),
    ("status", "Status", "status"),
    ("services", "Service", "service"),
    ("teams", "Team", "team"),
    ("tags", "Tag", "tag"),
    ("year", "Year", "year"),
)
FACET_FIELDS = tuple(f for f, _l, _p in FACETS)
# Sections, in the order a reader meets them; each hit's passage comes from one of them.
SECTION_KEYS = (
    "change",  # a pre-mortem's: the planned change, its risks and its rollback plan
    "risks",
    "rollback",
    "summary",
    "impact",
    "detection",
    "response",
    "timeline",
    "contributing_factors",
    "went_well",
    "went_poorly",
    "got_lucky",
    "surprises",
    "lessons",
    "action_items",
    "notes",
)

RISK_PARTS = ("text", "mitigation", "signals")  # the words of a risk that are searched
_WORD_RE = re.compile(r"\w+(?:[.']\w+)*", re.UNICODE)


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
        for match in _WORD_RE.finditer(value):
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
        for word in _WORD_RE.findall(part.lower()):
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
        counts = Counter(_WORD_RE.findall(part.lower()))
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
    """How many words of `text` have one of these stems (cheaper than running the analyzer)."""
    return sum(1 for w in _WORD_RE.findall(text.lower()) if stem(w) in stems)


def make_schema():
    """The index schema."""
    return fields.Schema(
        pid=fields.ID(unique=True, stored=True),
        ref=fields.ID(analyzer=IDAnalyzer(lowercase=True)),
        content=Text(analyzer=ANALYZER),
        title=Text(analyzer=ANALYZER),
        factors=Text(analyzer=ANALYZER),
        exact=ExactText(),
        severity=fields.KEYWORD(lowercase=True),
        kind=fields.KEYWORD(lowercase=True),
        status=fields.KEYWORD(lowercase=True),
        trigger=fields.KEYWORD(lowercase=True),
        year=fields.KEYWORD(),
        services=fields.KEYWORD(commas=True, lowercase=True),
        teams=fields.KEYWORD(commas=True, lowercase=True),
        tags=fields.KEYWORD(commas=True, lowercase=True),
        # The visibility rule's inputs, exactly as accounts.Scope compares them.
        visibility=fields.ID(),
        acl=fields.KEYWORD(commas=True),
        started=fields.COLUMN(columns.NumericColumn("q", default=0)),
        meta=fields.STORED(),
        sections=fields.STORED(),
        state=fields.STORED(),
    )


# --- from a document to index fields --------------------------------------------------------

# No repetition may run past the next opening bracket: each match attempt then stops where
# the next one starts, and a text of 50 KB of "[" costs milliseconds, not five seconds.
_IMAGE_RE = re.compile(r"!\[([^\[\]]*)\]\([^()]*\)")
_LINK_RE = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
_TAG_RE = re.compile(r"<[^<>]+>")
_MARKUP_RE = re.compile(r"(^|\s)[#>]+\s|[*`|~]+|^[ \t]*[-+][ \t]+|^[ \t]*\d+\.[ \t]+", re.MULTILINE)
_SPACE_RE = re.compile(r"[ \t]+")


def plain(markdown_text):
    """Markdown to plain text, quickly: links keep their words, markup characters go.

    kb.markdown.plain_text renders through the sanitiser and is ~100 times slower; for the
    index, words are all that count.
    """
    if not markdown_text:
        return ""
    text = _IMAGE_RE.sub(r"\1", markdown_text)
    text = _LINK_RE.sub(r"\1", text)
    text = _TAG_RE.sub(" ", text)
    text = _MARKUP_RE.sub(" ", text)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return "\n".join(
        line for line in (_SPACE_RE.sub(" ", s).strip() for s in text.splitlines()) if line
    )


def _epoch(value):
    if value is None:
        return 0
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def sections_of(doc):
    """[(section key, plain text)] for every non-empty section of a document."""
    out = []
    for key in SECTION_KEYS:
        if key == "timeline":
            text = "\n".join(plain(e.get("text", "")) for e in doc.get("timeline") or ())
        elif key == "contributing_factors":
            text = "\n".join(
                plain(f.get("text", "")) for f in doc.get("contributing_factors") or ()
            )
        elif key == "risks":
            text = "\n".join(
                " ".join(plain(r.get(part) or "") for part in RISK_PARTS).strip()
                for r in doc.get("risks") or ()
            )
        elif key == "action_items":
            text = "\n".join(a.get("title", "") for a in doc.get("action_items") or ())
        else:
            text = plain(doc.get(key) or "")
        if text:
            out.append((key, text))
    return out


def fields_for(pid, doc, version=1, created_at=None):
    """The index fields of one postmortem, from its document (kb.document's format)."""
    sections = sections_of(doc)
    labels = [*doc.get("services", ()), *doc.get("teams", ()), *doc.get("tags", ())]
    # Services, teams and tags are words too: "checkout-api" typed alone finds its incidents.
    body = "\n".join([*(t for k, t in sections if k != "contributing_factors"), " ".join(labels)])
    factor_text = "\n".join(
        " ".join(filter(None, (plain(f.get("text", "")), f.get("category") or "")))
        for f in doc.get("contributing_factors") or ()
    )
    # A pre-mortem's date is when its change is planned.
    started = _epoch(doc.get("started_at")) or _epoch(doc.get("planned_at")) or _epoch(created_at)
    year = str(datetime.fromtimestamp(started, UTC).year) if started else ""
    title = doc["title"]
    people = [p.lower() for p in (*doc.get("authors", ()), *doc.get("readers", ()))]
    acl = [f"team:{t}" for t in doc.get("teams", ())] + [f"person:{p}" for p in people]
    meta = {
        "ref": doc["ref"],
        "title": title,
        "severity": doc.get("severity"),
        "kind": doc.get("kind"),
        "status": doc.get("status"),
        "visibility": doc.get("visibility"),
        "started": started or None,
        "services": list(doc.get("services", ())),
        "teams": list(doc.get("teams", ())),
        "tags": list(doc.get("tags", ())),
        "version": version,
    }
    packed = zlib.compress(json.dumps(sections, separators=(",", ":")).encode(), 1)
    words = f"{title}{PART}{factor_text}{PART}{body}"
    return {
        "pid": str(pid),
        "ref": doc["ref"],
        "title": title,
        "factors": factor_text,
        "content": words,
        "exact": words,
        "severity": doc.get("severity") or "none",
        "kind": doc.get("kind") or "",
        "status": doc.get("status") or "",
        "trigger": doc.get("trigger") or "",
        "year": year,
        "services": ",".join(doc.get("services", ())),
        "teams": ",".join(doc.get("teams", ())),
        "tags": ",".join(doc.get("tags", ())),
        "visibility": doc.get("visibility") or "internal",
        "acl": ",".join(acl),
        "started": started,
        "meta": meta,
        "sections": packed,
    }


def unpack_sections(packed):
    """The stored sections of a hit, [(key, text)]."""
    return [tuple(s) for s in json.loads(zlib.decompress(packed))] if packed else []
