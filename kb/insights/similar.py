"""Similar incidents: an inverted index of weighted key terms, stored as rows.

The rebuild (`kb themes rebuild`) keeps each published postmortem's strongest TF-IDF terms,
plus `service:<name>` and `theme:<id>` entries, in PostmortemTerm. A lookup sums products of
weights over shared terms (in memory, kb.insights.postings) and keeps the best candidates that
pass the visibility rule, so nobody is shown, counted or ranked against a postmortem they may
not see. Reading needs no scikit-learn: typed text is tokenised by kb.insights.features and
weighed by stored IDF.
"""

import math
from collections import Counter, defaultdict

from sqlalchemy import delete, insert
from sqlmodel import select

from kb import accounts
from kb.insights import features, labels, postings
from kb.insights.kpis import published
from kb.models import Label, Postmortem, PostmortemTerm, TermWeight, Theme

SIMILAR_TERMS = 8  # key terms kept per postmortem
SERVICE_WEIGHT = 0.35  # a shared service adds 0.35 * 0.35 to the score
THEME_WEIGHT = 0.35  # and so does a shared theme
MAX_QUERY_TEXT = 20_000  # characters of typed text considered


def build_index(session, pms, factor_rows, themes_of_pm, analyses=None, internal=None):
    """Replace the stored terms of every published postmortem (`pms`: id, ref, title, summary).

    A postmortem's terms are those of its title and summary and of each factor, analysed once
    per rebuild when `analyses` (a features.Analyses the clustering used) is given. Document
    frequencies (and so every weight and the stored IDF that weighs typed text) are counted
    over the `internal` postmortems only (ids; None: all), which everyone may read: a word
    only restricted postmortems hold is no term at all, and no score anyone sees moves when
    a restricted postmortem is added. Flushes, never commits. Needs scikit-learn (called
    from the rebuild only).
    """
    import numpy as np

    session.exec(delete(PostmortemTerm))
    session.exec(delete(TermWeight))
    if not pms:
        return
    factors = defaultdict(list)
    for _id, pm_id, text, _category in factor_rows:
        factors[pm_id].append(text)
    analyses = analyses or features.Analyses()
    analysed = [
        analyses(f"{title}. {summary}") + [term for text in factors[i] for term in analyses(text)]
        for i, _r, title, summary in pms
    ]
    ids = [row[0] for row in pms]
    internal = set(ids) if internal is None else set(internal)
    public = np.fromiter((pm_id in internal for pm_id in ids), bool, len(ids))
    names, matrix, idf = _weights(analysed, public)
    services = defaultdict(list)
    for pm_id, value in session.exec(
        select(Label.postmortem_id, Label.value).where(Label.field == "services")
    ).all():
        services[pm_id].append(value)
    # A shared service or theme counts more when few postmortems have it (like a word's IDF):
    # sharing the "monitoring" theme with half the organisation says little.
    extra = {
        pm_id: [f"service:{s}"[:80] for s in sorted(set(services.get(pm_id, ())))] for pm_id in ids
    }
    for pm_id in ids:
        extra[pm_id] += [f"theme:{t}" for t in sorted(themes_of_pm.get(pm_id, ()))]
    n = int(public.sum())
    df = Counter(term for pm_id in ids if pm_id in internal for term in extra[pm_id])
    ceiling = math.log(1 + n) + 1
    rows = []
    for index, pm_id in enumerate(ids):
        start, end = matrix.indptr[index], matrix.indptr[index + 1]
        values, columns = matrix.data[start:end], matrix.indices[start:end]
        if len(values) > SIMILAR_TERMS:
            keep = np.argsort(-values, kind="stable")[:SIMILAR_TERMS]
            values, columns = values[keep], columns[keep]
        norm = float(np.sqrt((values**2).sum())) or 1.0
        for value, column in zip(values, columns, strict=True):
            rows.append((pm_id, str(names[column])[:80], round(float(value) / norm, 5)))
        for term in extra[pm_id]:
            base = SERVICE_WEIGHT if term.startswith("service:") else THEME_WEIGHT
            term_idf = math.log((1 + n) / (1 + df[term])) + 1
            rows.append((pm_id, term, round(base * term_idf / ceiling, 5)))
    # Core inserts: the ORM's bulk path costs several times more per row, and a rebuild
    # writes hundreds of thousands of them.
    connection = session.connection()
    dicts = [{"postmortem_id": p, "term": t, "weight": w} for p, t, w in rows]
    for start in range(0, len(dicts), 50_000):
        connection.execute(insert(PostmortemTerm.__table__), dicts[start : start + 50_000])
    shown = features.most_common_forms(analyses.forms)
    weights = [
        {
            "term": str(name)[:80],
            "idf": round(float(value), 5),
            "label": shown.get(name, name)[:120],
        }
        for name, value in zip(names, idf, strict=True)
    ]
    unique = list({row["term"]: row for row in weights}.values())
    for start in range(0, len(unique), 50_000):
        connection.execute(insert(TermWeight.__table__), unique[start : start + 50_000])
    session.flush()


