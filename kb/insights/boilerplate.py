"""What every write-up says whatever went wrong, and whose names it says: learned per corpus.

Themes should follow the failure mode, not the vendor or the house style of the write-ups.
Three signals, each learned from the texts being clustered (no hand list of names or
phrases), give every term a weight from 0 (discounted away) to 1 (kept):

- **Names.** A word written Capitalised in the middle of sentences ("the Azure portal") is
  the name of the organisation, a vendor, a product, a place or a month
  (features.name_shares); its weight is the share of its uses that are not names. A pair of
  words is as discounted as its more discounted word.
- **House style.** The documents that say one name are that name's write-ups; a term found
  in most of them and seldom elsewhere ("engineers identified" in one vendor's status
  updates) marks that writer, not the failure: its weight is 1 minus the product of the
  share of the name's documents that say it and the share of its documents that say the
  name.
- **Said whatever went wrong.** After a first clustering, a term used at a similar rate in
  every theme ("root cause", "customers were impacted") tells themes apart poorly: its
  weight is 1 minus the ratio of its median rate across themes to its highest rate.

Pure numpy/scipy over a TF-IDF matrix; `clustering.cluster` applies the weights to its
feature columns, and reports the discounted terms (Clustering.discounts) for labels to use.
"""

GROUP_MIN_DOCUMENTS = 5  # documents saying a name before its write-ups' style is judged
THEME_MIN_MEMBERS = 5  # themes smaller than this say nothing about evenness
EVEN_PER_THEME = 3  # documents per theme, on average, to judge a term's evenness in full
SAMPLE = 10_000  # texts read to learn the weights: enough for term statistics


def name_weights(names, shares):
    """A weight per column name: 1 minus the largest name share of its words."""
    import numpy as np

    return np.array(
        [1.0 - max(shares.get(word, 0.0) for word in name.split()) for name in names],
        dtype=np.float32,
    )


def house_style_weights(presence, names, name_weight):
    """A weight per column: low for terms that mark the documents of one name.

    `presence` is a binary CSR matrix (documents x terms); `name_weight` the name weights.
    A term is one writer's template when most of its documents say that name and most of
    that name's documents say it: its weight is 1 minus the larger product of the two
    shares. A failure mode one vendor often has ("api" in one vendor's write-ups) is also
    found in other writers' documents, so it keeps most of its weight.
    """
    import numpy as np

    presence = _sample(presence)
    df = np.asarray(presence.sum(axis=0)).ravel()
    groups = np.flatnonzero(
        (name_weight < 0.5) & (df >= GROUP_MIN_DOCUMENTS) & np.array([" " not in n for n in names])
    )
    weights = np.ones(len(names), dtype=np.float32)
    if not len(groups):
        return weights
    # Name x term co-occurrence, kept sparse: thousands of names times the vocabulary.
    together = (presence[:, groups].T @ presence).tocoo()
    count = together.data.astype(np.float64)
    marks = (count / df[groups][together.row]) * (count / df[together.col])
    marks[groups[together.row] == together.col] = 0  # a name is judged by name_weights
    strongest = np.zeros(len(names))
    np.maximum.at(strongest, together.col, marks)
    weights = (1.0 - strongest).astype(np.float32)
    return weights


def evenness_weights(presence, labels):
    """A weight per column: low for terms used at similar rates in every theme."""
    import numpy as np
    from scipy import sparse

    labels = np.asarray(labels)
    keep = np.flatnonzero(labels >= 0)
    presence, labels = presence[keep], labels[keep]
    weights = np.ones(presence.shape[1], dtype=np.float32)
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    themes = np.flatnonzero(sizes >= THEME_MIN_MEMBERS)
    if len(themes) < 3:  # too few themes to tell a spread term from a shared one
        return weights
    rows = np.flatnonzero(np.isin(labels, themes))
    # A term in fewer than half the themes has a median rate of 0: only the others count.
    df = np.asarray(presence[rows].sum(axis=0)).ravel()
    columns = np.flatnonzero(df >= len(themes) / 2)
    presence = presence[:, columns]
    index = {t: i for i, t in enumerate(themes)}
    onehot = sparse.csr_matrix(
        (
            np.ones(len(rows), dtype=np.float32),
            (np.array([index[t] for t in labels[rows]]), rows),
        ),
        shape=(len(themes), presence.shape[0]),
    )
    counts = (onehot @ presence).toarray()
    rates = counts / sizes[themes][:, None]
    top = rates.max(axis=0)
    used = top > 0
    # A term in a few documents is spread or not by chance: judged in full only from
    # EVEN_PER_THEME documents per theme on average.
    confidence = np.minimum(1.0, counts.sum(axis=0) / (EVEN_PER_THEME * len(themes)))
    even = np.median(rates[:, used], axis=0) / top[used]
    weights[columns[used]] = 1.0 - confidence[used] * even
    return weights


def pairs_follow_words(names, weights):
    """Weights where a pair of words ("board expired") is as discounted as its more
    discounted word, so a template word cannot come back joined to a failure's word."""
    import numpy as np

    column = {name: i for i, name in enumerate(names)}
    out = np.array(weights, dtype=np.float32)
    for i, name in enumerate(names):
        if " " in name:
            for word in name.split():
                j = column.get(word)
                if j is not None and out[j] < out[i]:
                    out[i] = out[j]
    return out


def sample_rows(n, random_state=0):
    """Sorted row numbers of a fixed random sample of at most SAMPLE of n rows."""
    import numpy as np

    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=SAMPLE, replace=False))


def _sample(matrix):
    return matrix[sample_rows(matrix.shape[0])]


def discounted(names, weights, below=1.0):
    """{term: weight} for the columns weighted below `below`, most discounted first."""
    found = [(float(w), n) for n, w in zip(names, weights, strict=True) if w < below]
    return {n: round(w, 3) for w, n in sorted(found)}
