"""Clustering contributing factors into themes: texts in, labels and top terms out.

Pure (no database, no Flask) and deterministic (random_state fixed). scikit-learn and numpy
are imported inside the functions, so importing this module costs nothing.

The method, and the measurements behind each choice, are in docs/themes.md:
- each factor is read in the context of its postmortem: TF-IDF of the factor's own words,
  plus half that weight of its postmortem's title and summary;
- the authors' `category`, where given, is a strong extra feature (one column per category),
  so factors an author filed together tend to land together, without forcing it;
- names of the organisation, vendors and products, one writer's house phrases and terms
  every theme uses are learned from the texts and weighed down (kb/insights/boilerplate.py);
- non-negative matrix factorisation finds the themes (topics) and each factor joins the one
  explaining most of it; beyond NMF_UP_TO factors, LSA + mini-batch k-means does (NMF's cost
  grows with n * k^2); a theme's terms are the words its members share most;
- the number of themes is sqrt(n/2) (the usual rule for n items); with author categories,
  one per category plus sqrt(m/2) for the m factors without one.
"""

import math
import warnings
from dataclasses import dataclass, field

from kb.insights import features

CONTEXT_WEIGHT = 0.5  # the postmortem's title and summary, relative to the factor's own text
CATEGORY_WEIGHT = 1.0  # an author's category, relative to a factor's whole text vector
MAX_THEMES = 300
NMF_UP_TO = 3_000  # factors; beyond, LSA + mini-batch k-means (NMF's cost grows with n*k^2)
NMF_RESTARTS = 4  # random starts tried beside NMF's deterministic one, while cheap...
NMF_RESTART_BUDGET = 50_000  # ...up to this n·k²: ~300 factors, a hundredth of NMF_UP_TO's cost
LSA_DIMENSIONS = 100
FIT_SAMPLE = 30_000  # rows the LSA and k-means are fitted on (then applied to all)
TOP_TERMS = 6
DISCOUNT_FROM = 20  # factors; fewer say too little about names and house style
DISCOUNTED_BELOW = 0.5  # a term weighted below this is reported as discounted
SURFACE_SAMPLE = 60  # member texts read to find how a theme's terms are usually written


@dataclass(frozen=True)
class Clustering:
    """The result: a theme per text (-1: no usable words), its terms, and closeness scores."""

    labels: list[int]
    terms: list[list[str]]
    scores: list[float]
    categories: list[str | None]
    method: str
    private_terms: list[bool] = ()  # terms taken from texts not everyone may read
    discounts: dict = field(default_factory=dict)  # {term: weight < DISCOUNTED_BELOW}

    @property
    def k(self):
        """How many themes hold at least one text."""
        return len(self.terms)


def choose_k(n, n_categories=0, n_uncategorised=None):
    """The number of themes for n factors: sqrt(n/2), the usual rule for n items.

    When authors gave categories, each category gets a theme of its own and the factors
    without one get sqrt(m/2) more, so the authors' distinctions are never merged away.
    """
    if n < 2:
        return 1
    k = round(math.sqrt(n / 2))
    if n_categories:
        rest = n if n_uncategorised is None else n_uncategorised
        k = max(k, n_categories + round(math.sqrt(rest / 2)))
    return max(2, min(k, MAX_THEMES, n))


def vectorise(texts, contexts=None, categories=None, analyze=None, weights=None):
    """(features, names, own words): the feature matrix (rows L2-normalised), the names of
    its columns, and the TF-IDF of the factors' own words alone (for theme terms).

    `weights` (one per term column, see _term_weights) scale the terms first."""
    tfidf = _tfidf(texts, contexts, analyze)
    if tfidf is None:
        return None, [], None
    return _features(tfidf, categories, weights)


@dataclass(frozen=True)
class _Tfidf:
    both: object  # TF-IDF rows of the texts, then of each distinct context
    names: list
    rows: list  # the row (among the distinct contexts) of each text's context
    n: int
    has_context: bool


