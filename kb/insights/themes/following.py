"""Themes that follow publishing: between rebuilds, a postmortem published (or amended) joins
the nearest stored themes at once, and one unpublished leaves them.

The rebuild stores each theme's centre (Theme.centroid: the mean of its members' term
vectors, weighed by the IDF the rebuild stored in TermWeight, strongest terms kept). A
factor joins the theme whose centre is closest (cosine) when it is close enough; the
postmortem then joins the similar-incidents index too, and ThemeRun.revision moves so every
cache of themes and similar incidents reads again. Everything here is derived from the
database and rebuilt by `kb themes rebuild`. Plain Python: no scikit-learn on a save.
"""

import math
from collections import Counter, defaultdict

from sqlalchemy import delete, func, update
from sqlmodel import select

from kb.insights import features, similar_updates
from kb.insights.themes.members import mark_changed
from kb.models import PostmortemTerm, TermWeight, Theme, ThemeFactor, ThemeRun

CONTEXT_WEIGHT = 0.5  # the postmortem's title and summary, as in the clustering
CENTROID_TERMS = 80  # strongest terms kept of a theme's centre
MIN_CLOSENESS = 0.08  # below this, a factor joins no theme until the next rebuild


def vector(terms, idf):
    """{term: weight} of a text's terms: sublinear TF times IDF, unit length."""
    counts = Counter(t for t in terms if t in idf)
    weights = {t: (1 + math.log(n)) * idf[t] for t, n in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


def factor_vector(text, context, idf, analyze=features.analyze):
    """A factor read in the context of its postmortem, as the clustering reads it."""
    own = vector(analyze(text), idf)
    for term, weight in vector(analyze(context), idf).items():
        own[term] = own.get(term, 0.0) + CONTEXT_WEIGHT * weight
    norm = math.sqrt(sum(w * w for w in own.values())) or 1.0
    return {t: w / norm for t, w in own.items()}


def _idf(session, terms=None):
    query = select(TermWeight.term, TermWeight.idf)
    if terms is not None:
        query = query.where(TermWeight.term.in_(list(terms)))
    return dict(session.exec(query).all())


def store_centroids(session, texts, analyze=features.analyze):
    """Compute and store every theme's centre from its members (called by the rebuild,
    after TermWeight is written). `texts` is {factor id: (text, context)}."""
    idf = _idf(session)
    sums = defaultdict(Counter)
    for factor_id, theme_id in session.exec(
        select(ThemeFactor.factor_id, ThemeFactor.theme_id)
    ).all():
        if factor_id in texts:
            sums[theme_id].update(factor_vector(*texts[factor_id], idf, analyze))
    for theme in session.exec(select(Theme)).all():
        total = sums.get(theme.id, Counter())
        top = total.most_common(CENTROID_TERMS)
        norm = math.sqrt(sum(w * w for _t, w in top)) or 1.0
        theme.centroid = {t: round(w / norm, 5) for t, w in top}
    session.flush()


def place(session, pm):
    """Put the factors of a published postmortem in the nearest themes and the postmortem in
    the similar-incidents index. Does nothing before the first rebuild."""
    if session.exec(select(func.max(ThemeRun.id))).one() is None:
        return
    themes = session.exec(select(Theme.id, Theme.centroid)).all()
    by_term = defaultdict(list)
    for theme_id, centroid in themes:
        for term, weight in (centroid or {}).items():
            by_term[term].append((theme_id, weight))
    context = f"{pm.title}. {pm.summary}"
    analysed = {f.id: features.analyze(f.text) for f in pm.factors}
    wanted = set(features.analyze(context)).union(*analysed.values())
    idf = _idf(session, wanted) if wanted else {}
    # Factors are new rows on every save: their old memberships went with the old rows.
    session.exec(delete(ThemeFactor).where(ThemeFactor.postmortem_id == pm.id))
    for factor in pm.factors:
        scores = Counter()
        own = factor_vector(factor.text, context, idf)
        for term, weight in own.items():
            for theme_id, centre in by_term.get(term, ()):
                scores[theme_id] += weight * centre
        if not scores:
            continue
        theme_id, closeness = min(scores.items(), key=lambda item: (-item[1], item[0]))
        if closeness >= MIN_CLOSENESS:
            session.add(
                ThemeFactor(
                    theme_id=theme_id,
                    factor_id=factor.id,
                    postmortem_id=pm.id,
                    score=round(min(closeness, 1.0), 4),
                )
            )
    session.flush()
    _resize(session)
    similar_updates.index_postmortem(session, pm)
    mark_changed(session)


def withdraw(session, pm_id):
    """Take a postmortem that is no longer published out of the themes and the index."""
    had = session.exec(
        select(func.count())
        .select_from(PostmortemTerm)
        .where(PostmortemTerm.postmortem_id == pm_id)
    ).one()
    members = session.exec(
        select(func.count()).select_from(ThemeFactor).where(ThemeFactor.postmortem_id == pm_id)
    ).one()
    if not had and not members:
        return
    session.exec(delete(ThemeFactor).where(ThemeFactor.postmortem_id == pm_id))
    similar_updates.unindex(session, pm_id)
    session.flush()
    _resize(session)
    mark_changed(session)


def _resize(session):
    """Theme.size from the stored memberships, in one statement: a save's old factor rows
    took their memberships with them (ON DELETE CASCADE), so which themes lost one is not
    known here; each count is read from the (theme, score) index."""
    count = (
        select(func.count())
        .select_from(ThemeFactor)
        .where(ThemeFactor.theme_id == Theme.id)
        .scalar_subquery()
    )
    session.connection().execute(update(Theme).values(size=count))


def follow(session, pm):
    """The themes' side of saving a postmortem: call after it is saved and flushed.

    Published: its factors join the nearest themes (the saved factors are new rows) and it
    joins the similar-incidents index; otherwise it leaves both.
    """
    if pm.status == "published":
        place(session, pm)
    else:
        withdraw(session, pm.id)