def _weights(analysed, public):
    """(term names, TF-IDF matrix of every postmortem, IDF of each term), with the terms and
    their document frequencies those of the `public` rows only.

    Counted once for every postmortem, then weighed as TfidfVectorizer(sublinear_tf=True)
    would if fitted on the public rows: min_df 2 and max_df 0.5 (1 and 1.0 under 20
    postmortems), smooth IDF log((1 + n) / (1 + df)) + 1. Rows are not normalised here: the
    caller keeps each row's strongest terms and normalises those.
    """
    import numpy as np
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    empty = np.empty(0, dtype=object), sparse.csr_matrix((len(analysed), 0)), np.empty(0)
    try:
        counts = CountVectorizer(analyzer=_already_analysed, dtype=np.float32)
        matrix = counts.fit_transform(analysed).tocsr()
    except ValueError:  # no term in any postmortem
        return empty
    names = counts.get_feature_names_out()
    n = int(public.sum())
    small = n < 20
    df = np.bincount(matrix[public].indices, minlength=matrix.shape[1])
    keep = (df >= (1 if small else 2)) & (df <= (1.0 if small else 0.5) * n) & (df > 0)
    columns = np.flatnonzero(keep)
    if not len(columns):
        return empty
    idf = np.log((1 + n) / (1 + df[columns])) + 1
    matrix = matrix[:, columns].tocsr()
    matrix.data = (np.log(matrix.data) + 1) * idf[matrix.indices].astype(np.float32)
    return names[columns], matrix, idf


def _already_analysed(terms):
    return terms


def query_terms(session, text, limit=SIMILAR_TERMS):
    """Weighted key terms of typed text, by the stored IDF (unknown words are dropped)."""
    counts = Counter(features.analyze((text or "")[:MAX_QUERY_TEXT]))
    if not counts:
        return {}
    idf = dict(
        session.exec(
            select(TermWeight.term, TermWeight.idf).where(TermWeight.term.in_(list(counts)))
        ).all()
    )
    weights = {t: (1 + math.log(n)) * idf[t] for t, n in counts.items() if t in idf}
    strongest = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:limit]
    norm = math.sqrt(sum(w * w for _t, w in strongest)) or 1.0
    return {t: w / norm for t, w in strongest}


def _rank(session, user, weights, *, exclude=None, limit=5, kinds=None):
    """[(postmortem id, score)] of visible published postmortems (of `kinds`, if given),
    best first.

    Scored in memory (kb.insights.postings); the best candidates are then checked against
    the database through the visibility filter, a few at a time, until `limit` are found.
    """
    if not weights:
        return []
    ids, scores = postings.current(session).scores(weights)
    found, position, batch = [], 0, max(4 * limit, 20)
    while len(found) < limit and position < len(ids):
        chunk = [
            (pm_id, score)
            for pm_id, score in zip(
                ids[position : position + batch].tolist(),
                scores[position : position + batch].tolist(),
                strict=True,
            )
            if pm_id != exclude
        ]
        position += batch
        batch *= 4
        if not chunk:
            continue
        allowed = published_and_visible(session, user, [pm_id for pm_id, _s in chunk], kinds)
        found += [(pm_id, score) for pm_id, score in chunk if pm_id in allowed]
    return found[:limit]


