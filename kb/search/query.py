"""Searching: parse what a person typed, apply the visibility rule, rank, count, highlight.

`search(index, user, text, filters=..., sort=..., page=...)` returns a SearchResult that the
page and the API render. Everything a user sees (hits, total, facet counts, passages and the
"did you mean" suggestion) comes from documents accounts.scope_of(user) allows.
"""

import re
from dataclasses import dataclass, field

import numpy as np
from whoosh import highlight as wh
from whoosh import query as wq
from whoosh.qparser import FieldAliasPlugin, OrGroup, QueryParser, QueryParserError
from whoosh.qparser.plugins import SingleQuotePlugin

from kb import accounts
from kb.search import docsets, expand, ranking, schema
from kb.search.index import IndexUnavailable
from kb.template import heading

PER_PAGE = 10
MAX_PAGE = 100
MAX_QUERY = 500
SORTS = ("relevance", "newest")
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
_REF_RE = re.compile(r"(?<![:\w])([A-Za-z][A-Za-z0-9]{1,9}-\d{4}-\d{3,6})(?![\w-])")
_FIELD_RE = re.compile(r"(?<![\w\"])([A-Za-z_]+):(?=[^\s/])")
_WORD_RE = re.compile(r"(?<![:\w*])([A-Za-z][A-Za-z']+)(?![\w:*])")
_TEXT_WORD_RE = re.compile(r"\w+(?:[.']\w+)*")  # the words the analyzer indexes
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"}


class QueryError(ValueError):
    """A query that cannot be understood; the message says how to fix it."""


@dataclass
class Passage:
    section: str
    heading: str
    html: str


@dataclass
class Hit:
    ref: str
    title: str
    title_html: str
    score: float | None
    severity: str | None
    kind: str
    status: str
    started: int | None
    services: list
    teams: list
    tags: list
    passage: Passage | None


@dataclass
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass
class Facet:
    field: str
    label: str
    param: str
    values: list


