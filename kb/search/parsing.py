"""Parsing what a person typed into a Whoosh query: fields, references, phrases, operators,
and the question words and stop words of a sentence typed as a question."""

import re

from whoosh import query as wq
from whoosh.qparser import FieldAliasPlugin, OrGroup, QueryParser, QueryParserError
from whoosh.qparser.plugins import SingleQuotePlugin

from kb.search import expand, schema

MAX_QUERY = 500
# What a person may type before a colon, and the index field it means.
QUERY_FIELDS = {
    "title": "title",
    "factor": "factors",
    "factors": "factors",
    "text": "content",
    "ref": "ref",
    "severity": "severity",
    "sev": "severity",
    "kind": "kind",
    "status": "status",
    "trigger": "trigger",
    "service": "services",
    "services": "services",
    "team": "teams",
    "teams": "teams",
    "tag": "tags",
    "tags": "tags",
    "year": "year",
}
ADVERTISED_FIELDS = (
    "service",
    "team",
    "tag",
    "severity",
    "kind",
    "status",
    "trigger",
    "year",
    "title",
    "factor",
    "ref",
)
# A bare reference means ref: (INC-2026-014, INC-123, OPS-4521); any other ref is found
# with ref:... typed out.
_REF_RE = re.compile(r"(?<![:\w])([A-Za-z][A-Za-z0-9]{1,9}-\d{1,6}(?:-\d{3,6})?)(?![\w-])")
_FIELD_RE = re.compile(r"(?<![\w\"])([A-Za-z_]+):(?=[^\s/])")
_WORD_RE = re.compile(r"(?<![:\w*])([A-Za-z][A-Za-z']+)(?![\w:*])")
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"}
# One word between quotes: that word as written, no other forms, no synonyms ("cert" finds
# cert but not certs or certificate), as quotes do in web search engines. Several words
# between quotes stay a phrase. Not after a field name: title:"cert" is a title word.
_EXACT_RE = re.compile(r'(?<![:\w"])"\s*(\w+(?:[.\']\w+)*)\s*"')


class QueryError(ValueError):
    """A query that cannot be understood; the message says how to fix it."""


# --- parsing ------------------------------------------------------------------------------


def _parser(group=None):
    kwargs = {"group": group} if group is not None else {}
    parser = QueryParser(schema.DEFAULT_FIELD, schema.make_schema(), **kwargs)
    parser.remove_plugin_class(SingleQuotePlugin)  # "don't" is a word, not a quote
    aliases = {}
    for typed, real in QUERY_FIELDS.items():
        if typed != real:
            aliases.setdefault(real, []).append(typed)
    parser.add_plugin(FieldAliasPlugin(aliases))
    return parser


_PARSERS = {}


def parse(text, any_word=False):
    """A Whoosh query for what a person typed; raises QueryError with a helpful message."""
    text = (text or "").strip()
    if len(text) > MAX_QUERY:
        raise QueryError(f"A query can be at most {MAX_QUERY} characters long.")
    if not text:
        return wq.Every()
    if text.count('"') % 2:
        raise QueryError('A quotation mark is not closed: put phrases between two " marks.')
    if text.count("(") != text.count(")"):
        raise QueryError("The parentheses do not pair up: close each ( with a ).")
    outside_quotes = re.sub(r'"[^"]*"', " ", text)
    for name in _FIELD_RE.findall(outside_quotes):
        if name.lower() not in QUERY_FIELDS:
            known = ", ".join(f"{f}:" for f in ADVERTISED_FIELDS)
            raise QueryError(f'There is no field "{name}". Fields you can use: {known}.')
    # Field names are case-insensitive; a bare reference such as INC-2026-014 means ref:.
    text = _FIELD_RE.sub(lambda m: m.group(1).lower() + ":", text)
    text = _EXACT_RE.sub(lambda m: f"{schema.EXACT_FIELD}:{m.group(1)}", text)
    text = _REF_RE.sub(lambda m: "ref:" + m.group(1), text)
    key = "or" if any_word else "and"
    if key not in _PARSERS:
        _PARSERS[key] = _parser(OrGroup if any_word else None)
    try:
        q = _PARSERS[key].parse(text)
    except QueryParserError as exc:
        raise QueryError(f"This query could not be understood: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 (the parser has corners; the person gets words)
        raise QueryError("This query could not be understood. Try plain words.") from exc
    if q is wq.NullQuery:
        return wq.Every() if not _has_words(text) else q
    if expand.count_patterns(q) > expand.MAX_PATTERNS:
        raise QueryError(
            f"A query can hold at most {expand.MAX_PATTERNS} wildcards, prefixes or ranges."
        )
    return q


def exact_words(text):
    """The words typed between quotes one by one, searched as written (for the page)."""
    outside_fields = re.sub(r'\b[A-Za-z_]+:"[^"]*"', " ", text or "")
    return list(dict.fromkeys(m.group(1).lower() for m in _EXACT_RE.finditer(outside_fields)))


def _has_words(text):
    return any(w.isalnum() for w in re.split(r"\W+", text) if w.upper() not in _OPERATORS)


def plain_words(text):
    """The words typed outside field queries, operators and wildcards, and not between
    quotes one by one (a word asked for as written is not corrected): for suggestions."""
    stripped = re.sub(r"\b[A-Za-z_]+:(\"[^\"]*\"|\S+)", " ", text or "")
    stripped = _EXACT_RE.sub(" ", stripped)
    return [w for w in _WORD_RE.findall(stripped) if w.upper() not in _OPERATORS]


# --- questions typed as sentences -----------------------------------------------------------

# Words that ask rather than describe: "has a config push broken checkout before?" searches
# for config, push, broken and checkout. (Stop words such as "a" and "the" are dropped by
# the analyzer, in queries as in documents.) Words that can describe an incident ("down",
# "time", "again" in "failed again") are not here.
QUESTION_WORDS = frozenset(
    {
        "what",
        "whats",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "where",
        "has",
        "have",
        "had",
        "hasn",
        "haven",
        "did",
        "does",
        "do",
        "doing",
        "done",
        "is",
        "are",
        "was",
        "were",
        "been",
        "being",
        "am",
        "ever",
        "before",
        "previously",
        "anything",
        "something",
        "anyone",
        "someone",
        "there",
        "their",
        "they",
        "them",
        "i",
        "me",
        "my",
        "our",
        "ours",
        "could",
        "would",
        "should",
        "might",
        "must",
        "happen",
        "happened",
        "happens",
        "happening",
        "occur",
        "occurred",
        "occurs",
        "know",
        "seen",
        "similar",
        "like",
    }
)
_PLAIN_WORD_RE = re.compile(r'"[^"]*"|\S+')
_QUESTION_MARK_RE = re.compile(r"(?<=[A-Za-z])\?+(?=\s|$)")


def without_question_words(text):
    """(text, dropped): `text` without its question words (outside quotes and fields) and
    without question marks that end words. No word is dropped when none would be left."""
    # A question mark that ends a word is punctuation, not a one-letter wildcard.
    text = _QUESTION_MARK_RE.sub("", (text or "").strip())
    kept, dropped = [], []
    for match in _PLAIN_WORD_RE.finditer(text):
        token = match.group(0)
        bare = token.strip(",.;!").lower()
        if bare in QUESTION_WORDS and token.strip(",.;!").isalpha():
            dropped.append(bare)
        else:
            kept.append(token)
    if not dropped or not kept or not any(w.upper() not in _OPERATORS for w in kept):
        return text, []
    return " ".join(kept), dropped
