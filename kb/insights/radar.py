"""The risk radar: what past incidents say about a planned change, while it is planned.

For the services a change touches, its kind (the trigger) and the text written so far, the
radar lists the recurring themes those services' past incidents belong to, the most similar
past incidents and near misses, the action items still open on those services, and the share
of those services' incidents that followed a change of the same kind. Each entry carries a
`source` to quote and a suggested risk, so that it can be added to a pre-mortem as it is.

Past incidents are published postmortems of kind incident or near-miss (what the
organisation has learnt), read through the visibility rule: every list, count and share is
computed over the postmortems the reader may see, so none of them reveals a restricted one.
The counts come from the in-memory snapshot of published postmortems (kb.insights.snapshot,
followed through the change log); the few rows shown are read from the database, through
the visibility filter again.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlmodel import select

from kb import accounts
from kb.document import normalise_name
from kb.document_format import NAME_HINT, NAME_RE
from kb.insights import similar, snapshot
from kb.insights.kpis import memo, published
from kb.insights.themes import labels_as_seen
from kb.models import (
    ACTION_STATUSES,
    KINDS,
    OPEN_ACTION_STATUSES,
    SECTIONS,
    TRIGGERS,
    ActionItem,
    Label,
    Postmortem,
)

PAST_KINDS = ("incident", "near-miss")  # never pre-mortems or game days
MAX_SERVICES = 30
MAX_TEXT = 20_000  # characters of text considered (similar.MAX_QUERY_TEXT)
THEMES_SHOWN = 5
SIMILAR_SHOWN = 8
ACTIONS_SHOWN = 10


class RadarInputError(ValueError):
    """Input the radar cannot take; `field` names it."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class Entry:
    """What every entry carries: where it comes from, quotable, and a risk to suggest."""

    source: str = ""
    risk: str = ""


@dataclass
class RadarTheme(Entry):
    id: int = 0
    label: str = ""
    count: int = 0  # past incidents of the services in this theme
    latest_ref: str = ""
    latest_title: str = ""
    latest_at: datetime | None = None


@dataclass
class RadarIncident(Entry):
    ref: str = ""
    title: str = ""
    kind: str = ""
    started_at: datetime | None = None
    score: float = 0.0
    services: list = field(default_factory=list)  # shared with the change
    terms: list = field(default_factory=list)  # shared words
    themes: list = field(default_factory=list)  # labels of shared themes


@dataclass
class RadarAction(Entry):
    title: str = ""
    owner: str | None = None
    due: date | None = None
    overdue: bool = False
    status: str = "open"
    ref: str = ""
    postmortem_title: str = ""
    services: list = field(default_factory=list)  # which of the change's services


@dataclass
class ChangeShare(Entry):
    trigger: str = "unknown"
    matching: int = 0  # past incidents of the services that followed this trigger
    total: int = 0  # past incidents of the services
    by_trigger: dict = field(default_factory=dict)
    overall_matching: int = 0  # the same, over every service
    overall_total: int = 0

    @property
    def share(self):
        """matching / total, or None without incidents."""
        return self.matching / self.total if self.total else None

    @property
    def overall_share(self):
        """The share over every service, for comparison."""
        return self.overall_matching / self.overall_total if self.overall_total else None


@dataclass
class Radar:
    services: list
    trigger: str
    incidents: int = 0  # past incidents of the services the reader may see
    themes: list = field(default_factory=list)
    similar: list = field(default_factory=list)
    open_actions: list = field(default_factory=list)
    open_total: int = 0
    overdue_total: int = 0
    change_share: ChangeShare | None = None


def clean_input(services, trigger, text):
    """(services, trigger, text) checked and normalised, or RadarInputError naming the field.

    Services are names as the document stores them (kb.document.normalise_name, then
    NAME_RE), at most MAX_SERVICES; the trigger one of TRIGGERS; text at most MAX_TEXT.
    """
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise RadarInputError("services", "must be a list of service names")
    names = []
    for raw in services:
        name = normalise_name(raw)
        if not name:
            continue
        if not NAME_RE.match(name):
            raise RadarInputError("services", f"{raw[:80]!r} is not {NAME_HINT}")
        if name not in names:
            names.append(name)
    if len(names) > MAX_SERVICES:
        raise RadarInputError("services", f"at most {MAX_SERVICES} services")
    if trigger is None or trigger == "":
        trigger = "unknown"
    if not isinstance(trigger, str) or trigger not in TRIGGERS:
        raise RadarInputError("trigger", f"must be one of {', '.join(TRIGGERS)}")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise RadarInputError("text", "must be text")
    if len(text) > MAX_TEXT:
        raise RadarInputError("text", f"must be at most {MAX_TEXT:,} characters")
    return names, trigger, text


