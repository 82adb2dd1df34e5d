"""What the editor and the reading page show of pre-mortems: a pre-mortem's choices and risks,
an incident's link to the pre-mortem that covered its change, and what happened after one.

Everything that names another postmortem comes from kb.premortems, through the visibility
filter: a pre-mortem the reader may not read is never named.
"""

from kb import premortems
from kb.insights import radar
from kb.models import DECISIONS, LEVELS

DECISION_LABELS = {"go": "Go", "go-with-conditions": "Go, with conditions", "no-go": "No go"}
LEVEL_RANK = {level: i for i, level in enumerate(LEVELS, start=1)}


def editor_context(db, pm, doc, user):
    """The pre-mortem parts of the editor for `doc` (the document or the form as sent)."""
    if doc.get("kind") == "pre-mortem":
        return {
            "decisions": [(d, DECISION_LABELS[d]) for d in DECISIONS],
            "levels": LEVELS,
            "radar_ref": pm.ref,
            # What went wrong before with its services and kind of change, as saved (the
            # panel follows the form as it is typed in: kb/static/radar.js).
            "radar": radar.for_postmortem(db, user, pm),
        }
    ref = doc.get("premortem")
    covering = premortems.covering(db, ref, user)
    return {
        "suggestions": premortems.readable(db, user),
        "covering": covering,
        # A stored link to a pre-mortem this person may not read: neither its ref nor its
        # risks are shown, and saving keeps it (kb.web.postmortem_form.read).
        "hidden_link": bool(ref) and covering is None and ref == pm.premortem,
        "outcomes": premortems.outcomes(covering, doc.get("foreseen")) if covering else [],
    }


def page_context(db, pm, user):
    """The pre-mortem parts of a postmortem's reading page."""
    if pm.kind == "pre-mortem":
        return {
            "decision": DECISION_LABELS.get(pm.decision),
            "risks": [_risk(number, risk) for number, risk in enumerate(pm.risks, start=1)],
            "after": premortems.after(db, pm, user),
            "radar": radar.for_postmortem(db, user, pm),
        }
    covering = premortems.covering(db, pm.premortem, user)
    return {
        "covering": covering,
        "outcomes": premortems.outcomes(covering, pm.foreseen) if covering else [],
    }


def _risk(number, risk):
    """A risk as the page shows it, with its exposure: likelihood × impact, 1 to 9."""
    likelihood, impact = risk.get("likelihood"), risk.get("impact")
    exposure = LEVEL_RANK.get(likelihood, 0) * LEVEL_RANK.get(impact, 0)
    level = "high" if exposure >= 6 else "medium" if exposure >= 3 else "low" if exposure else ""
    return {**risk, "number": number, "exposure": exposure, "level": level}
