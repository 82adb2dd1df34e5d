"""Rebuilding the themes and the similar-incidents index from the published factors.

`kb themes rebuild` fits the models (scikit-learn, imported here only) and replaces the
stored rows; pages read those rows (kb.insights.themes.reading).
"""

import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import select

from kb.insights import features
from kb.insights.themes import curation, following, naming
from kb.insights.themes.naming import label_for_theme
from kb.insights.themes.reading import last_run
from kb.models import (
    Factor,
    Postmortem,
    Theme,
    ThemeFactor,
    ThemeRun,
    utcnow,
)

METHOD_VERSION = "themes-4"  # change when the method changes, so the next rebuild reruns


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did; `changed` is False when nothing had changed since the last one."""

    changed: bool
    postmortems: int
    factors: int
    themes: int
    seconds: float
    method: str = ""


def fingerprint(session):
    """A digest of what themes are computed from: every published postmortem and version."""
    digest = hashlib.sha256(METHOD_VERSION.encode())
    rows = session.exec(
        select(Postmortem.id, Postmortem.version)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.id)
    ).all()
    for pm_id, version in rows:
        digest.update(f"{pm_id}:{version};".encode())
    return digest.hexdigest()


def is_stale(session):
    """Whether published postmortems changed since the last rebuild (or none was made)."""
    run = last_run(session)
    return run is None or run.fingerprint != fingerprint(session)


def rebuild(session, *, force=False, progress=None, random_state=0) -> RebuildReport:
    """Recompute themes and the similar-incidents index from published postmortems.

    Cheap to call often: without `force` it does nothing when no published postmortem
    changed since the last run. `progress(step, total, message)` is told each step.
    Flushes, never commits.
    """
    from kb.insights import clustering, similar

    started = time.perf_counter()
    step = progress or (lambda *_args: None)
    digest = fingerprint(session)
    run = last_run(session)
    if not force and run is not None and run.fingerprint == digest:
        return RebuildReport(False, run.postmortems, run.factors, run.themes, 0.0, run.method)

    step(1, 5, "reading published postmortems")
    pms = session.exec(
        select(Postmortem.id, Postmortem.ref, Postmortem.title, Postmortem.summary)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.ref)
    ).all()
    context = {pm_id: f"{title}. {summary}" for pm_id, _ref, title, summary in pms}
    factor_rows = session.exec(
        select(Factor.id, Factor.postmortem_id, Factor.text, Factor.category)
        .join(Postmortem, Postmortem.id == Factor.postmortem_id)
        .where(Postmortem.status == "published")
        .order_by(Postmortem.ref, Factor.position)
    ).all()
    internal = set(
        session.exec(
            select(Postmortem.id).where(
                Postmortem.status == "published", Postmortem.visibility == "internal"
            )
        ).all()
    )

    step(2, 5, f"clustering {len(factor_rows)} factors")
    # Every text tokenised once, for themes and the index; the written forms of terms are
    # counted from what everyone may read (the factors and contexts of internal postmortems).
    analyses = features.Analyses(
        shown={r[2] for r in factor_rows if r[1] in internal}
        | {context[pm_id] for pm_id in internal if pm_id in context}
    )
    result = clustering.cluster(
        [r[2] for r in factor_rows],
        [context[r[1]] for r in factor_rows],
        [r[3] or None for r in factor_rows],
        labelable=[r[1] in internal for r in factor_rows],
        random_state=random_state,
        analyze=analyses,
    )

    step(3, 5, f"labelling and storing {result.k} themes")
    texts = [r[2] for r in factor_rows]
    token_sets = [features.tokens(text) for text in texts]
    # Generic: spread evenly over the new themes, or discounted by the clustering itself.
    generic = naming.with_discounts(
        naming.generic_terms(token_sets, result.labels), result.discounts
    )
    phrases = naming.label_themes(
        texts,
        result.labels,
        result.scores,
        [r[1] in internal for r in factor_rows],
        token_sets,
        generic,
    )
    _store_themes(session, factor_rows, result, phrases, generic)

    # Admins' edits (renames, merges, splits) carried to the new themes.
    curation.carry_over(session)

    step(4, 5, "indexing similar incidents")
    theme_of_pm = defaultdict(set)
    for pm_id, theme_id in session.exec(select(ThemeFactor.postmortem_id, ThemeFactor.theme_id)):
        theme_of_pm[pm_id].add(theme_id)
    similar.build_index(session, pms, factor_rows, theme_of_pm, analyses, internal)
    # Each theme's centre, for placing what is published before the next rebuild.
    following.store_centroids(session, {r[0]: (r[2], context[r[1]]) for r in factor_rows}, analyses)

    step(5, 5, "done")
    seconds = round(time.perf_counter() - started, 3)
    session.add(
        ThemeRun(
            fingerprint=digest,
            built_at=utcnow(),
            postmortems=len(pms),
            factors=len(factor_rows),
            themes=result.k,
            seconds=seconds,
            method=result.method[:300],
            generic=sorted(t for t, g in generic.items() if g >= naming.SHOWN_GENERIC)[:2000],
        )
    )
    session.flush()
    return RebuildReport(True, len(pms), len(factor_rows), result.k, seconds, result.method)


def _store_themes(session, factor_rows, result, phrases, generic):
    """Replace the stored themes; a theme keeps its id when it keeps most of its factors.

    `phrases` are the labels found for each theme (kb.insights.themes.naming); the key terms
    shown beneath leave out what is generic. Returns the stored id of each new theme number.
    """
    from sqlalchemy import insert

    previous = dict(session.exec(select(ThemeFactor.factor_id, ThemeFactor.theme_id)).all())
    members = defaultdict(list)
    for row, label in zip(factor_rows, result.labels, strict=True):
        if label >= 0:
            members[label].append(row[0])
    # Greedy matching by overlap: stable links (/themes/<id>) across rebuilds.
    overlaps = []
    for label, factor_ids in members.items():
        counted = Counter(previous[f] for f in factor_ids if f in previous)
        for old_id, count in counted.items():
            if count * 2 > len(factor_ids):
                overlaps.append((-count, label, old_id))
    reuse, used = {}, set()
    for _count, label, old_id in sorted(overlaps):
        if label not in reuse and old_id not in used:
            reuse[label] = old_id
            used.add(old_id)

    session.exec(delete(ThemeFactor))
    existing = {t.id: t for t in session.exec(select(Theme)).all()}
    for old_id, theme in existing.items():
        if old_id not in used:
            session.delete(theme)
    session.flush()
    ids = {}
    for label in range(result.k):
        terms = naming.specific_terms(result.terms[label], generic)
        values = {
            "label": phrases.get(label) or label_for_theme(terms, result.categories[label]),
            "terms": terms,
            "size": len(members[label]),
            "rank": label,
            "private_label": bool(result.private_terms[label]),
        }
        theme = existing.get(reuse.get(label)) if label in reuse else None
        if theme is None:
            theme = Theme(**values)
            session.add(theme)
        else:
            for key, value in values.items():
                setattr(theme, key, value)
        session.flush()
        ids[label] = theme.id
    rows = [
        {
            "theme_id": ids[label],
            "factor_id": row[0],
            "postmortem_id": row[1],
            "score": round(score, 4),
        }
        for row, label, score in zip(factor_rows, result.labels, result.scores, strict=True)
        if label >= 0
    ]
    connection = session.connection()  # Core inserts: see similar.build_index
    for start in range(0, len(rows), 50_000):
        connection.execute(insert(ThemeFactor.__table__), rows[start : start + 50_000])
    return ids
