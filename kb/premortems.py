"""Pre-mortems: their mitigations as action items, the pre-mortems a person may name, and the
links between a pre-mortem and the incidents, near misses and game days that name it.

Every list here is a read path: it goes through the visibility filter of kb.accounts, so a
pre-mortem (or an incident) someone may not read never shows, not even by its ref.
Every function takes the session first and never commits.
"""

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from kb import accounts
from kb.document_format import ROW_LIMITS
from kb.models import INCIDENT_KINDS, Postmortem

SUGGESTIONS = 200  # the most pre-mortems offered in the editor's suggestion list
AFTER = 100  # the most incidents listed under "What happened after"
TITLE_MAX = 300  # an action item's title


def with_mitigation_actions(doc):
    """The document with an action item for each risk's mitigation that has none linked yet.

    "Mitigations become action items": a risk with a mitigation gets one (title from the
    mitigation's first line, owner from the risk's owner, `risk` its number), once. An item
    already linked to the risk, whatever it became (done, won't do, reworded), stands for it.
    """
    if doc.get("kind") != "pre-mortem" or not doc.get("risks"):
        return doc
    linked = {a.get("risk") for a in doc.get("action_items") or []}
    room = ROW_LIMITS["action_items"] - len(doc.get("action_items") or [])
    added = []
    for number, risk in enumerate(doc["risks"], start=1):
        title = ((risk.get("mitigation") or "").strip().splitlines() or [""])[0].strip()
        if number in linked or len(title) < 3:
            continue
        if len(added) >= room:  # the format's limit: the rest wait for a free row
            break
        if len(title) > TITLE_MAX:
            title = title[: TITLE_MAX - 1].rstrip() + "…"
        added.append(
            {
                "title": title,
                "owner": risk.get("owner"),
                "due": None,
                "status": "open",
                "url": None,
                "factor": None,
                "risk": number,
            }
        )
    if not added:
        return doc
    return {**doc, "action_items": [*doc.get("action_items", []), *added]}


def readable(session, user, limit=SUGGESTIONS):
    """[(ref, title)] of the pre-mortems `user` may read, the latest planned first."""
    newest = func.coalesce(Postmortem.planned_at, Postmortem.created_at)
    rows = session.exec(
        select(Postmortem.ref, Postmortem.title)
        .where(Postmortem.kind == "pre-mortem", accounts.visibility_filter(user))
        .order_by(newest.desc(), Postmortem.id.desc())
        .limit(limit)
    ).all()
    return [(ref, title) for ref, title in rows]


def covering(session, ref, user):
    """The pre-mortem named `ref`, if it exists and `user` may read it, else None."""
    if not ref:
        return None
    return session.exec(
        select(Postmortem).where(
            func.lower(Postmortem.ref) == str(ref).lower(),
            Postmortem.kind == "pre-mortem",
            accounts.visibility_filter(user),
        )
    ).first()


@dataclass(frozen=True)
class Outcome:
    """One risk of a pre-mortem, as an incident that names the pre-mortem judged it."""

    number: int
    text: str
    materialised: str | None  # yes | no | None: not said
    note: str | None


def outcomes(premortem, foreseen):
    """Each risk of `premortem`, with what `foreseen` (an incident's) says of it, in the
    risks' order."""
    said = {row.get("risk"): row for row in foreseen or []}
    return [
        Outcome(
            number,
            risk.get("text") or "",
            said.get(number, {}).get("materialised"),
            said.get(number, {}).get("note"),
        )
        for number, risk in enumerate(premortem.risks, start=1)
    ]


def after(session, premortem, user, limit=AFTER):
    """[(incident, [Outcome])]: the incidents, near misses and game days that name
    `premortem` and that `user` may read, the earliest first."""
    if premortem.kind != "pre-mortem":
        return []
    started = func.coalesce(Postmortem.started_at, Postmortem.created_at)
    found = session.exec(
        select(Postmortem)
        .where(
            Postmortem.premortem == premortem.ref,
            Postmortem.kind.in_(INCIDENT_KINDS),
            accounts.visibility_filter(user),
        )
        .order_by(started, Postmortem.id)
        .limit(limit)
    ).all()
    return [(incident, outcomes(premortem, incident.foreseen)) for incident in found]


def hidden_link(session, doc, user):
    """Whether `doc` names a pre-mortem `user` may not read (or that does not exist)."""
    return bool(doc.get("premortem")) and covering(session, doc["premortem"], user) is None


def redacted(session, doc, user):
    """`doc` as `user` may see it: without the ref (and the foreseen risks) of a pre-mortem
    they may not read. The API and the history show documents through it."""
    if not hidden_link(session, doc, user):
        return doc
    return {**doc, "premortem": None, "foreseen": []}


def keep_hidden_link(session, doc, current, user):
    """`doc` with the stored link to a pre-mortem `user` may not read, when `doc` leaves it
    out (as `redacted` showed it to them): their saves neither see nor drop it."""
    if doc.get("premortem") or doc.get("foreseen") or not hidden_link(session, current, user):
        return doc
    return {**doc, "premortem": current["premortem"], "foreseen": current["foreseen"]}