def text_of(pm):
    """The text of a postmortem the radar reads: its title and every section."""
    parts = [pm.title or ""] + [getattr(pm, name, "") or "" for name in SECTIONS]
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def for_postmortem(session, user, pm, today=None):
    """The radar of a stored postmortem: its services, trigger and text, itself left out."""
    return radar(
        session,
        user,
        pm.label_values("services")[:MAX_SERVICES],
        pm.trigger if pm.trigger in TRIGGERS else "unknown",
        text_of(pm),
        exclude_id=pm.id,
        today=today,
    )


def radar(session, user, services, trigger, text, exclude_id=None, today=None):
    """The radar for a change to `services` of kind `trigger` described by `text`, as `user`
    (a user, or an accounts.Scope) may see it. Input as clean_input returns it."""
    scope = user if isinstance(user, accounts.Scope) else accounts.scope_of(user)
    services, text = list(services)[:MAX_SERVICES], (text or "")[:MAX_TEXT]
    today = today or datetime.now(UTC).date()
    result = Radar(services=services, trigger=trigger)
    snap = snapshot.for_session(session)
    with snap.lock:
        snap.refresh(session)
        # Typing changes the text far more often than the services or the trigger: the
        # counts are kept until the data changes (read-only from here on).
        counted = snap.cached(
            ("radar", scope, tuple(services), trigger, exclude_id, today),
            lambda: _count(snap, scope, services, trigger, exclude_id, today),
        )
    result.incidents = counted["incidents"]
    result.change_share = _change_share(counted, services, trigger)
    shown = published(scope)  # the few rows shown are read through the visibility filter
    result.themes = _themes(session, scope, shown, counted["themes"])
    result.open_actions = _actions(session, shown, counted["actions"], services, today)
    result.open_total, result.overdue_total = counted["open"], counted["overdue"]
    found = similar.suggest(
        session,
        scope,
        text,
        limit=SIMILAR_SHOWN,
        services=services,
        exclude=exclude_id,
        kinds=PAST_KINDS,
    )
    result.similar = [_incident(item) for item in found]
    return result


# --- counting, from the snapshot ------------------------------------------------------------


def _count(snap, scope, services, trigger, exclude_id, today):
    """The numbers, over what `scope` may see; with the snapshot's lock held."""
    size = snap.size
    visible = snap.cached(("radar-visible", scope), lambda: snap.visible(scope))
    past_kinds = visible & _one_of(
        snap.columns["kind"][:size], [KINDS.index(k) for k in PAST_KINDS]
    )
    if exclude_id in snap.slot_of:
        past_kinds[snap.slot_of[exclude_id]] = False
    wanted_names = set(services)
    codes = [code for code, name in enumerate(snap.service_names) if name in wanted_names]
    rows = snap.rows_of(snap.services, past_kinds)
    rows &= _one_of(snap.services.columns["code"], codes)
    past = np.zeros(size, bool)
    past[snap.services.columns["owner"][rows]] = True
    triggers = snap.columns["trigger"][:size].astype(np.int64) + 1  # -1 (unknown value) -> 0
    wanted = TRIGGERS.index(trigger) + 1
    by_trigger = np.bincount(triggers[past], minlength=len(TRIGGERS) + 1)
    counted = {
        "incidents": int(past.sum()),
        "by_trigger": {
            TRIGGERS[code - 1]: int(n) for code, n in enumerate(by_trigger.tolist()) if code and n
        },
        "overall_matching": int((triggers[past_kinds] == wanted).sum()),
        "overall_total": int(past_kinds.sum()),
    }
    counted.update(_theme_counts(snap, past))
    counted.update(_action_rows(snap, past, today))
    return counted


def _one_of(codes, wanted):
    """A mask of the `codes` (small non-negative integers, -1 for none) that are in `wanted`:
    a lookup table, where np.isin would sort."""
    table = np.zeros(max([*wanted, int(codes.max(initial=0))]) + 2, bool)
    table[list(wanted)] = True
    return table[codes]


