"""The radar's numbers, counted on the in-memory snapshot of published postmortems
(kb.insights.snapshot) over what one reader may see."""

import numpy as np

from kb.insights import snapshot
from kb.insights.radar.result import ACTIONS_SHOWN, PAST_KINDS, THEMES_SHOWN
from kb.models import ACTION_STATUSES, KINDS, OPEN_ACTION_STATUSES, TRIGGERS


def count(snap, scope, services, trigger, exclude_id, today):
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