def _tfidf(texts, contexts, analyze):
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    contexts = list(contexts) if contexts is not None else [""] * n
    # Several factors share one postmortem's context: each distinct context is read once.
    unique = {}
    rows = [unique.setdefault(c, len(unique)) for c in contexts]
    vectoriser = TfidfVectorizer(
        analyzer=analyze or features.analyze,
        sublinear_tf=True,
        min_df=2 if n >= 20 else 1,
        max_df=0.5 if n >= 20 else 1.0,
        dtype=np.float32,
    )
    corpus = list(texts) + list(unique)
    try:
        both = vectoriser.fit_transform(corpus).tocsr()
    except ValueError:  # no term survives the document-frequency limits
        vectoriser.set_params(min_df=1, max_df=1.0)
        try:
            both = vectoriser.fit_transform(corpus).tocsr()
        except ValueError:
            return None
    names = list(vectoriser.get_feature_names_out())
    return _Tfidf(both, names, rows, n, any(contexts))


def _features(tfidf, categories, weights=None):
    import numpy as np
    from scipy import sparse
    from sklearn.preprocessing import normalize

    both, n, names = tfidf.both, tfidf.n, list(tfidf.names)
    if weights is not None:
        both = (both @ sparse.diags(weights)).tocsr()
    own = normalize(both[:n])
    matrix = own
    if tfidf.has_context:
        matrix = matrix + CONTEXT_WEIGHT * normalize(both[n:])[tfidf.rows]
    if categories is not None and any(categories):
        values = sorted({c for c in categories if c})
        column = {c: i for i, c in enumerate(values)}
        rows = [i for i, c in enumerate(categories) if c]
        onehot = sparse.csr_matrix(
            (
                np.full(len(rows), CATEGORY_WEIGHT, dtype=np.float32),
                (rows, [column[categories[i]] for i in rows]),
            ),
            shape=(n, len(values)),
        )
        matrix = sparse.hstack([normalize(matrix), onehot]).tocsr()
        names += [f"category:{c}" for c in values]
    return normalize(matrix).astype(np.float32), names, own


def _presence(tfidf):
    """Binary rows: the terms of each text or of its context."""
    both, n = tfidf.both, tfidf.n
    found = both[:n]
    if tfidf.has_context:
        found = found + both[n:][tfidf.rows]
    found = found.tocsr()
    found.data[:] = 1.0
    return found


