"""Theme labels a team lead would write: a short phrase naming the failure mode.

A label is a phrase of two to six words taken from the theme's own most central factors:
the span whose words are most particular to the theme. A word counts for a theme by how
many of its factors use it and how much more often than the other themes' factors do (the
lift), discounted when it is *generic*: used across every kind of theme alike (what every
write-up says whatever went wrong, "engineers determined", "customers were impacted", and
the names of the organisation, its vendors and products). Generic words are learned from
the corpus at each rebuild (high document frequency, spread evenly across the themes), not
from a list. Pure: texts in, labels out; no scikit-learn.
"""

import math
import re
from collections import Counter

from kb.insights import features
from kb.insights.themes import states as _states

MAX_WORDS = 6
MIN_WORDS = 2
CUES_SAMPLE = 20_000  # texts read to learn names and state words
CENTRAL_FACTORS = 15  # the most central factors a label is looked for in
GENERIC_SPREAD = (0.45, 0.8)  # a term carried evenly by this share of themes is generic...
GENERIC_SHARE = 0.04  # ...when at least this share of all factors use it
# Words that may sit inside a phrase ("expiry of certificates", "pushed to all regions").
# Words a label does not begin or end with although they are no stop words: light verbs and
# words that only point ("go into read-only" names nothing; "read-only" does).
LIGHT = frozenset(
    "go goes going gone get getting make making also then there here another same".split()  # noqa: SIM905
)
JOINERS = frozenset(
    [
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "and",
        "from",
        "with",
        "by",
        "after",
        "during",
        "before",
        "into",
        "or",
    ]
)
MAX_SMALL = 3  # small words (joiners, negations, auxiliaries) a phrase may hold
STATE_BONUS = 2.0  # how much more a phrase saying what went wrong counts than a topic
# Words that open a verb's object ("replaced *the* provider"): a verb before them is cut off.
OBJECT_OPENERS = frozenset("the a an its their our all every each any".split())  # noqa: SIM905
FRAGMENT = 0.5  # what a phrase that reads as a fragment ("Test replaced") keeps
SHARE_POWER = 2  # how much more a word many members share counts than a rare one
NAME_DISCOUNT = 0.6  # how much less a word counts when it is always written as a name
DISCOUNT_SHARE = 0.6  # how much of clustering's discount of a term (1 - weight) labels take
SHOWN_GENERIC = 0.5  # a term this generic is not shown among a theme's key terms
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*|[^\sA-Za-z0-9]")
_BREAK = set('.,;:!?()[]{}"“”—–/|')


def generic_terms(token_sets, labels):
    """{term: how generic, 0 to 1} for terms spread evenly across the themes.

    `token_sets` are the stemmed words of each factor, `labels` its theme (-1: none). A term
    is generic as far as its use is both common (a share of all factors near GENERIC_SHARE
    or more) and even (the effective number of themes using it, by the perplexity of its
    per-theme rates, near GENERIC_SPREAD of them or more).
    """
    sizes = Counter(label for label in labels if label >= 0)
    k, n = len(sizes), sum(sizes.values())
    if k < 3 or not n:
        return {}
    counts = {}
    for tokens, label in zip(token_sets, labels, strict=True):
        if label < 0:
            continue
        for term in tokens:
            counts.setdefault(term, Counter())[label] += 1
    out = {}
    for term, per_theme in counts.items():
        total = sum(per_theme.values())
        if total < 3:
            continue
        rates = [count / sizes[label] for label, count in per_theme.items()]
        mass = sum(rates)
        entropy = -sum(r / mass * math.log(r / mass) for r in rates if r > 0)
        spread = math.exp(entropy) / k
        common = min(1.0, total / n / GENERIC_SHARE)
        low, high = GENERIC_SPREAD
        even = min(1.0, max(0.0, (spread - low) / (high - low)))
        score = common * even
        if score > 0.05:
            out[term] = round(score, 3)
    return out


def name_like(texts, segments_seen=None):
    """{term: share of its uses inside sentences written Capitalised}: how far a word is a
    name (the organisation's, a vendor's, a product's) rather than what happened.

    `segments_seen(words)` is told every segment read, for one pass to learn more."""
    capital, seen = Counter(), Counter()
    for text in texts:
        for words in _segments(text):
            if segments_seen is not None:
                segments_seen(words)
            capitals = sum(1 for w in words if w[0][:1].isupper())
            if capitals * 2 > len(words):  # Title Case says nothing about names
                continue
            for token, stem, _plain in words[1:]:
                if stem is not None:
                    seen[stem] += 1
                    capital[stem] += token[:1].isupper() and not token.isupper()
    return {stem: capital[stem] / n for stem, n in seen.items() if capital[stem]}


