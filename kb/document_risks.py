"""A pre-mortem's parts of a document (its risks, decision and planned time) and an
incident's link to the pre-mortem that covered its change (`premortem`, `foreseen`).

kb/document.py reads them with these functions; the fields are in kb/document_format.py.
"""

from kb.document_checks import show
from kb.document_format import BY_NAME, MATERIALISED, REF_HINT, REF_RE, ROW_LIMITS, ROWS
from kb.models import LEVELS, MAX_INT

RISK_COLUMNS = {c.name: c for c in BY_NAME["risks"].columns}
FORESEEN_COLUMNS = {c.name: c for c in BY_NAME["foreseen"].columns}


def read(c, raw, doc, formal):
    """Add premortem, risks and foreseen to `doc`; check the fields that belong to one kind."""
    premortem_kind = doc["kind"] == "pre-mortem"
    doc["premortem"] = _premortem_ref(c, raw)
    doc["risks"] = _risks(c, raw, formal)
    doc["foreseen"] = _foreseen(c, raw)
    if premortem_kind:
        if doc["premortem"]:
            c.error("premortem", "a pre-mortem is not covered by another pre-mortem")
        if doc["foreseen"]:
            c.error("foreseen", "belongs to an incident, a near miss or a game day")
        if formal and doc["planned_at"] is None and not _failed(c, "planned_at"):
            c.error("planned_at", f"is required once a pre-mortem is {doc['status']}")
        if doc["status"] == "published" and doc["decision"] is None and not _failed(c, "decision"):
            c.error("decision", "is required once a pre-mortem is published")
        return
    for field, what in (("decision", "a decision"), ("planned_at", "a planned time")):
        if doc[field] is not None:
            c.error(field, f"only a pre-mortem has {what}")
    if doc["risks"]:
        c.error("risks", "only a pre-mortem has risks")
    if doc["foreseen"] and not doc["premortem"]:
        c.error("foreseen", "needs the pre-mortem it refers to (premortem)")


def _failed(c, field):
    return field in {e.field for e in c.errors}


def _premortem_ref(c, raw):
    ref = raw.get("premortem")
    if ref in (None, ""):
        return None
    if not isinstance(ref, str) or not REF_RE.match(ref.strip()):
        c.error("premortem", f"must be the ref of a pre-mortem: {REF_HINT} (got {show(ref)})")
        return None
    return ref.strip()


def _level(c, item, key, where):
    value = item.get(key)
    if value in (None, ""):
        return None
    if value not in LEVELS:
        c.error(f"{where}.{key}", f"must be one of {', '.join(LEVELS)} (got {show(value)})")
        return None
    return value


def _risks(c, raw, formal):
    risks = []
    for i, item in c.items(raw, "risks", ROW_LIMITS["risks"]):
        where = f"risks[{i}]"
        c.unknown_keys(item, ROWS["risks"], where)
        row = {}
        for key, column in RISK_COLUMNS.items():
            if column.kind == "choice":
                row[key] = _level(c, item, key, where)
                continue
            required = key == "text" and formal
            row[key] = c.text(
                item,
                key,
                where=where,
                required=required,
                min_len=3 * required,
                max_len=column.max_len,
                one_line=column.one_line,
            )
        row["text"] = row["text"] or ""
        risks.append(row)
    return risks


def _foreseen(c, raw):
    rows = []
    seen = set()
    for i, item in c.items(raw, "foreseen", ROW_LIMITS["foreseen"]):
        where = f"foreseen[{i}]"
        c.unknown_keys(item, ROWS["foreseen"], where)
        risk = item.get("risk")
        if not is_number(risk, 1, MAX_INT):
            c.error(f"{where}.risk", f"must be the number of a risk, from 1 (got {show(risk)})")
            continue
        if risk in seen:
            c.error(f"{where}.risk", f"risk {risk} is listed twice")
            continue
        seen.add(risk)
        materialised = item.get("materialised")
        if materialised in (None, ""):
            materialised = FORESEEN_COLUMNS["materialised"].default
        elif materialised not in MATERIALISED:
            c.error(f"{where}.materialised", f"must be yes or no (got {show(materialised)})")
            materialised = FORESEEN_COLUMNS["materialised"].default
        note = c.text(
            item, "note", where=where, max_len=FORESEEN_COLUMNS["note"].max_len, one_line=True
        )
        rows.append({"risk": risk, "materialised": materialised, "note": note})
    return rows


def is_number(value, low, high):
    """Whether `value` is a JSON integer (not true/false) from `low` to `high`."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_action_risk(c, item, where, risk_count):
    """An action item's `risk`: the number (from 1) of one of the document's risks, or None."""
    risk = item.get("risk")
    if risk is None:
        return None
    if is_number(risk, 1, max(risk_count, 1)) and risk_count:
        return risk
    if risk_count:
        c.error(f"{where}.risk", f"must be the number of a risk, from 1 to {risk_count}")
    else:
        c.error(f"{where}.risk", "points at a risk, but there are none")
    return None