def _theme_counts(snap, past):
    """The themes with most past incidents: [(theme id, count, candidate ids for latest)]."""
    members = snap.themes.columns
    rows = snap.rows_of(snap.themes, past)
    if not rows.any():
        return {"themes": []}
    # Each (theme, postmortem) once: a postmortem with two factors in a theme is one incident.
    pairs = np.sort(members["theme"][rows].astype(np.int64) << 32 | members["owner"][rows])
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    themes, slots = pairs >> 32, pairs & 0xFFFFFFFF
    starts = np.flatnonzero(np.r_[True, themes[1:] != themes[:-1]])  # sorted: runs of a theme
    ids, counts = themes[starts], np.diff(np.r_[starts, len(themes)])
    top = np.lexsort((ids, -counts))[:THEMES_SHOWN]
    month = snap.columns["month"]
    chosen = []
    for theme_id, count in zip(ids[top].tolist(), counts[top].tolist(), strict=True):
        own = slots[themes == theme_id]
        months = month[own]
        latest = own[months == months.max()]  # the latest month's incidents: the latest is one
        chosen.append((theme_id, count, snap.columns["id"][latest].tolist()))
    return {"themes": chosen}


def _action_rows(snap, past, today):
    """Open action items of the past incidents: counts, and the postmortem ids of the first
    ACTIONS_SHOWN (overdue first, then soonest due) and of any that tie with the last."""
    actions = snap.actions.columns
    open_codes = [ACTION_STATUSES.index(s) for s in OPEN_ACTION_STATUSES]
    rows = snap.rows_of(snap.actions, past) & _one_of(actions["status"], open_codes)
    due = actions["due"][rows].astype(np.int64)
    undated = due == snapshot.NO_DUE
    overdue = ~undated & (due < today.toordinal())
    if not len(due):
        return {"open": 0, "overdue": 0, "actions": []}
    key = np.where(overdue, 0, 1) * 10**8 + np.where(undated, 10**8 - 1, due)
    shown = min(ACTIONS_SHOWN, len(key))
    cut = np.partition(key, shown - 1)[shown - 1]  # the key of the last one shown
    owners = actions["owner"][rows][key <= cut]
    return {
        "open": int(len(due)),
        "overdue": int(overdue.sum()),
        "actions": sorted(set(snap.columns["id"][owners].tolist())),
    }


def _change_share(counted, services, trigger):
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


# --- the rows shown, read through the visibility filter -------------------------------------


def _labels(session, scope, theme_ids):
    """{theme id: label} as `scope` may be shown them, remembered until the data or the
    themes change (kb.insights.kpis.memo): relabelling a theme from what a reader may see
    reads its factors."""
    known = memo(session, scope, ("radar theme labels",), dict)
    missing = [theme_id for theme_id in theme_ids if theme_id not in known]
    if missing:
        known.update(labels_as_seen(session, scope, missing))
    return {theme_id: known[theme_id] for theme_id in theme_ids if theme_id in known}


def _themes(session, scope, shown, chosen):
    if not chosen:
        return []
    candidates = {pm_id for _t, _n, ids in chosen for pm_id in ids}
    rows = {
        pm_id: (ref, title, started)
        for pm_id, ref, title, started in session.exec(
            select(Postmortem.id, Postmortem.ref, Postmortem.title, Postmortem.started_at).where(
                Postmortem.id.in_(sorted(candidates)), shown
            )
        ).all()
    }
    names = _labels(session, scope, [theme_id for theme_id, _n, _ids in chosen])
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


def _actions(session, shown, pm_ids, services, today):
    if not pm_ids:
        return []
    # Looked up by the postmortems' ids alone, and the rest decided here: given a condition
    # on status (or on a label's value) too, SQLite would rather scan that index, which holds
    # tens of thousands of rows, than read the few rows of these postmortems.
    rows = [
        row
        for row in session.exec(
            select(ActionItem, Postmortem.ref, Postmortem.title, Postmortem.id)
            .join(Postmortem, Postmortem.id == ActionItem.postmortem_id)
            .where(ActionItem.postmortem_id.in_(pm_ids), shown)
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


def _incident(item):
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