def term_weights(member_tokens, rest_counts=None, rest_total=0, generic=None):
    """{term: weight} of a theme: share of its factors using the term, times the term's
    lift over the other themes (when known), less what is generic."""
    generic = generic or {}
    size = len(member_tokens) or 1
    used = Counter(term for tokens in member_tokens for term in set(tokens))
    weights = {}
    for term, count in used.items():
        share = count / size
        weight = share
        if rest_counts is not None:
            other = rest_counts.get(term, 0) - count
            rate = (other + 1) / (rest_total + 2)
            weight = share**SHARE_POWER * max(0.0, math.log(share / rate))
        weight *= 1 - generic.get(term, 0.0)
        if weight > 0:
            weights[term] = weight
    return weights


def best_phrase(texts, weights, avoid=(), states=None, generic=None):
    """The best span of two to six words among `texts` (most central first), written as its
    author wrote it, in sentence case; None when no span of two words scores.

    A span that says what went wrong (a state or an event beside what it happened to:
    kb.insights.themes.states) counts STATE_BONUS times more than one that names a topic.
    `states` are the words learned to say a state (learned from `texts` when None); a word
    `generic` counts as SHOWN_GENERIC or more says nothing particular and is no state."""
    best, best_score = None, 0.0
    segmented = [list(_segments(text)) for text in texts]
    if states is None:
        states = learned_states(texts)
    sets = [set(features.tokens(text)) for text in texts]
    for rank, segments in enumerate(segmented):
        for words in segments:
            flags = state_flags(words, states, generic)
            for phrase, stems, score in _spans(words, weights, flags):
                # A phrase whose words several factors share names the theme, not one factor.
                support = sum(1 for found in sets if stems <= found) / len(sets)
                score *= support**0.5 / (1 + 0.05 * rank)
                if score > best_score and phrase.lower() not in avoid:
                    best, best_score = phrase, score
    return _sentence_case(best) if best else None


def learned_states(texts):
    """The written words `texts` use to say a state (kb.insights.themes.states)."""
    counter = _states.StateCounter()
    for text in texts:
        for words in _segments(text):
            counter.add(words)
    return counter.states()


def state_flags(words, states, generic=None):
    """Per word of a segment: whether it says a state or an event there, and one particular
    enough to name a failure mode (not "affected", which every write-up says)."""
    generic = generic or {}
    return [
        found and generic.get(word[1], 0.0) < SHOWN_GENERIC
        for found, word in zip(_states.flags(words, states), words, strict=True)
    ]


def _segments(text):
    """Runs of words between punctuation, each word with its stem (None for stop words)."""
    segment = []
    for token in _TOKEN.findall(text or ""):
        if token in _BREAK or not token[0].isalnum():
            if token in _BREAK and segment:
                yield segment
                segment = []
            continue
        plain = token.lower().replace("’", "'")
        light = plain in LIGHT or plain.endswith("n't")
        found = [] if light else features.tokens(plain)
        segment.append((token, found[0] if found else None, plain))
    if segment:
        yield segment


def _spans(words, weights, flags):
    """(phrase, stems, score) of spans that start and end on a word particular to the theme
    or on a word saying what went wrong, and name at least one thing particular to it."""
    n = len(words)
    for start in range(n):
        first = words[start][1]
        opens = words[start][2] in _states.NEGATIONS and start + 1 < n  # "No backoff"
        if not opens and (first is None or (weights.get(first, 0) <= 0 and not flags[start])):
            continue
        # A verb right after its subject ("proxy *retried*", "check *compared*") opens a
        # phrase that has lost its subject; a participle after "the" is an adjective.
        headless = flags[start] and start > 0 and words[start - 1][1] is not None
        total, content, small, stems = 0.0, 0, 0, set()
        state = opens
        thing = False  # a content word particular to the theme that is no state word
        for end in range(start, min(n, start + MAX_WORDS)):
            token, stem, plain = words[end]
            if stem is None:
                if plain not in JOINERS and plain not in _states.INNER and end != start:
                    break
                small += 1
                # "did not fire", "no backoff", "without jitter": what was not, went wrong.
                state = state or plain in _states.NEGATIONS or plain.endswith("n't")
                continue
            weight = weights.get(stem, 0.0)
            total += weight
            content += 1
            state = state or flags[end]
            thing = thing or (weight > 0 and not flags[end])
            if weight > 0:
                stems.add(stem)
            # A span may end on a word of its theme, a state, or the last word of a compound
            # it has begun ("log *volume*", "circuit *breaker*").
            compound = words[end - 1][1] is not None and end > start
            if (
                (weight <= 0 and not flags[end] and not compound)
                or plain.endswith("ly")  # "Production database was accidentally"
                or not thing
                or end - start + 1 < MIN_WORDS
                or small > MAX_SMALL
            ):
                continue
            phrase = " ".join(w[0] for w in words[start : end + 1])
            # Mean weight of the content words, a little in favour of longer phrases; one
            # that says what went wrong names a failure mode, one that does not, a topic.
            score = total / content**0.6 * (STATE_BONUS if state else 1.0)
            # A phrase ending on a verb right after a thing reads as a fragment ("Test
            # replaced"), unless the verb is passive or negated ("Changes were applied").
            # A verb cut from its object ("Test replaced [the provider]", "Without checking
            # [its row count]"); without one next it is whole ("the DNS record changed.",
            # "the certificate expired because ...").
            if (
                plain.endswith(("ed", "ing"))
                and end + 1 < n
                and (words[end + 1][1] is not None or words[end + 1][2] in OBJECT_OPENERS)
            ):
                score *= FRAGMENT
            # Cut inside a compound ("Expected log" of "expected log volume") or headless.
            if headless or (end + 1 < n and words[end + 1][1] is not None and not flags[end + 1]):
                score *= FRAGMENT
            yield phrase, frozenset(stems), score


