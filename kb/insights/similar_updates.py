"""The similar-incidents index between rebuilds: a postmortem put in it when published (or
amended), taken out when unpublished, and its `theme:<id>` entries brought in line after an
admin merged or split themes. Weighed as the rebuild weighs (kb.insights.similar), by the
stored IDF; no scikit-learn.
"""

import math
from collections import defaultdict

from sqlalchemy import and_, delete, func
from sqlmodel import select

from kb.insights.similar import SERVICE_WEIGHT, THEME_WEIGHT, query_terms
from kb.models import Label, Postmortem, PostmortemTerm, ThemeFactor


def index_postmortem(session, pm):
    """Put one published postmortem in the index of the last rebuild (after it is published
    or amended between rebuilds), weighed by the stored IDF as typed text is, with its
    services and its themes as they are stored now. Flushes, never commits."""
    unindex(session, pm.id)
    text = " ".join([f"{pm.title}. {pm.summary}", *(f.text for f in pm.factors)])
    rows = [(t, w) for t, w in query_terms(session, text).items()]
    extra = [f"service:{s}"[:80] for s in sorted(set(pm.label_values("services")))]
    themes = session.exec(
        select(ThemeFactor.theme_id).where(ThemeFactor.postmortem_id == pm.id).distinct()
    ).all()
    extra += [f"theme:{t}" for t in sorted(themes)]
    rows += _extra_weights(session, extra)
    session.add_all(
        [PostmortemTerm(postmortem_id=pm.id, term=t, weight=round(w, 5)) for t, w in rows]
    )
    session.flush()


def unindex(session, pm_id):
    """Take a postmortem out of the index (unpublished, or about to be indexed again)."""
    session.exec(delete(PostmortemTerm).where(PostmortemTerm.postmortem_id == pm_id))


def reindex_themes(session, pm_ids):
    """Bring the `theme:<id>` entries of these postmortems in line with the stored themes
    (after an admin merged or split themes)."""
    pm_ids = list(pm_ids)
    if not pm_ids:
        return
    session.exec(
        delete(PostmortemTerm).where(
            PostmortemTerm.postmortem_id.in_(pm_ids), PostmortemTerm.term.startswith("theme:")
        )
    )
    indexed = set(
        session.exec(
            select(PostmortemTerm.postmortem_id)
            .where(PostmortemTerm.postmortem_id.in_(pm_ids))
            .distinct()
        ).all()
    )
    themes = defaultdict(set)
    for pm_id, theme_id in session.exec(
        select(ThemeFactor.postmortem_id, ThemeFactor.theme_id).where(
            ThemeFactor.postmortem_id.in_(list(indexed))
        )
    ).all():
        themes[pm_id].add(f"theme:{theme_id}")
    wanted = sorted({t for terms in themes.values() for t in terms})
    weights = dict(_extra_weights(session, wanted))
    session.add_all(
        [
            PostmortemTerm(postmortem_id=pm_id, term=t, weight=round(weights[t], 5))
            for pm_id, terms in themes.items()
            for t in sorted(terms)
        ]
    )
    session.flush()


def _extra_weights(session, terms):
    """[(term, weight)] of `service:` and `theme:` entries as build_index weighs them, with
    document frequencies counted over the internal published postmortems now (by the indexed
    service labels and theme memberships, not by scanning the index)."""
    if not terms:
        return []
    internal = and_(Postmortem.status == "published", Postmortem.visibility == "internal")
    n = session.exec(select(func.count()).select_from(Postmortem).where(internal)).one()
    services = [t.split(":", 1)[1] for t in terms if t.startswith("service:")]
    themes = [int(t.split(":", 1)[1]) for t in terms if t.startswith("theme:")]
    df = {}
    if services:
        for value, count in session.exec(
            select(Label.value, func.count(Label.postmortem_id.distinct()))
            .join(Postmortem, Postmortem.id == Label.postmortem_id)
            .where(Label.field == "services", Label.value.in_(services), internal)
            .group_by(Label.value)
        ).all():
            df[f"service:{value}"[:80]] = count
    if themes:
        for theme_id, count in session.exec(
            select(ThemeFactor.theme_id, func.count(ThemeFactor.postmortem_id.distinct()))
            .join(Postmortem, Postmortem.id == ThemeFactor.postmortem_id)
            .where(ThemeFactor.theme_id.in_(themes), internal)
            .group_by(ThemeFactor.theme_id)
        ).all():
            df[f"theme:{theme_id}"] = count
    ceiling = math.log(1 + n) + 1
    out = []
    for term in terms:
        base = SERVICE_WEIGHT if term.startswith("service:") else THEME_WEIGHT
        out.append((term, base * (math.log((1 + n) / (1 + df.get(term, 0))) + 1) / ceiling))
    return out
