""" "Create in tracker": open an issue for an action item, then link the item to it through
the postmortem's write path (a revision).

Every function takes the session first, flushes and never commits; the caller commits once.
"""

import logging

from sqlmodel import select

from kb.document import to_document, validate
from kb.models import Tracker
from kb.postmortems import Conflict, save_document
from kb.trackers import kinds
from kb.trackers.http import DEFAULT_TIMEOUT, request_json, token
from kb.workflow import WorkflowError, can_edit

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3


def trackers_for_creating(session):
    """The trackers issues can be opened in (those given a project)."""
    return session.exec(
        select(Tracker).where(Tracker.project.is_not(None)).order_by(Tracker.id)
    ).all()


def description(pm, item, position, link):
    """The new issue's text: where the action comes from, and a link back to it.

    A restricted postmortem's title stays in Hindsight: the tracker may be read by others."""
    source = pm.ref if pm.visibility == "restricted" else f"{pm.ref}: {pm.title}"
    lines = [f"Action item {position + 1} of the postmortem {source}.", ""]
    if item["owner"]:
        lines.append(f"Owner: {item['owner']}")
    if item["due"]:
        lines.append(f"Due: {item['due']}")
    lines += ["", f"Postmortem: {link}"]
    return "\n".join(lines)


def create_issue(
    session, pm, position, tracker_id, actor, *, base_version, link, timeout=DEFAULT_TIMEOUT
):
    """Open an issue for action item `position` in tracker `tracker_id`; link the item to it.

    Only authors and admins who may edit the postmortem; refused (nothing created) when the
    item already has a link or the postmortem moved on from `base_version`. Returns the
    issue's URL. Raises WorkflowError, Conflict, or kb.trackers.http.TrackerError.
    """
    if not can_edit(actor, pm):
        raise WorkflowError("Only its authors and admins can open issues for its action items.")
    if base_version is not None and base_version != pm.version:
        raise Conflict(pm, base_version)
    doc = to_document(pm)
    if not 0 <= position < len(doc["action_items"]):
        raise WorkflowError(f"{pm.ref} has no action item {position + 1}.")
    item = doc["action_items"][position]
    if item["url"]:
        raise WorkflowError(f"Action item {position + 1} already links to {item['url']}.")
    tracker = session.get(Tracker, tracker_id) if tracker_id is not None else None
    if tracker is None or not tracker.project:
        raise WorkflowError("Choose a tracker with a project to open the issue in.")
    name = kinds.label(tracker)
    url_api, payload = kinds.create_request(
        tracker, item["title"], description(pm, item, position, link)
    )
    secret = token(tracker)
    headers = kinds.headers(tracker, secret)
    answer = request_json(
        url_api, headers=headers, label=name, payload=payload, timeout=timeout, secret=secret
    )
    url = kinds.created_url(tracker, answer)
    log.info("opened %s for action item %d of %s", url, position + 1, pm.ref)
    _link(session, pm, position, item["title"], url, actor, name)
    return url


def _link(session, pm, position, title, url, actor, name):
    """Store `url` on the item, on top of whatever was saved while the issue was opened, as
    long as the item is still there and has no link of its own."""
    note = f"action '{title[:80]}': issue opened in {name}"
    for _attempt in range(SAVE_ATTEMPTS):
        doc = to_document(pm)
        items = doc["action_items"]
        if position >= len(items) or items[position]["title"] != title or items[position]["url"]:
            break
        items[position]["url"] = url
        try:
            save_document(session, validate(doc), actor, note=note)
            return
        except Conflict:
            session.expire(pm)  # saved by someone else meanwhile: read theirs and try again
    raise Conflict(
        pm,
        None,
        f"{url} was opened, but {pm.ref} changed meanwhile and action item {position + 1} "
        f"could not be linked to it: add the link in the editor.",
    )
