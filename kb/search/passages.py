"""The passage shown under a hit: the best fragment of a section, its matched words marked.

The same passage as Whoosh's `highlight(text, terms, analyzer, ContextFragmenter(maxchars,
surround), formatter, top=1)` with kb.search.highlight's formatter (tests/test_search_passages.py
compares the two on many texts), made from plain tuples instead of a Token object per word:
Whoosh's highlighter was most of the time spent on the ten hits of a search.
"""

from collections import deque
from html import escape

from kb.search import analysis

MAXCHARS = 260  # a fragment's longest run of words, as ContextFragmenter's maxchars
SURROUND = 90  # characters of context before the first and after the last matched word
CHARLIMIT = 2**15  # words past this many characters are not read (Whoosh's default)
BETWEEN = " … "


def tokens(text, terms, exact=None):
    """[(start, end, term, matched)] of every word of `text` as the stemming analyzer reads
    it for highlighting (stop words kept): `term` is the word's stem, or `exact[word]` for a
    lower-cased word searched as written (`exact`: {word: its term})."""
    out = []
    stem = analysis.stem
    for match in analysis.WORD_RE.finditer(text):
        word = match.group(0).lower()
        term = exact.get(word) if exact else None
        if term is None:
            term = stem(word)
        out.append((match.start(), match.end(), term, term in terms))
    return out


def fragments(text_length, words):
    """[(start, end, matches)] as Whoosh's ContextFragmenter(MAXCHARS, SURROUND) makes them
    from `words` (tokens()); `matches` are the matched words' (start, end, term)."""
    out = []
    first, firsts, countdown, found, end, length = None, deque(), -1, [], None, 0
    for start, end, term, matched in words:
        size = end - start
        if end > CHARLIMIT:
            break
        if countdown < 0 and not matched:
            firsts.append(start)
            while firsts and end - firsts[0] > SURROUND:
                firsts.popleft()
        elif length + size > MAXCHARS:
            countdown = 0
        elif matched:
            countdown = SURROUND
            if first is None:
                if firsts:
                    first = firsts[0]
                else:
                    first = start
                    countdown += SURROUND
            found.append((start, end, term))
        if countdown >= 0:
            length += size
            countdown -= size
            if countdown <= 0:
                out.append(_fragment(text_length, found, first, end))
                first, firsts, found, length = None, deque(), [], 0
    if found:
        out.append(_fragment(text_length, found, first, end))
    return out


def _fragment(text_length, found, start, end):
    if start is None:
        start = found[0][0] if found else 0
    if end is None:
        end = found[-1][1] if found else text_length
    return max(0, start), min(text_length, end), found


def best(fragment_list):
    """The fragment Whoosh's top_fragments(count=1) keeps: the most matches times a hundred
    times the distinct terms matched; of equal scores the later one; none without a match."""
    scored = [(_score(found), start, (start, end, found)) for start, end, found in fragment_list]
    if not scored:
        return None
    score, _start, fragment = max(scored, key=lambda item: (item[0], item[1]))
    return fragment if score >= 1 else None


def _score(found):
    """BasicFragmentScorer's: the matches (each weighing 1) times 100 per distinct term."""
    return len(found) * (len({term for _s, _e, term in found}) * 100 or 1)


def html(text, fragment):
    """A fragment as HTML: escaped, each matched word in <mark>, "…" where the text goes on."""
    start, end, found = fragment
    out, at = [], start
    for m_start, m_end, _term in sorted(found, key=lambda m: (m[0], -(m[1] - m[0]))):
        if m_start < at:
            continue
        if m_start > at:
            out.append(escape(text[at:m_start], quote=False))
        out.append("<mark>" + escape(text[m_start:m_end], quote=False) + "</mark>")
        at = m_end
    out.append(escape(text[at:end], quote=False))
    before = "… " if start > 0 else ""
    after = " …" if end < len(text) else ""
    return before + "".join(out).strip() + after


def whole_html(text, terms, exact=None):
    """All of `text` as HTML, every matched word marked (none past CHARLIMIT): Whoosh's
    highlight with its WholeFragmenter and minscore 0 (a title)."""
    found = [
        (start, end, term)
        for start, end, term, matched in tokens(text, terms, exact)
        if matched and end <= CHARLIMIT
    ]
    return html(text, (0, len(text), found))


def passage_html(text, terms, exact=None):
    """The best fragment of `text` as HTML ("" when no word matches)."""
    chosen = best(fragments(len(text), tokens(text, terms, exact)))
    return html(text, chosen) if chosen else ""
