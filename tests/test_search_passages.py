"""The passage under a hit (kb.search.passages) is the one Whoosh's highlighter makes with the
same analyzer, fragmenter settings and formatter: random texts, random terms."""

from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import highlight as wh

from kb.search import analysis, highlight, passages

WORDS = [
    "the",
    "a",
    "x",
    "resolver",
    "resolvers",
    "resolved",
    "cache",
    "caching",
    "timeout",
    "timed",
    "out",
    "database",
    "failover",
    "v1.2.3",
    "don't",
    "Ünïcödé",
    "naïve",
    "東京",
    "supercalifragilisticexpialidocious" * 3,  # a word longer than a fragment's context
    "w" * 300,  # longer than a whole fragment
]
SEPARATORS = [" ", " ", " ", ", ", ". ", " — ", "\n", " & ", " <b> ", "  "]


def _whooshs(text, terms):
    fragmenter = wh.ContextFragmenter(maxchars=passages.MAXCHARS, surround=passages.SURROUND)
    marking = highlight._marking(terms)
    return wh.highlight(text, terms, marking, fragmenter, highlight._FORMATTER, top=1)


def _whooshs_title(text, terms):
    marking = highlight._marking(terms)
    return wh.highlight(
        text, terms, marking, wh.WholeFragmenter(), highlight._FORMATTER, minscore=0
    )


def _ours(text, terms):
    return passages.passage_html(text, terms, highlight._exact(terms))


texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), min_size=0, max_size=400
).map(lambda parts: "".join(w + s for w, s in parts))
stems = st.sets(st.sampled_from(WORDS).map(lambda w: analysis.stem(w.lower())), max_size=4)
exact_words = st.sets(st.sampled_from(WORDS).map(lambda w: highlight.EXACT + w.lower()), max_size=2)


@settings(max_examples=300, deadline=None)
@given(texts, stems, exact_words)
def test_the_passage_is_whooshs(text, terms, exact):
    terms = frozenset(terms | exact)
    assert _ours(text, terms) == _whooshs(text, terms)


@settings(max_examples=300, deadline=None)
@given(texts, stems, exact_words)
def test_the_marked_title_is_whooshs(text, terms, exact):
    terms = frozenset(terms | exact)
    assert passages.whole_html(text, terms, highlight._exact(terms)) == _whooshs_title(text, terms)


def test_no_word_of_a_title_is_marked_past_whooshs_limit():
    text = "resolver " + "w" * passages.CHARLIMIT + " resolver"
    terms = frozenset({analysis.stem("resolver")})
    html = passages.whole_html(text, terms)
    assert html.count("<mark>") == 1
    assert html == _whooshs_title(text, terms)


def test_a_long_section_gives_the_best_fragment_marked_and_escaped():
    text = ("Filler words here. " * 30) + "The resolver & its cache failed. " + "More. " * 40
    terms = frozenset({analysis.stem("resolver"), analysis.stem("cache")})
    html = _ours(text, terms)
    assert html == _whooshs(text, terms)
    assert "<mark>resolver</mark> &amp; its <mark>cache</mark>" in html
    assert html.startswith("… ") and html.endswith(" …")


def test_no_match_gives_no_passage():
    assert _ours("Nothing to see.", frozenset({"resolv"})) == ""


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(categories=("Ll", "Lu", "Lo", "Nd")), min_size=1))
def test_a_word_and_its_stem_begin_alike(word):
    """What analysis.count_matches relies on: Porter's stemmer rewrites endings only."""
    word = word.lower()
    assert analysis.stem(word)[:1] == word[:1]


joined = st.lists(
    st.tuples(
        st.sampled_from(WORDS), st.sampled_from(["", ".", "'", ".'", "..", "'.", " ", ", ", "\n"])
    ),
    max_size=60,
).map(lambda parts: "".join(w + s for w, s in parts))


@settings(max_examples=500, deadline=None)
@given(st.one_of(texts, joined), stems)
def test_matched_words_are_counted_as_every_word_stemmed(text, terms):
    """Stemming only the words that begin as a stem does counts what stemming every word
    WORD_RE finds counts, words joined by "." and "'" included."""
    every_word = analysis.WORD_RE.findall(text.lower())
    expected = sum(analysis.stem(w) in terms for w in every_word)
    assert analysis.count_matches(text, frozenset(terms)) == expected