@dataclass
class SearchResult:
    text: str = ""
    filters: dict = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    per_page: int = PER_PAGE
    total: int = 0
    hits: list = field(default_factory=list)
    facets: list = field(default_factory=list)
    suggestion: str | None = None
    error: str | None = None
    rebuilding: bool = False
    relaxed: bool = False  # no document had every word: these have some of them
    cut: bool = False  # a wildcard, prefix or range matched more words than were searched

    @property
    def pages(self):
        return max(1, min(MAX_PAGE, -(-self.total // self.per_page)))


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


def _has_words(text):
    return any(w.isalnum() for w in re.split(r"\W+", text) if w.upper() not in _OPERATORS)


def plain_words(text):
    """The words typed outside field queries, operators and wildcards (for suggestions)."""
    stripped = re.sub(r"\b[A-Za-z_]+:(\"[^\"]*\"|\S+)", " ", text or "")
    return [w for w in _WORD_RE.findall(stripped) if w.upper() not in _OPERATORS]


# --- searching ----------------------------------------------------------------------------


def search(index, user, text="", *, filters=None, sort="relevance", page=1, per_page=PER_PAGE):
    """Search what `user` may see. Bad input gives a result with `error`, never an exception."""
    filters = {k: [v for v in vs if v] for k, vs in (filters or {}).items() if k in FACET_FIELD}
    filters = {k: vs for k, vs in filters.items() if vs}
    sort = sort if sort in SORTS else "relevance"
    page = max(1, min(MAX_PAGE, int(page or 1)))
    result = SearchResult(text=text or "", filters=filters, sort=sort, page=page, per_page=per_page)
    scope = accounts.scope_of(user)
    try:
        q = parse(text)
    except QueryError as exc:
        result.error = str(exc)
        return result
    try:
        with index.searcher() as searcher:
            q, expansion = expand.expand(q, searcher.reader())
            result.cut = expansion.cut
            _run(searcher, index.caches, scope, q, result)
            if result.total == 0 and len(plain_words(text)) > 1 and not result.error:
                relaxed, expansion = expand.expand(parse(text, any_word=True), searcher.reader())
                _run(searcher, index.caches, scope, relaxed, result)
                result.relaxed = result.total > 0
                result.cut = result.cut or expansion.cut
            if result.total < 3 and plain_words(text):
                result.suggestion = _suggest(searcher, index.caches, scope, text)
    except IndexUnavailable:
        result.rebuilding = True
    return result


FACET_PARAM = {field: param for field, _label, param in schema.FACETS}
FACET_FIELD = {param: field for field, _label, param in schema.FACETS}


def _filter_query(filters):
    terms = []
    for param, values in filters.items():
        field_name = FACET_FIELD.get(param, param)
        for value in values:
            terms.append(wq.Term(field_name, value.lower()))
    return terms


def _run(searcher, caches, scope, q, result):
    """Fill total, facets and the page of hits of `result` for query `q`."""
    if scope.nothing:
        result.total, result.hits, result.facets = 0, [], _facets({}, result.filters)
        return
    filter_terms = _filter_query(result.filters)
    whole = wq.And([q, *filter_terms]) if filter_terms else q
    segments = []
    total = 0
    counts = {f: {} for f in schema.FACET_FIELDS}
    for segreader, offset, subsearcher in docsets.leaves(searcher):
        data = caches.data(segreader)
        allowed = caches.allowed(segreader, scope)
        mask = docsets.match_mask(whole, segreader, subsearcher, data) & allowed
        total += int(np.count_nonzero(mask))
        for f, values in docsets.facet_counts(segreader, data, mask).items():
            for value, c in values.items():
                counts[f][value] = counts[f].get(value, 0) + c
        segments.append((segreader, offset, data, mask, allowed))
    result.total = total
    result.facets = _facets(counts, result.filters)
    result.hits = []
    if total == 0:
        return
    start = (result.page - 1) * result.per_page
    if start >= total:
        return
    by_words = segments and ranking.ranks_by_words(q, segments[0][0])
    if result.sort == "newest" or not by_words:  # nothing to rank by: newest first
        docnums = _newest(segments, start + result.per_page)[start:]
        scored = [(d, None) for d in docnums]
    else:
        scored = _ranked(caches, whole, segments, start + result.per_page)[start:]
    terms = _highlight_terms(searcher, q)
    result.hits = [_hit(searcher, docnum, score, terms) for docnum, score in scored]


def _newest(segments, limit):
    if not segments:
        return []
    docnums, started = [], []
    for segreader, offset, data, mask, _allowed in segments:
        ids = np.flatnonzero(mask)
        values = data.started(segreader)[ids]
        if len(ids) > limit:  # only the newest `limit` of each segment can make the page
            keep = np.argpartition(-values, limit - 1)[:limit]
            ids, values = ids[keep], values[keep]
        docnums.append(ids + offset)
        started.append(values)
    docnums = np.concatenate(docnums)
    started = np.concatenate(started)
    # Newest first; the same start time falls back to the later document.
    order = np.lexsort((-docnums, -started))[:limit]
    return [int(d) for d in docnums[order]]


def _ranked(caches, q, segments, limit):
    # Scored in numpy over every match: Whoosh's collector would visit each match in Python
    # (its block-skipping rarely helps when most documents hold the words). The statistics
    # are those of the internal postmortems, the same for every user.
    stats = ranking.internal_statistics(q, caches, segments)
    candidates, scores = [], []
    for segreader, offset, data, mask, _allowed in segments:
        seg_scores = ranking.bm25_scores(q, segreader, data, stats, mask)
        ids = np.flatnonzero(mask)
        if len(ids) > limit:
            top = np.argpartition(-seg_scores[ids], limit - 1)[:limit]
            ids = ids[top]
        candidates.append(ids + offset)
        scores.append(seg_scores[ids])
    if not candidates:
        return []
    docnums = np.concatenate(candidates)
    values = np.concatenate(scores)
    order = np.lexsort((docnums, -values))[:limit]
    return [(int(docnums[i]), float(values[i])) for i in order]


def _highlight_terms(searcher, q):
    try:
        terms = q.existing_terms(searcher.reader(), phrases=True, expand=True)
    except Exception:  # noqa: BLE001 (highlighting is a nicety; a result without it is fine)
        return frozenset()
    out = set()
    for field_name, text in terms:
        if field_name in schema.TEXT_FIELDS:
            out.add(text.decode() if isinstance(text, bytes) else text)
    return frozenset(out)


class _MarkFormatter(wh.Formatter):
    """<mark> around matched words; everything else HTML-escaped."""

    between = " … "

    def _text(self, text):
        return wh.htmlescape(text, quote=False)

    def format_token(self, text, token, replace=False):
        return "<mark>" + wh.htmlescape(wh.get_text(text, token, replace), quote=False) + "</mark>"

    def format_fragment(self, fragment, replace=False):
        html = super().format_fragment(fragment, replace=replace)
        # Show that the passage continues before or after.
        before = "… " if fragment.startchar > 0 else ""
        after = " …" if fragment.endchar < len(fragment.text) else ""
        return before + html.strip() + after


_FORMATTER = _MarkFormatter()


def _hit(searcher, docnum, score, terms):
    stored = searcher.stored_fields(docnum)
    meta = stored["meta"]
    return Hit(
        ref=meta["ref"],
        title=meta["title"],
        title_html=_highlight_whole(meta["title"], terms),
        score=round(float(score), 3) if score is not None else None,
        severity=meta.get("severity"),
        kind=meta.get("kind") or "incident",
        status=meta.get("status") or "",
        started=meta.get("started"),
        services=meta.get("services") or [],
        teams=meta.get("teams") or [],
        tags=meta.get("tags") or [],
        passage=_passage(schema.unpack_sections(stored.get("sections")), terms),
    )


def _highlight_whole(text, terms):
    if not terms:
        return wh.htmlescape(text, quote=False)
    return wh.highlight(text, terms, schema.ANALYZER, wh.WholeFragmenter(), _FORMATTER, minscore=0)


def _passage(sections, terms):
    """The passage of the section with the most matched words (ties: the earlier section)."""
    if not sections:
        return None
    best, best_count = None, 0
    for key, text in sections:
        count = schema.count_matches(text, terms) if terms else 0
        if count > best_count:
            best, best_count = (key, text), count
    if best is None:  # matched on the title or a facet only: show the opening
        key, text = sections[0]
        short = text if len(text) <= 240 else text[:239].rsplit(" ", 1)[0] + " …"
        return Passage(key, heading(key), wh.htmlescape(short, quote=False))
    key, text = best
    fragmenter = wh.ContextFragmenter(maxchars=260, surround=90)
    html = wh.highlight(text, terms, schema.ANALYZER, fragmenter, _FORMATTER, top=1)
    return Passage(key, heading(key), html)


def _facets(counts, filters):
    out = []
    for field_name, label, param in schema.FACETS:
        selected = {v.lower() for v in filters.get(param, ())}
        values = counts.get(field_name, {})
        ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        if field_name in ("year",):
            ordered = sorted(values.items(), reverse=True)
        if field_name == "severity":
            ordered = sorted(values.items())
        shown = [FacetValue(_display(field_name, v), c, v in selected) for v, c in ordered[:12]]
        for v in selected - set(values):
            shown.append(FacetValue(_display(field_name, v), 0, True))
        out.append(Facet(field_name, label, param, shown))
    return out


def _display(field_name, value):
    if field_name == "severity":
        return value.upper()
    return value


# --- did you mean -------------------------------------------------------------------------

# Looking up close words walks the term list once per word: a query of 55 misspelt words
# took ten seconds. A few unknown words are corrected, and short enough ones only.
MAX_SUGGESTED_WORDS = 4  # unknown words looked up per query
MAX_SUGGEST_LENGTH = 24  # longer "words" are not spelling mistakes worth a lookup
MAX_CANDIDATES = 30  # close words weighed per unknown word


def _suggest(searcher, caches, scope, text):
    """The query with misspelt words replaced by words of documents the user may see."""
    words = plain_words(text)
    replaced = {}
    reader = searcher.reader()
    lookups = 0
    for word in dict.fromkeys(words):
        if lookups >= MAX_SUGGESTED_WORDS:
            break
        if len(word) > MAX_SUGGEST_LENGTH:
            continue
        stemmed = [t.text for t in schema.ANALYZER(word)]
        if not stemmed or _visible_freq(searcher, caches, scope, stemmed[0]):
            continue
        lookups += 1
        best = None
        for candidate in _candidates(reader, stemmed[0]):
            freq = _visible_freq(searcher, caches, scope, candidate)
            if not freq:
                continue  # a word only restricted documents hold must never be offered
            rank = (_distance(stemmed[0], candidate), -freq)
            if best is None or rank < best[0]:
                best = (rank, candidate)
        if best is not None:
            surface = _surface_word(searcher, caches, scope, best[1])
            if surface and surface.lower() != word.lower():
                replaced[word] = surface
    if not replaced:
        return None
    return re.sub(
        r"\b(" + "|".join(re.escape(w) for w in replaced) + r")\b",
        lambda m: replaced.get(m.group(1), m.group(1)),
        text,
    )


def _candidates(reader, stemmed):
    seen = set()
    for field_name in (schema.DEFAULT_FIELD,):
        for term in reader.terms_within(field_name, stemmed, maxdist=2, prefix=1):
            term = term.decode() if isinstance(term, bytes) else term
            if term not in seen and term != stemmed:
                seen.add(term)
                yield term
                if len(seen) >= MAX_CANDIDATES:
                    return


def _visible_freq(searcher, caches, scope, stemmed):
    total = 0
    for segreader, _offset, _sub in docsets.leaves(searcher):
        data = caches.data(segreader)
        allowed = caches.allowed(segreader, scope)
        for field_name in (schema.DEFAULT_FIELD,):
            ids = data.postings(segreader, field_name, stemmed)
            if len(ids):
                total += int(np.count_nonzero(allowed[ids]))
    return total


def _surface_word(searcher, caches, scope, stemmed):
    """A word as written in a visible document whose stem is `stemmed`."""
    for segreader, offset, _sub in docsets.leaves(searcher):
        data = caches.data(segreader)
        allowed = caches.allowed(segreader, scope)
        for field_name in (schema.DEFAULT_FIELD,):
            ids = data.postings(segreader, field_name, stemmed)
            visible = ids[allowed[ids]] if len(ids) else ids
            if len(visible):
                stored = searcher.stored_fields(int(visible[0]) + offset)
                texts = [stored["meta"]["title"]] + [
                    t for _k, t in schema.unpack_sections(stored.get("sections"))
                ]
                # Stem only the words that start like the stem, not whole documents.
                for text in texts:
                    for match in _TEXT_WORD_RE.finditer(text):
                        word = match.group(0)
                        if word[:2].lower() == stemmed[:2] and schema.stem(word.lower()) == stemmed:
                            return word
    return None


def _distance(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
