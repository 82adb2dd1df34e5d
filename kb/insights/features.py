"""Text features, in plain Python: the same terms for fitting themes and for typed text.

No scikit-learn here: `suggest()` tokenises what an author types inside a request, and the
rebuild hands `analyze` to scikit-learn's vectoriser so both sides agree on every term.
"""

import re
from collections import Counter, defaultdict
from functools import lru_cache

# Common English words, plus words every postmortem uses and that tell incidents apart
# poorly ("incident", "outage", "caused"). Kept here, not taken from scikit-learn, so that
# tokenising typed text never imports it.
STOP_WORDS = frozenset(
    """
    a about above after again against all almost also although always am among an and another
    any anyone anything are around as at back be became because become been before being below
    between both but by can cannot could did do does doing done down during each either else
    enough etc even ever every few for from further get gets got had has have having he her
    here hers him his how however i if in into is it its itself just least less let like made
    make many may me might more most much must my neither never no nor not now of off often on
    once one only or other others otherwise our ours out over own per perhaps put rather same
    several she should since so some something still such than that the their theirs them then
    there these they this those though through thus to too toward towards under until up upon
    us use used uses using very via was we well were what whatever when where whether which
    while who whom whose why will with within without would yet you your yours incident
    incidents outage outages caused cause causing due issue issues problem problems result
    resulted resulting led lead leading happened occurred took take taking went
    new service services system systems minute minutes hour hours second seconds day days
    two three four five
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_WORD = re.compile(r"[a-z][a-z0-9]+")


# Spellings of one idea that a stemmer keeps apart, common in incident writing. A generic
# normalisation of the field's vocabulary (docs/themes.md measures it), not a label list.
VARIANTS = {
    "configur": "config",
    "misconfigur": "config",
    "reconfigur": "config",
    "cert": "certif",
    "db": "databas",
    "k8s": "kubernet",
}


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word):
    """The Snowball (Porter 2) stem of a word, with common spelling variants merged."""
    stemmed = _stemmer().stemWord(word)
    return VARIANTS.get(stemmed, stemmed)


def words(text):
    """Lower-cased words of `text` without stop words and numbers."""
    found = _WORD.findall((text or "").lower().replace("'s ", " "))
    return [w for w in found if w not in STOP_WORDS]


# word -> stem; a plain dict is faster than lru_cache in this hot loop. Bounded: typed text
# (the editor's suggestions take 20,000 characters a call) must not grow it without end, so
# when full the oldest word makes room (dicts keep insertion order).
_STEMS = {}
MAX_STEMS = 50_000


def tokens(text):
    """Stemmed words of `text` without stop words and numbers."""
    return _stems(words(text))


def _stems(plain):
    out = []
    for word in plain:
        stemmed = _STEMS.get(word)
        if stemmed is None:
            if len(_STEMS) >= MAX_STEMS:
                del _STEMS[next(iter(_STEMS))]
            stemmed = _STEMS[word] = stem(word)
        out.append(stemmed)
    return out


def _pairs(stems):
    return [f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False) if a != b]


def analyze(text):
    """Terms of `text`: its tokens and the pairs of neighbouring tokens ("connection pool")."""
    stems = tokens(text)
    return stems + _pairs(stems)


def analyze_noting_forms(text, forms):
    """analyze(text), counting in `forms` ({term: Counter of written forms}) how each term
    was written: one pass where a rebuild needs both (see surface_forms)."""
    plain = words(text)
    stems = _stems(plain)
    pairs = _pairs(stems)
    for word, term in zip(plain, stems, strict=True):
        forms[term][word] += 1
    for i in range(len(stems) - 1):
        if stems[i] != stems[i + 1]:
            forms[f"{stems[i]} {stems[i + 1]}"][f"{plain[i]} {plain[i + 1]}"] += 1
    return stems + pairs


class Analyses:
    """Each distinct text analysed once (a rebuild reads every factor for the themes and again,
    with its postmortem's title and summary, for similar incidents), counting in `forms` how
    each term was written, once per distinct text of `shown` (None: every text), so that a
    term is shown as people wrote it where everyone may read it."""

    def __init__(self, shown=None):
        self._terms = {}
        self._shown = shown
        self.forms = defaultdict(Counter)

    def __call__(self, text):
        """analyze(text), remembered."""
        found = self._terms.get(text)
        if found is None:
            if self._shown is None or text in self._shown:
                found = analyze_noting_forms(text, self.forms)
            else:
                found = analyze(text)
            self._terms[text] = found
        return found


def most_common_forms(forms):
    """{term: the form written most often} from counts made by analyze_noting_forms."""
    return {term: written.most_common(1)[0][0] for term, written in forms.items()}


def surface_forms(texts):
    """{term: the form people wrote most often}, to show "configuration", not "configur"."""
    forms = defaultdict(Counter)
    for text in texts:
        analyze_noting_forms(text, forms)
    return most_common_forms(forms)


_CASED_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;])\s+|\n+")


def name_shares(texts, min_uses=2):
    """{stem: the share of its uses written as a name}, learned from how `texts` are cased.

    A word written Capitalised in the middle of a sentence ("the Azure portal", "GitHub's
    API") is a name: of the organisation, a vendor, a product, a place or a month. Words
    opening a sentence, headlines in title case, and acronyms ("DNS", "DDoS", "AWS", which
    name failure modes as often as vendors) say nothing either way. Stems seen fewer than
    `min_uses` times mid-sentence are left out.
    """
    named, seen = Counter(), Counter()
    for text in texts:
        for sentence in _SENTENCE_BREAK.split(text or ""):
            found = _CASED_WORD.findall(sentence)[1:]
            if len(found) < 2:
                continue
            # "Azure", "GitHub": a name; "DNS", "DDoS", "IPv6": an acronym.
            capital = [w[0].isupper() and w[1].islower() for w in found]
            if sum(capital) * 2 > len(found):  # a headline: every word capitalised
                continue
            for word, is_name in zip(found, capital, strict=True):
                lower = word.lower()
                if (word[0].isupper() and word[1].isupper()) or lower in STOP_WORDS:
                    continue
                seen[lower] += 1
                if is_name:
                    named[lower] += 1
    by_stem_named, by_stem_seen = Counter(), Counter()
    for word, count in seen.items():
        stemmed = stem(word)
        by_stem_seen[stemmed] += count
        by_stem_named[stemmed] += named[word]
    return {
        term: by_stem_named[term] / count
        for term, count in by_stem_seen.items()
        if count >= min_uses and by_stem_named[term]
    }