def _term_weights(tfidf, texts, contexts, categories, k, random_state):
    """A weight per term column: names, house style and terms every theme uses discounted.

    The first two are learned from the texts, the third from a first clustering made with
    the first two applied (kb.insights.boilerplate says how)."""
    from kb.insights import boilerplate

    distinct = list(dict.fromkeys(contexts or ()))
    step = max(1, (len(texts) + len(distinct)) // boilerplate.SAMPLE)
    shares = features.name_shares((list(texts) + distinct)[::step])
    weights = boilerplate.name_weights(tfidf.names, shares)
    presence = _presence(tfidf)
    weights = weights * boilerplate.house_style_weights(presence, tfidf.names, weights)
    # A pair is as much a name or a house phrase as its words, but not as generic: "change"
    # is said whatever went wrong, "configuration change" is not.
    weights = boilerplate.pairs_follow_words(tfidf.names, weights)
    matrix, _names, _own = _features(tfidf, categories, weights)
    # The first clustering only has to show which terms every theme uses: a sample does.
    rows = boilerplate.sample_rows(matrix.shape[0], random_state)
    first, _scores, _model = _fit(matrix[rows], min(k, len(rows)), random_state)
    return weights * boilerplate.evenness_weights(presence[rows], first)


def discounted_terms(texts, contexts=None, categories=None, *, random_state=0, analyze=None):
    """{term: weight} of the terms clustering discounts (names, house style, what every
    theme says), most discounted first: cluster(...).discounts."""
    return cluster(
        texts, contexts, categories, random_state=random_state, analyze=analyze
    ).discounts


def _fit(matrix, k, random_state):
    if matrix.shape[0] <= NMF_UP_TO:
        return _nmf(matrix, k, random_state)
    return _lsa_kmeans(matrix, k, random_state)


def cluster(
    texts,
    contexts=None,
    categories=None,
    *,
    labelable=None,
    k=None,
    random_state=0,
    analyze=None,
    discount=True,
) -> Clustering:
    """Cluster `texts` (with optional postmortem `contexts` and author `categories`).

    Theme terms and categories are taken only from texts marked `labelable` (those everyone
    may read) when a theme has any; `private_terms` marks the themes that had none.
    `analyze` turns a text into terms (default features.analyze; a rebuild passes a
    features.Analyses that the similar-incidents index then reuses). `discount` weighs
    terms down by what the texts teach about names and boilerplate (_term_weights); the
    result's `discounts` holds the terms weighted below DISCOUNTED_BELOW.
    """
    import numpy as np

    n = len(texts)
    categories = list(categories) if categories is not None else [None] * n
    tfidf = _tfidf(texts, contexts, analyze) if n else None
    if tfidf is None:
        return Clustering([-1] * n, [], [0.0] * n, [], "empty", [])
    k = k or choose_k(n, len({c for c in categories if c}), sum(1 for c in categories if not c))
    k = max(1, min(k, n, len(tfidf.names)))
    weights, discounts = None, {}
    if discount and n >= DISCOUNT_FROM:
        from kb.insights import boilerplate

        weights = _term_weights(tfidf, texts, contexts, categories, k, random_state)
        discounts = boilerplate.discounted(tfidf.names, weights, below=DISCOUNTED_BELOW)
    matrix, names, own = _features(tfidf, categories, weights)
    k = max(1, min(k, matrix.shape[1]))
    raw, scores, model = _fit(matrix, k, random_state)

    # Renumber themes by size (biggest first), ties by first appearance: deterministic ids.
    sizes = np.bincount(raw[raw >= 0], minlength=k)
    first = {}
    for i, t in enumerate(raw):
        if t >= 0 and t not in first:
            first[int(t)] = i
    order = sorted(first, key=lambda t: (-sizes[t], first[t]))
    renumber = {old: new for new, old in enumerate(order)}
    labels = [renumber.get(int(t), -1) for t in raw]
    scores = [float(scores[i]) if raw[i] >= 0 else 0.0 for i in range(n)]
    # Theme terms come from the members' own words (not their postmortems' context), so a
    # label says what the quoted factors say.
    labelable = [True] * n if labelable is None else list(labelable)
    terms, private, theme_categories = [], [], []
    grouped = [[] for _ in order]
    for i, label in enumerate(labels):
        if label >= 0:
            grouped[label].append(i)
    for members in grouped:
        readable = [i for i in members if labelable[i]]
        private.append(not readable)
        chosen = readable or members
        # Mean weight times the share of members using the term: a theme's terms are the
        # words its factors share, not one factor's rare words.
        block = own[chosen]
        centre = (
            np.asarray(block.mean(axis=0)).ravel() * np.asarray((block > 0).mean(axis=0)).ravel()
        )
        top = _top_terms(centre, names, range(own.shape[1]))
        shown = features.surface_forms([texts[i] for i in chosen[:SURFACE_SAMPLE]])
        terms.append([shown.get(term, term) for term in top])
        theme_categories.append(main_category([categories[i] for i in chosen]))
    method = (
        f"tf-idf + context {CONTEXT_WEIGHT} + category {CATEGORY_WEIGHT}"
        f"{', names and boilerplate discounted' if weights is not None else ''}, "
        f"{model} k={k}, {n} factors"
    )
    return Clustering(labels, terms, scores, theme_categories, method, private, discounts)


def _nmf(matrix, k, random_state):
    """Topics by non-negative matrix factorisation; each row joins the topic that explains
    most of it.

    A row's share of a topic is its weight times the topic's norm (NMF leaves the scale
    between its two factors free). While a fit is cheap (n·k² up to NMF_RESTART_BUDGET),
    NMF_RESTARTS random starts are tried too and the best reconstruction is kept: chosen
    without labels, and far steadier across random states.
    """
    import numpy as np

    model, weights = _nmf_fit(matrix, k, "nndsvda", random_state)
    if matrix.shape[0] * k * k <= NMF_RESTART_BUDGET:
        for restart in range(NMF_RESTARTS):
            other, found = _nmf_fit(matrix, k, "random", random_state * NMF_RESTARTS + restart)
            if other.reconstruction_err_ < model.reconstruction_err_:
                model, weights = other, found
    weights = weights * np.linalg.norm(model.components_, axis=1)
    total = weights.sum(axis=1)
    raw = np.where(total > 0, weights.argmax(axis=1), -1)
    share = np.where(total > 0, weights.max(axis=1) / np.where(total > 0, total, 1), 0.0)
    return raw, share, "NMF"


def _nmf_fit(matrix, k, init, random_state):
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(n_components=k, init=init, max_iter=400, random_state=random_state)
    with warnings.catch_warnings():
        # A tolerance not reached still gives usable themes (the bench measures them); and
        # when the fit is exact (few factors, as many topics) rounding makes NMF's stopping
        # loss the root of a slightly negative number: NaN, harmless to the topics.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in sqrt", RuntimeWarning)
        weights = model.fit_transform(matrix)
    return model, weights


def _lsa_kmeans(matrix, k, random_state):
    """For many factors: LSA (truncated SVD) then mini-batch k-means on unit vectors.

    Both are fitted on a fixed random sample of FIT_SAMPLE rows and then applied to every
    row: the themes of 150,000 factors are found as well from 30,000 of them, in a fifth of
    the time and memory.
    """
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import normalize

    n = matrix.shape[0]
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, size=min(n, FIT_SAMPLE), replace=False))
    dimensions = max(1, min(LSA_DIMENSIONS, matrix.shape[1] - 1))
    svd = TruncatedSVD(dimensions, n_iter=4, random_state=random_state).fit(matrix[sample])
    reduced = normalize(svd.transform(matrix)).astype(np.float32)
    model = MiniBatchKMeans(
        n_clusters=k,
        random_state=random_state,
        batch_size=4096,
        n_init=1,
        max_iter=20,
        init_size=min(len(sample), 4 * k),  # k-means++ over all 12,288 default rows: ~30 s
    )
    with warnings.catch_warnings():
        # See _nmf: a tolerance not reached still gives usable themes.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(reduced[sample])
    labels = model.predict(reduced)
    centres = normalize(model.cluster_centers_)
    closeness = np.einsum("ij,ij->i", reduced, centres[labels])
    empty = ~reduced.any(axis=1)
    return np.where(empty, -1, labels), np.clip(closeness, 0, 1), "LSA + MiniBatchKMeans"


