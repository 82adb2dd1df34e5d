"""Admins' edits of the themes: rename (pin a label), merge two themes, split one.

Each edit is applied to the stored themes at once and kept as a ThemeCuration row naming
the factors it concerned ("postmortem id:position"), never theme ids: after a rebuild, every
edit still active is carried, in the order they were made, to the new theme holding most of
those factors (carry_over). Each edit is recorded in the audit log. Flushes, never commits.
"""

from collections import Counter

from sqlalchemy import func, update
from sqlmodel import select

from kb import audit
from kb.insights import features, similar_updates
from kb.insights.clustering import TOP_TERMS, main_category
from kb.insights.themes import naming
from kb.insights.themes.members import mark_changed
from kb.models import Factor, Postmortem, Theme, ThemeCuration, ThemeFactor, ThemeRun

MAX_LABEL = 200


class CurationError(ValueError):
    """An edit that cannot be made, with a message for the person who asked."""


def _key(pm_id, position):
    return f"{pm_id}:{position}"


def members(session, theme_id):
    """[(factor id, key, text, postmortem ref)] of every member of a theme, most central
    first (for admins, who may see every factor)."""
    rows = session.exec(
        select(Factor.id, Factor.postmortem_id, Factor.position, Factor.text, Postmortem.ref)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
        .join(Postmortem, Postmortem.id == Factor.postmortem_id)
        .where(ThemeFactor.theme_id == theme_id)
        .order_by(ThemeFactor.score.desc(), Factor.id)
    ).all()
    return [(f, _key(pm, pos), text, ref) for f, pm, pos, text, ref in rows]


def _theme(session, theme_id):
    theme = session.get(Theme, theme_id) if isinstance(theme_id, int) else None
    if theme is None:
        raise CurationError("That theme no longer exists: the themes were rebuilt. Reload.")
    return theme


def _clean_label(label):
    label = " ".join((label or "").split())
    if len(label) > MAX_LABEL:
        raise CurationError(f"A label is at most {MAX_LABEL} characters.")
    return label


def _record(session, actor, kind, label, factors, other, detail):
    session.add(
        ThemeCuration(
            actor_id=getattr(actor, "id", None),
            actor_email=getattr(actor, "email", "") or "system",
            kind=kind,
            label=label,
            factors=sorted(factors),
            other=sorted(other),
        )
    )
    audit.record(session, actor, f"theme-{kind}", "", detail)


def rename(session, actor, theme_id, label):
    """Pin `label` on a theme; an empty label unpins it (the rebuild's label again)."""
    theme = _theme(session, theme_id)
    label = _clean_label(label)
    old = theme.label
    keys = [m[1] for m in members(session, theme.id)]
    _record(session, actor, "rename", label, keys, [], f"theme {theme.id}: {old!r} -> {label!r}")
    _pin(session, theme, label)
    mark_changed(session)
    session.flush()
    return theme


def merge(session, actor, theme_id, into_id):
    """Move every factor of one theme into another, and drop the first."""
    theme = _theme(session, theme_id)
    if into_id == theme_id:
        raise CurationError("Choose another theme to merge this one into.")
    into = _theme(session, into_id)
    keys = [m[1] for m in members(session, theme.id)]
    other = [m[1] for m in members(session, into.id)]
    _record(
        session,
        actor,
        "merge",
        "",
        keys,
        other,
        f"theme {theme.id} ({theme.label!r}) into {into.id} ({into.label!r})",
    )
    _merge(session, theme, into)
    mark_changed(session)
    session.flush()
    return into


def split(session, actor, theme_id, factor_ids, label=""):
    """Move the chosen factors (row ids) of a theme into a new theme; returns the new one."""
    theme = _theme(session, theme_id)
    label = _clean_label(label)
    found = members(session, theme.id)
    chosen = {int(f) for f in factor_ids if str(f).isdigit()}
    moving = [m for m in found if m[0] in chosen]
    if not moving:
        raise CurationError("Tick the factors that should form the new theme.")
    if len(moving) == len(found) or len(chosen) != len(moving):
        raise CurationError(
            "Tick some of this theme's factors, not all of them: the rest stay in it."
        )
    staying = [m[1] for m in found if m[0] not in chosen]
    moved = [m[1] for m in moving]
    new = _split(session, theme, {m[0] for m in moving}, label)
    _record(
        session,
        actor,
        "split",
        label,
        staying,
        moved,
        f"theme {theme.id} ({theme.label!r}): {len(moved)} factors into {new.id} ({new.label!r})",
    )
    mark_changed(session)
    session.flush()
    return new


# --- applying edits to the stored themes ------------------------------------------------


def _pin(session, theme, label):
    if label:
        theme.label, theme.pinned = label, True
    else:
        theme.pinned = False
        describe(session, theme)


