"""The digest's "anticipating failure" section: the month's postmortems that the pre-mortem
of their change saw coming."""

from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import select

from kb import accounts
from kb.digest.links import external
from kb.digest.model import Foreseen
from kb.insights.snapshot import materialised
from kb.models import Postmortem
from kb.months import month_begins, month_ends

MAX_FORESEEN = 10


def foreseen(session, scope, month, entry):
    """The month's published postmortems whose pre-mortem (published, and readable by
    `scope`) listed a risk that materialised."""
    candidates = session.exec(
        select(Postmortem.id, Postmortem.foreseen)
        .where(
            Postmortem.status == "published",
            accounts.visibility_filter(scope),
            Postmortem.published_at >= month_begins(month),
            Postmortem.published_at < month_ends(month),
            Postmortem.premortem.is_not(None),
        )
        .order_by(Postmortem.published_at, Postmortem.ref)
    ).all()
    chosen = [pm_id for pm_id, rows in candidates if materialised(rows)][:MAX_FORESEEN]
    rows = session.exec(
        select(Postmortem)
        .where(Postmortem.id.in_(chosen))
        .options(selectinload(Postmortem.labels))
        .order_by(Postmortem.published_at, Postmortem.ref)
    ).all()
    refs = sorted({pm.premortem.lower() for pm in rows})
    if not refs:
        return []
    covering = {
        pm.ref.lower(): pm
        for pm in session.exec(
            select(Postmortem).where(
                Postmortem.status == "published",
                Postmortem.kind == "pre-mortem",
                accounts.visibility_filter(scope),
                func.lower(Postmortem.ref).in_(refs),
            )
        )
    }
    found = []
    for pm in rows:
        premortem = covering.get(pm.premortem.lower())
        if premortem is None:
            continue
        risks = premortem.risks or []
        numbers = [
            row.get("risk")
            for row in pm.foreseen
            if isinstance(row, dict) and row.get("materialised") == "yes"
        ]
        found.append(
            Foreseen(
                entry=entry(pm),
                premortem_ref=premortem.ref,
                premortem_title=premortem.title,
                premortem_url=external("postmortems.show", ref=premortem.ref) or "",
                risks=tuple(
                    risks[n - 1].get("text", "")
                    for n in numbers
                    if isinstance(n, int) and 0 < n <= len(risks)
                ),
            )
        )
    return found