def _top_terms(component, names, columns):
    import numpy as np

    # Only the strongest few dozen columns can make the list: sort those, not the vocabulary.
    columns = np.asarray(columns)
    if len(columns) > 64:
        columns = columns[np.argpartition(-component[columns], 64)[:64]]
    ranked = sorted(columns.tolist(), key=lambda i: (-component[i], names[i]))
    chosen = []
    for i in ranked:
        name = names[i]
        if component[i] <= 0 or len(chosen) >= TOP_TERMS:
            break
        # Skip a word already said by a chosen pair ("pool" after "connection pool"), and
        # a pair whose words are both chosen already.
        words = set(name.split())
        if any(words <= set(c.split()) for c in chosen):
            continue
        chosen = [c for c in chosen if not (" " not in c and c in words)] + [name]
    return chosen


def main_category(member_categories):
    """The author category most members share, if at least half of them carry it."""
    from collections import Counter

    counted = Counter(c for c in member_categories if c)
    if not counted:
        return None
    name, count = counted.most_common(1)[0]
    return name if count * 2 >= len(member_categories) else None


# Category names that are abbreviations read wrongly when only their first letter is raised.
_ACRONYMS = {"dns", "tls", "ssl", "api", "cdn", "cpu", "ci", "cd", "db", "sso", "iam", "vpn"}


def _heading_case(name):
    words = name.replace("-", " ").split()
    cased = [w.upper() if w in _ACRONYMS else w for w in words]
    first = cased[0] if cased[0].isupper() else cased[0].capitalize()
    return " ".join([first, *cased[1:]])


def label_for(terms, category=None):
    """A readable theme label: the authors' category if they agree, then the key terms."""
    words = ", ".join(terms[:3]) or "miscellaneous"
    if category:
        return f"{_heading_case(category)}: {words}"
    return words[:1].upper() + words[1:]
