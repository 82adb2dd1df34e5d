"""Hits as shown: the title and the passage that matched, HTML-escaped, <mark> around the
words that matched (typed, found by a pattern, or a synonym)."""

from whoosh import highlight as wh

from kb.search import analysis, passages, schema
from kb.search.results import Hit, Passage
from kb.template import heading


def terms_of(searcher, q):
    """The terms to mark: stems, and EXACT + word for words searched as written."""
    reader = searcher.reader()
    try:
        # Leaf by leaf: Whoosh's existing_terms of a compound query reuses its `fieldname`
        # argument as a loop variable, and skips every leaf of another field than the first.
        terms = set()
        for leaf in q.leaves():
            terms |= leaf.existing_terms(reader, phrases=True, expand=True)
    except Exception:  # noqa: BLE001 (highlighting is a nicety; a result without it is fine)
        return frozenset()
    out = set()
    for field_name, text in terms:
        if field_name in schema.TEXT_FIELDS:
            text = text.decode() if isinstance(text, bytes) else text
            out.add(EXACT + text if field_name == schema.EXACT_FIELD else text)
    return frozenset(out)


# Among the terms to mark, a word searched as written (the `exact` field) is this prefix and
# the word; every other term is a stem.
EXACT = "="


def _marking(terms):
    """The analyzer to mark `terms` with: the stemming one, whose tokens are also compared
    as written (EXACT + word) when a word was searched as written."""
    exact = {t for t in terms if t.startswith(EXACT)}
    if not exact:
        return analysis.ANALYZER

    def analyze(value, **kwargs):
        for token in analysis.ANALYZER(value, **kwargs):
            written = EXACT + value[token.startchar : token.endchar].lower()
            if written in exact:
                token.text = written
            yield token

    return analyze


def _count_matches(text, terms):
    """How many words of `text` match `terms`, some of them words searched as written."""
    return sum(1 for t in _marking(terms)(text, chars=True, mode="query") if t.text in terms)


class MarkFormatter(wh.Formatter):
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


_FORMATTER = MarkFormatter()


def hit(searcher, docnum, score, terms):
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
    return passages.whole_html(text, terms, _exact(terms))


def _exact(terms):
    """{word: its term} of the words searched as written."""
    return {t[len(EXACT) :]: t for t in terms if t.startswith(EXACT)}


def _passage(sections, terms):
    """The passage of the section with the most matched words (ties: the earlier section)."""
    if not sections:
        return None
    best, best_count = None, 0
    exact = _exact(terms)
    count_in = _count_matches if exact else analysis.count_matches
    for key, text in sections if terms else ():
        count = count_in(text, terms)
        if count > best_count:
            best, best_count = (key, text), count
    if best is None:  # matched on the title or a facet only: show the opening
        key, text = sections[0]
        short = text if len(text) <= 240 else text[:239].rsplit(" ", 1)[0] + " …"
        return Passage(key, heading(key), wh.htmlescape(short, quote=False))
    key, text = best
    return Passage(key, heading(key), passages.passage_html(text, terms, exact))