def published_and_visible(session, user, ids, kinds=None):
    """Which of these postmortem ids are published, of `kinds` (None: any) and visible to
    `user` (a user or an accounts.Scope).

    Looked up by primary key, then decided by accounts.Scope.allows (the visibility rule):
    with a condition on status in the query, SQLite without statistics would rather scan the
    status index (~10 ms at 50,000 postmortems) than fetch a handful of rows by id.
    """
    scope = user if isinstance(user, accounts.Scope) else accounts.scope_of(user)
    rows = session.exec(
        select(Postmortem.id, Postmortem.status, Postmortem.visibility, Postmortem.kind).where(
            Postmortem.id.in_(ids)
        )
    ).all()
    shown = {
        pm_id: visibility
        for pm_id, status, visibility, kind in rows
        if status == "published" and (kinds is None or kind in kinds)
    }
    restricted = [pm_id for pm_id, visibility in shown.items() if visibility != "internal"]
    audience = defaultdict(lambda: ([], []))
    if restricted and not (scope.everything or scope.nothing):
        for pm_id, field, value in session.exec(
            select(Label.postmortem_id, Label.field, Label.value).where(
                Label.postmortem_id.in_(restricted),
                Label.field.in_(("teams", "authors", "readers")),
            )
        ).all():
            audience[pm_id][0 if field == "teams" else 1].append(value)
    return {
        pm_id for pm_id, visibility in shown.items() if scope.allows(visibility, *audience[pm_id])
    }


def _describe(session, user, ranked, weights):
    """Result dicts for ranked ids: ref, title, score and what they share with the query."""
    if not ranked:
        return []
    ids = [pm_id for pm_id, _score in ranked]
    pms = {
        pm.id: pm
        for pm in session.exec(select(Postmortem).where(Postmortem.id.in_(ids), published(user)))
    }
    shared = defaultdict(list)
    for pm_id, term, weight in session.exec(
        select(PostmortemTerm.postmortem_id, PostmortemTerm.term, PostmortemTerm.weight).where(
            PostmortemTerm.postmortem_id.in_(ids), PostmortemTerm.term.in_(list(weights))
        )
    ).all():
        shared[pm_id].append((-weight * weights[term], term))
    theme_ids = {
        int(term.split(":", 1)[1])
        for items in shared.values()
        for _w, term in items
        if term.startswith("theme:")
    }
    # A label `user` may not be shown (see kb.insights.labels) is not named here.
    hidden = labels.hidden_labels(session, user, theme_ids)
    names = dict(
        session.exec(select(Theme.id, Theme.label).where(Theme.id.in_(theme_ids))).all()
        if theme_ids
        else []
    )
    shown_labels = {theme_id: label for theme_id, label in names.items() if theme_id not in hidden}
    plain = {t for items in shared.values() for _w, t in items if ":" not in t}
    shown = dict(
        session.exec(
            select(TermWeight.term, TermWeight.label).where(TermWeight.term.in_(plain))
        ).all()
        if plain
        else []
    )
    results = []
    for pm_id, score in ranked:
        pm = pms.get(pm_id)
        if pm is None:
            continue
        items = [term for _w, term in sorted(shared[pm_id])]
        results.append(
            {
                "ref": pm.ref,
                "title": pm.title,
                "score": round(score, 3),
                "severity": pm.severity,
                "kind": pm.kind,
                "started_at": pm.started_at,
                "shared": {
                    "terms": [shown.get(t) or t for t in items if ":" not in t][:6],
                    "services": [t.split(":", 1)[1] for t in items if t.startswith("service:")],
                    "themes": [
                        {
                            "id": int(t.split(":", 1)[1]),
                            "label": shown_labels[int(t.split(":", 1)[1])],
                        }
                        for t in items
                        if t.startswith("theme:") and int(t.split(":", 1)[1]) in shown_labels
                    ],
                },
            }
        )
    return results


def similar_to(session, user, pm, limit=5):
    """The `limit` published postmortems most like `pm` that `user` may see."""
    weights = dict(
        session.exec(
            select(PostmortemTerm.term, PostmortemTerm.weight).where(
                PostmortemTerm.postmortem_id == pm.id
            )
        ).all()
    )
    if not weights:
        # Not indexed yet (published after the last rebuild): fall back on its own text.
        text = " ".join([pm.title, pm.summary, *(f.text for f in pm.factors)])
        weights = query_terms(session, text)
        for service in pm.label_values("services"):
            weights[f"service:{service}"] = SERVICE_WEIGHT
    ranked = _rank(session, user, weights, exclude=pm.id, limit=limit)
    return _describe(session, user, ranked, weights)


def suggest(session, user, text, limit=5, services=(), *, exclude=None, kinds=None):
    """Published postmortems `user` may see that are most like typed `text` (for the editor),
    leaving out the postmortem id `exclude` and any not of `kinds` (None: every kind).

    Returns [{ref, title, score, shared: {terms, services, themes}, severity, kind,
    started_at}].
    """
    weights = query_terms(session, text)
    for service in services:
        weights[f"service:{service}"] = SERVICE_WEIGHT
    ranked = _rank(session, user, weights, exclude=exclude, limit=limit, kinds=kinds)
    return _describe(session, user, ranked, weights)