def _merge(session, theme, into):
    pms = _postmortems_of(session, [theme.id])
    session.exec(
        update(ThemeFactor).where(ThemeFactor.theme_id == theme.id).values(theme_id=into.id)
    )
    session.delete(theme)
    session.flush()
    _resize(session, [into])
    if not into.pinned:
        describe(session, into)
    similar_updates.reindex_themes(session, pms)


def _split(session, theme, factor_ids, label):
    new = Theme(label=label or theme.label, terms=[], rank=theme.rank, pinned=bool(label))
    session.add(new)
    session.flush()
    session.exec(
        update(ThemeFactor)
        .where(ThemeFactor.theme_id == theme.id, ThemeFactor.factor_id.in_(list(factor_ids)))
        .values(theme_id=new.id)
    )
    session.flush()
    _resize(session, [theme, new])
    for changed in (theme, new):
        if not changed.pinned:
            describe(session, changed)
        else:
            describe(session, changed, label=False)
    similar_updates.reindex_themes(session, _postmortems_of(session, [new.id]))
    return new


def _resize(session, themes):
    for theme in themes:
        theme.size = session.exec(
            select(func.count()).select_from(ThemeFactor).where(ThemeFactor.theme_id == theme.id)
        ).one()


def _postmortems_of(session, theme_ids):
    return set(
        session.exec(
            select(ThemeFactor.postmortem_id).where(ThemeFactor.theme_id.in_(theme_ids))
        ).all()
    )


def describe(session, theme, *, label=True):
    """Recompute a theme's key terms (and label, unless pinned) from its members, as the
    rebuild would: from the factors everyone may read when it has any (else the label is
    marked private, and pages label it from what each reader may see)."""
    rows = session.exec(
        select(Factor.text, Factor.category, Postmortem.visibility)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
        .join(Postmortem, Postmortem.id == Factor.postmortem_id)
        .where(ThemeFactor.theme_id == theme.id)
        .order_by(ThemeFactor.score.desc(), Factor.id)
        .limit(200)
    ).all()
    readable = [r for r in rows if r[2] == "internal"]
    chosen = readable or rows
    theme.private_label = not readable
    texts = [r[0] for r in chosen]
    run = session.exec(select(ThemeRun).order_by(ThemeRun.id.desc()).limit(1)).first()
    generic = set(run.generic) if run else set()
    counted = Counter(t for text in texts for t in set(features.tokens(text)) if t not in generic)
    shown = features.surface_forms(texts)
    top = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:TOP_TERMS]
    theme.terms = [shown.get(t, t) for t, _n in top]
    if label:
        theme.label = naming.label_from_visible(
            texts, generic, theme.terms, main_category([r[1] for r in chosen])
        )


def carry_over(session):
    """Apply every active edit, oldest first, to the themes of a rebuild just stored."""
    curations = session.exec(
        select(ThemeCuration).where(ThemeCuration.active.is_(True)).order_by(ThemeCuration.id)
    ).all()
    for curation in curations:
        where = _where(session)
        if curation.kind == "rename":
            target = _best(where, curation.factors)
            if target is not None:
                _pin(session, session.get(Theme, target), curation.label)
        elif curation.kind == "merge":
            source, into = _best(where, curation.factors), _best(where, curation.other)
            if source is not None and into is not None and source != into:
                _merge(session, session.get(Theme, source), session.get(Theme, into))
        elif curation.kind == "split":
            target = _best(where, list(curation.factors) + list(curation.other))
            if target is None:
                continue
            moving = {f for key, (t, f) in where.items() if t == target and key in curation.other}
            size = sum(1 for t, _f in where.values() if t == target)
            if moving and len(moving) < size:
                _split(session, session.get(Theme, target), moving, curation.label)
    session.flush()


def _where(session):
    """{factor key: (theme id, factor id)} of every membership now stored."""
    rows = session.exec(
        select(Factor.postmortem_id, Factor.position, ThemeFactor.theme_id, Factor.id).join(
            ThemeFactor, ThemeFactor.factor_id == Factor.id
        )
    ).all()
    return {_key(pm, pos): (theme, factor) for pm, pos, theme, factor in rows}


def _best(where, keys):
    """The theme holding most of `keys` (lowest id on a tie), or None."""
    counted = Counter(where[k][0] for k in keys if k in where)
    if not counted:
        return None
    return min(counted, key=lambda t: (-counted[t], t))


def history(session, limit=50):
    """The most recent edits, newest first."""
    return session.exec(select(ThemeCuration).order_by(ThemeCuration.id.desc()).limit(limit)).all()


def theme_choices(session, exclude):
    """[(id, label)] of the other themes, biggest first, for the merge form (admins)."""
    rows = session.exec(select(Theme.id, Theme.label, Theme.size).where(Theme.id != exclude)).all()
    return [(i, label) for i, label, _size in sorted(rows, key=lambda r: (-r[2], r[0]))]
