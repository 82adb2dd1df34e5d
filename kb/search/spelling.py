"""Did you mean: misspelt words replaced by close words of postmortems the reader may see."""

import re

from kb.search import analysis, docsets, parsing, schema

_TEXT_WORD_RE = re.compile(r"\w+(?:[.']\w+)*")  # the words the analyzer indexes

# --- did you mean -------------------------------------------------------------------------

# Looking up close words walks the term list once per word: a query of 55 misspelt words
# took ten seconds. A few unknown words are corrected, and short enough ones only.
MAX_SUGGESTED_WORDS = 4  # unknown words looked up per query
MAX_SUGGEST_LENGTH = 24  # longer "words" are not spelling mistakes worth a lookup
MAX_CANDIDATES = 30  # close words of visible postmortems weighed per unknown word
# Close words looked at per unknown word, visible or not. Only words of postmortems the reader
# may see count towards MAX_CANDIDATES: counting the others would let a restricted
# postmortem's words push a visible word out of the running and change the suggestion.
MAX_EXAMINED = 1000


def suggest(searcher, caches, scope, text, table=None):
    """The query with misspelt words replaced by words of documents the user may see.

    A word of the synonyms table (`table`) is never corrected: "k8s" is not a misspelt
    "ok", even where no postmortem spells it so."""
    words = [w for w in parsing.plain_words(text) if table is None or not table.knows(w)]
    replaced = {}
    reader = searcher.reader()
    lookups = 0
    for word in dict.fromkeys(words):
        if lookups >= MAX_SUGGESTED_WORDS:
            break
        if len(word) > MAX_SUGGEST_LENGTH:
            continue
        stemmed = [t.text for t in analysis.ANALYZER(word)]
        if not stemmed or _visible_freq(searcher, caches, scope, stemmed[0]):
            continue
        lookups += 1
        best = None
        weighed = 0
        for candidate in _candidates(reader, stemmed[0]):
            freq = _visible_freq(searcher, caches, scope, candidate)
            if not freq:
                continue  # a word only restricted documents hold must never be offered
            rank = (_distance(stemmed[0], candidate), -freq)
            if best is None or rank < best[0]:
                best = (rank, candidate)
            weighed += 1
            if weighed >= MAX_CANDIDATES:
                break
        if best is not None:
            surface = _surface_word(searcher, caches, scope, best[1])
            if surface and surface.lower() != word.lower():
                # As the person typed it: "expird" becomes "expired", not the "Expired"
                # that opened a title.
                replaced[word] = surface.lower() if word.islower() else surface
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
                if len(seen) >= MAX_EXAMINED:
                    return


def _visible_freq(searcher, caches, scope, stemmed):
    """How often the word occurs in the postmortems the reader may see (0: in none of them),
    counting each occurrence (title words count as the index weighs them)."""
    total = 0.0
    for segreader, _offset, _sub in docsets.leaves(searcher):
        data = caches.data(segreader)
        allowed = caches.allowed(segreader, scope)
        for field_name in (schema.DEFAULT_FIELD,):
            ids, weights = data.weighted(segreader, field_name, stemmed)
            if len(ids):
                total += float(weights[allowed[ids]].sum())
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
                        if (
                            word[:2].lower() == stemmed[:2]
                            and analysis.stem(word.lower()) == stemmed
                        ):
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
