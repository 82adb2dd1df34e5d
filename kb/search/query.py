"""Searching: parse what a person typed, apply the visibility rule, rank, count, highlight.

`search(index, user, text, filters=..., sort=..., page=...)` returns a SearchResult that the
page and the API render. Everything a user sees (hits, total, facet counts, passages and the
corrections) comes from documents accounts.scope_of(user) allows.

The jobs live in their own modules: parsing.py (text to query, question words),
synonyms.py (the words a word also matches), expand.py (patterns to words), ranking.py
(masks, counts, BM25F), highlight.py (hits and passages), spelling.py (corrections); this
one puts them in order:

1. all the words (each with its synonyms) must match;
2. a query of LONG_QUERY words or more that finds fewer than TOO_FEW postmortems finds
   those holding most of its words instead (more than half), ranked by BM25F;
3. when that finds nothing and misspelt words have corrections, the corrected words are
   searched (and the page offers the words as typed);
4. when it still finds nothing, postmortems holding any of the words.
"""

from whoosh import query as wq

from kb import accounts
from kb.search import docsets, expand, parsing, ranking, schema, spelling, synonyms
from kb.search.index import IndexUnavailable
from kb.search.parsing import (  # noqa: F401 (the names callers know this module by)
    ADVERTISED_FIELDS,
    MAX_QUERY,
    QUERY_FIELDS,
    QueryError,
    parse,
    plain_words,
)
from kb.search.ranking import FACET_FIELD, FACET_PARAM  # noqa: F401
from kb.search.results import (  # noqa: F401
    MAX_PAGE,
    PER_PAGE,
    SORTS,
    Facet,
    FacetValue,
    Hit,
    Passage,
    SearchResult,
)

LONG_QUERY = 3  # words from which "most of the words" may stand in for "all of them"
TOO_FEW = PER_PAGE  # fewer results than a page: all the words together matched too little


def search(
    index,
    user,
    text="",
    *,
    filters=None,
    sort="relevance",
    page=1,
    per_page=PER_PAGE,
    synonym_table=None,
    correct=True,
):
    """Search what `user` may see. Bad input gives a result with `error`, never an exception.

    `synonym_table`: a synonyms.Table (None: the shipped one); `correct=False` searches the
    words as typed even when they find nothing (the "search instead for" link)."""
    filters = {k: [v for v in vs if v] for k, vs in (filters or {}).items() if k in FACET_FIELD}
    filters = {k: vs for k, vs in filters.items() if vs}
    sort = sort if sort in SORTS else "relevance"
    page = max(1, min(MAX_PAGE, int(page or 1)))
    result = SearchResult(text=text or "", filters=filters, sort=sort, page=page, per_page=per_page)
    table = synonym_table if synonym_table is not None else synonyms.current()
    try:
        with index.searcher() as searcher:
            _search(searcher, index.caches, accounts.scope_of(user), result, table, correct)
    except IndexUnavailable:
        result.rebuilding = True
    return result


def _search(searcher, caches, scope, result, table, correct, suggest=True):
    text, result.ignored = parsing.without_question_words(result.text)
    try:
        q = parse(text)
    except QueryError as exc:
        result.error = str(exc)
        return
    result.exact = parsing.exact_words(text)
    reader = searcher.reader()
    q, found = synonyms.expand(q, table)
    q, skipped = ranking.affordable(q, searcher, caches, scope)
    result.also = [w for w in found.words if synonyms.analyse(w) not in skipped]
    visible = docsets.word_visibility(searcher, caches, scope)
    q, expansion = expand.expand(q, reader, visible)
    result.cut = expansion.cut
    ranking.run(searcher, caches, scope, q, result)
    words, required = _words(q)
    result.words = len(words)
    if result.total < TOO_FEW and len(words) >= LONG_QUERY:
        # Most of the words (more than half); when even that fills no page, any of them;
        # ranked by BM25F, which already favours a document holding more of the words.
        strict = result.total
        for least in (len(words) // 2 + 1, 1):
            some = wq.Or(words, minmatch=least)
            relaxed = wq.And([*required, some]) if required else some
            ranking.run(searcher, caches, scope, relaxed, result)
            if result.total >= TOO_FEW:
                break
        result.relaxed = result.total > strict
        result.min_words = least if result.relaxed else 0
    looked_up = not suggest  # correcting walks the term list (bounded): once per search
    if result.total == 0 and correct and plain_words(text):
        corrected = spelling.suggest(searcher, caches, scope, text, table)
        looked_up = True
        if corrected:
            retry = SearchResult(
                text=corrected,
                filters=result.filters,
                sort=result.sort,
                page=result.page,
                per_page=result.per_page,
            )
            _search(searcher, caches, scope, retry, table, correct=False, suggest=False)
            if retry.total:
                retry.corrected_from = result.text
                retry.suggestion = corrected
                retry.ignored = result.ignored or retry.ignored
                result.__dict__.update(retry.__dict__)
                return
            result.suggestion = corrected
    if result.total == 0 and 1 < len(words) < LONG_QUERY:
        # Any of the words (a long query has been through this above); what NOT and the
        # fields asked for still holds.
        some = wq.Or(words)
        relaxed = wq.And([*required, some]) if required else some
        ranking.run(searcher, caches, scope, relaxed, result)
        result.relaxed = result.total > 0
        result.min_words = 1 if result.relaxed else 0
    if not looked_up and result.total < 3 and plain_words(text):
        result.suggestion = spelling.suggest(searcher, caches, scope, text, table)


def _words(q):
    """([word], [required]): the words of a query of words joined by AND (each word with
    its synonyms, or a phrase, or a pattern's words), and what every hit must match anyway
    (fields, NOT). No words for a query built with OR or other operators."""
    nodes = q.subqueries if isinstance(q, wq.And) and type(q) is wq.And else [q]
    words, required = [], []
    for node in nodes:
        if node is wq.NullQuery:
            words.append(node)  # a pattern that matched no word: a word no document holds
        elif isinstance(node, synonyms.SynonymOr) or (
            type(node) in (wq.Term, wq.Phrase) and node.fieldname in schema.TEXT_FIELDS
        ):
            words.append(node)
        elif isinstance(node, wq.Or) and type(node) is wq.Or and _pattern_words(node):
            words.append(node)  # the words a pattern stands for
        elif isinstance(node, wq.Or):
            return [], []  # OR typed: the person said which words may be missing
        else:
            required.append(node)
    return words, required


def _pattern_words(node):
    return all(type(s) is wq.Term and s.fieldname in schema.TEXT_FIELDS for s in node.subqueries)
