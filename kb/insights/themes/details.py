"""A theme's details: its most central factors quoted, its services and action items."""

import copy
from collections import Counter

import numpy as np
from sqlalchemy import and_, func
from sqlalchemy.orm import aliased

from kb import accounts
from kb.insights import snapshot
from kb.insights.kpis import (
    memo,
)
from kb.insights.themes.members import central_factors, membership_query
from kb.models import (
    ACTION_STATUSES,
    ActionItem,
    Factor,
    Label,
    Postmortem,
    ThemeFactor,
)

MAX_QUOTES = 200  # on a theme's own page; its size says how many more there are


def add_details(views, session, user, *, quotes=3, list_actions=False):
    """Fill in quotes (one per postmortem first, most central first), services and actions.

    Every query joins the postmortems through the visibility filter again.
    """
    if not views:
        return views
    for view in views:
        view.quotes, view.services, view.actions = [], [], []
        view.actions_done = view.actions_total = 0
    wanted = list(views)
    for view in views:
        key = ("details", view.id, quotes, list_actions)
        found = _detail_cache(session, user).get(key)
        if found is not None:
            _apply(view, found)
            wanted.remove(view)
    _compute_details(wanted, session, user, quotes=quotes, list_actions=list_actions)
    for view in wanted:
        _detail_cache(session, user)[("details", view.id, quotes, list_actions)] = _taken(view)
    return views


def _detail_cache(session, user):
    """The details already computed for this scope and data version (see kpis.memo): a
    dict that fills up as themes are shown, dropped with the version it belongs to."""
    return memo(session, user, ("theme details",), dict)


def _taken(view):
    return copy.deepcopy(
        (view.quotes, view.services, view.actions, view.actions_done, view.actions_total)
    )


def _apply(view, found):
    quotes, services, actions, done, total = copy.deepcopy(found)
    view.quotes, view.services, view.actions = quotes, services, actions
    view.actions_done, view.actions_total = done, total


def _compute_details(views, session, user, *, quotes, list_actions):
    if not views:
        return
    for view in views:
        rows = central_factors(session, user, view.id, None if quotes is None else quotes * 4 + 20)
        # Quote one factor per postmortem first, so the quotes show the spread of incidents.
        seen, first_pass, rest = set(), [], []
        for row in rows:
            (rest if row[4] in seen else first_pass).append(row)
            seen.add(row[4])
        ordered = first_pass + rest
        view.quotes = [
            {
                "text": text,
                "ref": ref,
                "title": title,
                "index": position,
                "severity": severity,
                "started_at": started,
                "category": category,
            }
            for _id, text, position, category, _pm, ref, title, severity, started in (
                ordered if quotes is None else ordered[:quotes]
            )
        ]
    by_id = {v.id: v for v in views}
    if not list_actions:
        _count_services_and_actions(session, user, by_id)
        return
    service = aliased(Label)  # not correlated with the visibility filter's own Label
    pms = func.count(ThemeFactor.postmortem_id.distinct())
    for theme_id, value, count in session.exec(
        membership_query(session, user, by_id)
        .add_columns(ThemeFactor.theme_id, service.value, pms)
        .join(service, service.postmortem_id == ThemeFactor.postmortem_id)
        .where(service.field == "services")
        .group_by(ThemeFactor.theme_id, service.value)
        .order_by(ThemeFactor.theme_id, pms.desc(), service.value)
    ).all():
        by_id[theme_id].services.append((value, count))
    linked = (
        membership_query(session, user, by_id)
        .join(Factor, Factor.id == ThemeFactor.factor_id)
        .join(
            ActionItem,
            and_(
                ActionItem.postmortem_id == ThemeFactor.postmortem_id,
                ActionItem.factor == Factor.position,
            ),
        )
    )
    for theme_id, status, count in session.exec(
        linked.add_columns(ThemeFactor.theme_id, ActionItem.status, func.count()).group_by(
            ThemeFactor.theme_id, ActionItem.status
        )
    ).all():
        view = by_id[theme_id]
        view.actions_done += count if status == "done" else 0
        view.actions_total += count if status != "wont-do" else 0
    if list_actions:
        for theme_id, title, status, due, owner, ref in session.exec(
            linked.add_columns(
                ThemeFactor.theme_id,
                ActionItem.title,
                ActionItem.status,
                ActionItem.due,
                ActionItem.owner,
                Postmortem.ref,
            )
            .order_by(Postmortem.started_at.desc(), ActionItem.position)
            .limit(500)
        ).all():
            by_id[theme_id].actions.append(
                {"title": title, "status": status, "due": due, "owner": owner, "ref": ref}
            )


def _count_services_and_actions(session, user, by_id):
    """Services (by postmortems) and linked action items (done, total) of these themes, from
    the snapshot (kb.insights.snapshot): the numbers the SQL of _compute_details gives."""
    snap = snapshot.for_session(session)
    scope = accounts.scope_of(user)
    with snap.lock:
        snap.refresh(session)
        members = snap.themes.columns
        rows = snap.rows_of(snap.themes, snap.visible(scope))
        rows &= np.isin(members["theme"], list(by_id))
        slots = members["owner"][rows].astype(np.int64)
        theme = members["theme"][rows].astype(np.int64)
        position = members["position"][rows].astype(np.int64)
        # Services count postmortems: each (theme, postmortem) once.
        codes, span = snap.services.columns["code"].tolist(), snap.services.span
        per_service = Counter()
        for pair in np.unique(theme << 32 | slots).tolist():
            start, stop = span.get(pair & 0xFFFFFFFF, (0, 0))
            for code in codes[start:stop]:
                per_service[pair >> 32, snap.service_names[code]] += 1
        # Action items linked to a member factor: matched on (postmortem, factor position).
        actions = snap.actions.columns
        live = actions["owner"] >= 0
        factor = actions["factor"][live].astype(np.int64)
        keys = actions["owner"][live].astype(np.int64) << 32 | factor.clip(0)
        linked = factor >= 0
        member_keys = slots << 32 | position
        order = np.argsort(member_keys)
        found = np.searchsorted(member_keys[order], keys).clip(0, max(len(order) - 1, 0))
        linked &= member_keys[order][found] == keys if len(order) else False
        statuses = actions["status"][live][linked]
        of_theme = theme[order][found[linked]]
    for (theme_id, name), count in sorted(
        per_service.items(), key=lambda i: (i[0][0], -i[1], i[0][1])
    ):
        by_id[theme_id].services.append((name, count))
    done, wont = ACTION_STATUSES.index("done"), ACTION_STATUSES.index("wont-do")
    for theme_id, status in zip(of_theme.tolist(), statuses.tolist(), strict=True):
        by_id[theme_id].actions_done += status == done
        by_id[theme_id].actions_total += status != wont
