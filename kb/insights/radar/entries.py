"""The entries the radar shows: the few rows its counts point at, read from the database by
id once the visibility rule allows them, each with its source and a suggested risk."""

from datetime import date

from sqlmodel import select

from kb.insights import similar
from kb.insights.radar.result import (
    ACTIONS_SHOWN,
    ChangeShare,
    RadarAction,
    RadarIncident,
    RadarTheme,
)
from kb.insights.themes import labels_as_seen
from kb.models import OPEN_ACTION_STATUSES, ActionItem, Label, Postmortem


def change_share(counted, services, trigger):
    """The share of the services' past incidents that followed a change of this kind."""
    share = ChangeShare(
        trigger=trigger,
        matching=counted["by_trigger"].get(trigger, 0),
        total=counted["incidents"],
        by_trigger=counted["by_trigger"],
        overall_matching=counted["overall_matching"],
        overall_total=counted["overall_total"],
    )
    if share.total:
        kind = trigger.replace("-", " ")
        names = ", ".join(services)
        share.source = (
            f"Change share: {share.matching} of {share.total} past incidents of {names} "
            f"followed a {kind}"
        )
        share.risk = (
            f"{round(100 * share.share)}% of past incidents on {names} followed a {kind}, "
            "and this change is one"
        )
    return share


def _labels(session, scope, theme_ids, known):
    """{theme id: label} as `scope` may be shown them. `known` remembers them (a dict the
    snapshot keeps per scope until the data or the themes change): relabelling a theme from
    what a reader may see reads its factors."""
    missing = [theme_id for theme_id in theme_ids if theme_id not in known]
    if missing:
        known.update(labels_as_seen(session, scope, missing))
    return {theme_id: known[theme_id] for theme_id in theme_ids if theme_id in known}


def themes(session, scope, chosen, known_labels):
    """The themes counting.count chose, labelled as `scope` may see them, with their latest
    incident (`known_labels`: see _labels)."""
    if not chosen:
        return []
    candidates = {pm_id for _t, _n, ids in chosen for pm_id in ids}
    allowed = similar.published_and_visible(session, scope, sorted(candidates))
    rows = {
        pm_id: (ref, title, started)
        for pm_id, ref, title, started in session.exec(
            select(Postmortem.id, Postmortem.ref, Postmortem.title, Postmortem.started_at).where(
                Postmortem.id.in_(sorted(allowed))
            )
        ).all()
    }
    names = _labels(session, scope, [theme_id for theme_id, _n, _ids in chosen], known_labels)
    out = []
    for theme_id, count, ids in chosen:
        if theme_id not in names:
            continue  # removed by a rebuild since the snapshot was read
        seen = [(_moment(rows[i][2]), i) for i in ids if i in rows]
        ref, title, started = rows[max(seen)[1]] if seen else ("", "", None)
        label = names[theme_id]
        incidents = f"{count} past incident{'s' if count != 1 else ''}"
        out.append(
            RadarTheme(
                id=theme_id,
                label=label,
                count=count,
                latest_ref=ref,
                latest_title=title,
                latest_at=started,
                source=f"Theme: {label} ({incidents}, latest {ref})" if ref else label,
                risk=f"A recurrence of “{label}”, a theme of {incidents} on these services",
            )
        )
    return out


def _moment(started):
    return started.timestamp() if started is not None else float("-inf")


def actions(session, scope, pm_ids, services, today):
    """The first open action items of these postmortems: overdue first, then soonest due."""
    pm_ids = sorted(similar.published_and_visible(session, scope, pm_ids)) if pm_ids else []
    if not pm_ids:
        return []
    # Looked up by the postmortems' ids alone, and the rest decided here: given a condition
    # on status (or on a label's value, or the visibility filter's) too, the database would
    # rather scan that index, which holds thousands of rows, than read these few.
    rows = [
        row
        for row in session.exec(
            select(ActionItem, Postmortem.ref, Postmortem.title, Postmortem.id)
            .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
            .where(ActionItem.postmortem_id.in_(pm_ids))
        ).all()
        if row[0].status in OPEN_ACTION_STATUSES
    ]
    on = {}  # the change's services each of these few postmortems is about
    for pm_id, field_name, value in session.exec(
        select(Label.postmortem_id, Label.field, Label.value).where(Label.postmortem_id.in_(pm_ids))
    ).all():
        if field_name == "services" and value in services:
            on.setdefault(pm_id, []).append(value)

    def key(row):
        item, ref, _title, _id = row
        overdue = item.due is not None and item.due < today
        return (not overdue, item.due is None, item.due or date.max, ref, item.position)

    out = []
    for item, ref, title, pm_id in sorted(rows, key=key)[:ACTIONS_SHOWN]:
        overdue = item.due is not None and item.due < today
        late = f", overdue since {item.due.isoformat()}" if overdue else ""
        out.append(
            RadarAction(
                title=item.title,
                owner=item.owner,
                due=item.due,
                overdue=overdue,
                status=item.status,
                ref=ref,
                postmortem_title=title,
                services=sorted(on.get(pm_id, [])),
                source=f"Open action: {item.title} ({ref}{late})",
                risk=f"Still open after {ref}: {item.title}",
            )
        )
    return out


def incident(item):
    """A similar past incident (from kb.insights.similar.suggest) as an entry."""
    shared = item["shared"]
    return RadarIncident(
        ref=item["ref"],
        title=item["title"],
        kind=item.get("kind", "incident"),
        started_at=item["started_at"],
        score=item["score"],
        services=list(shared.get("services", [])),
        terms=list(shared.get("terms", [])),
        themes=[t["label"] for t in shared.get("themes", [])],
        source=f"{item['ref']}: {item['title']}",
        risk=f"A repeat of {item['ref']}: {item['title']}",
    )