def _sentence_case(phrase):
    words = phrase.split()
    first = words[0]
    if not first.isupper() or len(first) == 1:
        first = first[:1].upper() + first[1:]
    rest = [w if (w.isupper() and len(w) > 1) or _named(w) else w.lower() for w in words[1:]]
    return " ".join([first, *rest]).rstrip(".,;:-")[:200]


def _named(word):
    """Whether a word looks like a name written with capitals inside ("PostgreSQL")."""
    return any(c.isupper() for c in word[1:])


def specific_terms(terms, generic, keep=3):
    """The key terms (as written) less the generic ones, keeping at least `keep`."""
    specific = [
        t
        for t in terms
        if not all(generic.get(s, 0) >= SHOWN_GENERIC for s in features.tokens(t) or [""])
    ]
    if len(specific) >= min(keep, len(terms)):
        return specific
    return specific + [t for t in terms if t not in specific][: keep - len(specific)]


def with_discounts(generic, discounts):
    """`generic` ({term: 0 to 1}) joined with what clustering discounted (Clustering.discounts,
    {term: weight}: names, house style, what every theme says), counted DISCOUNT_SHARE."""
    out = dict(generic)
    for term, weight in (discounts or {}).items():
        out[term] = max(out.get(term, 0.0), round(DISCOUNT_SHARE * (1.0 - weight), 3))
    return out


def label_themes(texts, labels, scores, labelable, token_sets, generic):
    """{theme: label or None} for every theme in `labels`, from its labelable factors."""
    members = {}
    for i, label in enumerate(labels):
        if label >= 0:
            members.setdefault(label, []).append(i)
    overall = Counter(term for tokens in token_sets for term in set(tokens))
    readable = [t for t, ok in zip(texts, labelable, strict=True) if ok]
    # Names and states learned in one reading, of a sample: enough for word statistics.
    counter = _states.StateCounter()
    names = name_like(readable[:: max(1, len(readable) // CUES_SAMPLE)], counter.add)
    states = counter.states()
    generic = {t: max(generic.get(t, 0), NAME_DISCOUNT * names.get(t, 0)) for t in overall}
    total = len(token_sets)
    out, used = {}, set()
    for label in sorted(members):
        chosen = members[label]
        weights = term_weights(
            [token_sets[i] for i in chosen], overall, total - len(chosen), generic
        )
        central = sorted((i for i in chosen if labelable[i]), key=lambda i: (-scores[i], i))[
            :CENTRAL_FACTORS
        ]
        phrase = best_phrase(
            [texts[i] for i in central], weights, avoid=used, states=states, generic=generic
        )
        out[label] = phrase
        if phrase:
            used.add(phrase.lower())
    return out


def label_from_visible(texts, generic, fallback_terms=(), category=None):
    """A label from the factors one reader may see (most central first)."""
    token_sets = [features.tokens(t) for t in texts]
    weights = term_weights(token_sets, generic=dict.fromkeys(generic, 1.0))
    return best_phrase(
        texts[:CENTRAL_FACTORS], weights, generic=dict.fromkeys(generic, 1.0)
    ) or label_for_theme(list(fallback_terms), category)


def label_for_theme(terms, category):
    """The fallback label when no phrase scores: the category and key terms."""
    from kb.insights.clustering import label_for

    return label_for(terms, category)[:200]
