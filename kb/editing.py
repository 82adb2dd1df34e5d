"""A person's edits of a postmortem: start one, update it, save a draft as it is typed,
restore an earlier revision. Each is checked by kb.workflow's rules, then saved by
kb.postmortems.save_document.

Every function takes the session first, flushes and never commits; the caller commits once.
"""

import copy
import re

from kb import audit, owners, premortems, revisions
from kb.document import DocumentError, FieldError, to_document, validate
from kb.document_checks import premortem_errors
from kb.document_format import ROW_LIMITS
from kb.postmortems import save_document
from kb.timeline_sources.merge import merged
from kb.workflow import WorkflowError, check_edit, check_editor, check_new


def create_draft(session, title, actor, *, kind="incident"):
    """Start a postmortem from a title; the author is the person who started it."""
    raw = {"title": title, "kind": kind, "authors": [actor.email] if actor else []}
    pm, _ = save_document(session, validate(raw), actor, note="created")
    return pm


def create(session, raw, actor, *, note="created"):
    """Create a postmortem for a person from a raw document: always as a draft (check_new).

    Returns (postmortem, created): not created when a postmortem with the document's ref
    appeared meanwhile (the caller refuses that as a conflict).
    """
    doc = validate(raw)
    check_new(doc)
    errors = premortem_errors(session, doc, actor)
    if errors:
        raise DocumentError(errors)
    return save_document(session, premortems.with_mitigation_actions(doc), actor, note=note)


def update(session, pm, raw, actor, *, base_version, note="", amendment=""):
    """Save an edited document on top of `base_version`, within the rules of check_edit.

    `raw` may leave out status and published_at (they are kept); when it gives them, they
    must be the current ones. On a published postmortem `amendment` is the required note.
    All or nothing: a document with any error changes nothing (the API, import, restore).
    """
    current = _prepare(actor, pm)
    doc = validate(_with_kept(raw, pm, current))
    if doc["kind"] != "pre-mortem":
        doc = premortems.keep_hidden_link(session, doc, current, actor)
    errors = premortem_errors(session, doc, actor, current)
    if errors:
        raise DocumentError(errors)
    return _save_edit(session, pm, doc, actor, base_version, note, amendment)


def save_draft(session, pm, raw, actor, *, base_version, note="", amendment=""):
    """Save what the editor sends, except values that cannot be stored: (pm, changed, refused).

    Writing is never blocked by one bad value: each refused value (a FieldError in `refused`)
    is replaced by the stored one (or left out of a list), and everything else is saved. A
    published postmortem changes only by amendment, all or nothing, as `update`.
    """
    current = _prepare(actor, pm)
    raw = _with_kept(raw, pm, current)
    try:
        doc = validate(raw)
        refused = []
    except DocumentError as exc:
        if pm.status == "published":
            raise
        refused = exc.errors
        doc = _storable(raw, current, refused)
    errors = premortem_errors(session, doc, actor, current)
    if errors:
        if pm.status == "published":
            raise DocumentError(errors)
        # The link falls back whole: foreseen risks mean nothing without their pre-mortem.
        refused = [*refused, *errors]
        doc = {**doc, "premortem": current["premortem"], "foreseen": current["foreseen"]}
    pm, changed = _save_edit(session, pm, doc, actor, base_version, note, amendment)
    return pm, changed, refused


_PATH_RE = re.compile(r"^(\w+)(?:\[(\d+)\](?:\.(\w+))?)?$")


def _storable(raw, current, errors):
    """`raw` with every refused value replaced by the stored one; raise when that is not enough.

    First each value at fault (a field, a list entry, one key of a row) falls back alone; a
    field that is still refused then falls back whole.
    """
    raw = copy.deepcopy(raw)
    fields = set()
    dropped = {}
    for error in errors:
        match = _PATH_RE.match(error.field)
        if match is None or match.group(1) not in current or match.group(1) in ("ref", "format"):
            raise DocumentError(errors)
        field, index, key = match.group(1), match.group(2), match.group(3)
        fields.add(field)
        value = raw.get(field)
        if index is None or not isinstance(value, list) or int(index) >= len(value):
            raw[field] = current[field]
        elif key is None:
            dropped.setdefault(field, set()).add(int(index))
        elif isinstance(value[int(index)], dict):
            stored = current[field][int(index)] if int(index) < len(current[field]) else {}
            value[int(index)][key] = stored.get(key)
    for field, indices in dropped.items():
        if isinstance(raw.get(field), list):
            raw[field] = [v for i, v in enumerate(raw[field]) if i not in indices]
    try:
        return validate(raw)
    except DocumentError as again:
        for error in again.errors:
            match = _PATH_RE.match(error.field)
            if match is None or match.group(1) not in current:
                raise DocumentError(errors) from again
            raw[match.group(1)] = current[match.group(1)]
    try:
        return validate(raw)
    except DocumentError as last:
        raise DocumentError(errors) from last


def _prepare(actor, pm):
    check_editor(actor, pm)
    return to_document(pm)


def _with_kept(raw, pm, current):
    raw = {**raw, "ref": pm.ref}
    for field in ("status", "published_at"):
        if raw.get(field) is None:
            raw[field] = current[field]
    return raw


def _save_edit(session, pm, doc, actor, base_version, note, amendment):
    doc = owners.normalise_document(session, premortems.with_mitigation_actions(doc))
    text = check_edit(pm, doc, actor, note=note, amendment=amendment)
    if text:
        note = f"amended: {text}" if note in ("", "edited") else f"{note}; amended: {text}"
    pm, changed = save_document(session, doc, actor, base_version=base_version, note=note)
    if changed and text:
        revisions.latest(session, pm).amendment = text
        audit.record(session, actor, "amend", pm.ref, text)
        session.flush()
    return pm, changed


def add_timeline_entries(session, pm, entries, actor, *, base_version, note, amendment=""):
    """Add chosen entries (timeline_sources.Entry) to the timeline on top of `base_version`,
    all or nothing: (pm, rows added, how many were there already). Entries the timeline holds
    already (same time and text) are left out; the rest go in time order (merge.merged)."""
    current = _prepare(actor, pm)
    timeline, added, duplicates = merged(current["timeline"], entries)
    if not added:
        return pm, added, duplicates
    limit = ROW_LIMITS["timeline"]
    if len(timeline) > limit:
        raise DocumentError(
            [
                FieldError(
                    "timeline",
                    f"would hold {len(timeline):,} entries; a timeline holds at most {limit}: "
                    f"choose at most {limit - (len(timeline) - len(added)):,}",
                )
            ]
        )
    raw = {**current, "timeline": timeline}
    pm, _changed = update(
        session, pm, raw, actor, base_version=base_version, note=note, amendment=amendment
    )
    return pm, added, duplicates


RESTORE_KEEPS = ("status", "published_at", "visibility", "readers")


def restored_document(session, pm, number):
    """The document restoring revision `number` would save (what the confirmation shows)."""
    old = revisions.get(session, pm, number)
    if old is None:
        raise WorkflowError(f"{pm.ref} has no revision {number}.")
    current = to_document(pm)
    return {**old.document, **{field: current[field] for field in RESTORE_KEEPS}}


def restore(session, pm, number, actor, *, base_version=None, amendment=""):
    """Make an earlier revision's content current again (as a new revision).

    Status, published_at, visibility and readers stay as they are now: an old revision is
    content, not a way around review or around who may read it.
    """
    raw = restored_document(session, pm, number)
    return update(
        session,
        pm,
        raw,
        actor,
        base_version=base_version,
        note=f"restored revision {number}",
        amendment=amendment,
    )
