"""Postmortems read from the database as index documents (plain queries, no ORM).

A batch of rows is read with three more queries (labels, factors, action items) rather than
one per postmortem, and turned into index fields by kb.search.schema.fields_for (in the
processes that index them, during a rebuild in several processes).
"""

from collections import defaultdict

from sqlalchemy import func, select

from kb.document_format import CHOICES
from kb.models import SECTIONS, ActionItem, Factor, Label, Postmortem
from kb.search import schema

READ_BATCH = 1000  # postmortems read per query during a rebuild

_SCALARS = (
    "id",
    "ref",
    "title",
    *CHOICES,
    "started_at",
    "planned_at",
    "created_at",
    "version",
    "timeline",
    "risks",
    *SECTIONS,
)


def load_documents(session, ids):
    """{postmortem id: index fields} for the given ids that still exist (plain queries, no ORM)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    pm = Postmortem.__table__
    columns = [pm.c[name] for name in dict.fromkeys(_SCALARS)]
    rows = session.execute(select(*columns).where(pm.c.id.in_(ids))).mappings().all()
    return {source[0]: fields_of(source) for source in _sources_for_rows(session, rows)}


def fields_of(source):
    """The index fields of a postmortem as iter_all_sources() yields it."""
    pid, doc, version, created_at = source
    return schema.fields_for(pid, doc, version=version, created_at=created_at)


def iter_all_documents(session, batch=READ_BATCH):
    """Every postmortem as index fields, in id order, `batch` at a time."""
    return map(fields_of, iter_all_sources(session, batch))


def iter_all_sources(session, batch=READ_BATCH, *, after=0, upto=None):
    """Every postmortem (with `after` < id <= `upto`, when given) as it is read from the
    database, for fields_of(), in id order, `batch` at a time."""
    pm = Postmortem.__table__
    columns = [pm.c[name] for name in dict.fromkeys(_SCALARS)]
    last = after
    while True:
        query = select(*columns).where(pm.c.id > last).order_by(pm.c.id).limit(batch)
        if upto is not None:
            query = query.where(pm.c.id <= upto)
        rows = session.execute(query).mappings().all()
        if not rows:
            return
        yield from _sources_for_rows(session, rows)
        last = rows[-1]["id"]


def id_ranges(session, parts):
    """(after, upto) id bounds splitting the postmortems into `parts` ranges of about equal
    size, in id order; the last one is open-ended (upto None)."""
    pm = Postmortem.__table__
    total = session.execute(select(func.count()).select_from(pm)).scalar_one()
    bounds = [0]
    for k in range(1, parts):
        offset = total * k // parts
        if offset == 0:
            continue
        found = session.execute(
            select(pm.c.id).order_by(pm.c.id).offset(offset - 1).limit(1)
        ).scalar()
        if found is not None and found > bounds[-1]:
            bounds.append(found)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False)] + [(bounds[-1], None)]


def _sources_for_rows(session, rows):
    ids = [r["id"] for r in rows]
    labels = defaultdict(lambda: defaultdict(list))
    label = Label.__table__
    for pid, name, value in session.execute(
        select(label.c.postmortem_id, label.c.field, label.c.value)
        .where(label.c.postmortem_id.in_(ids))
        .order_by(label.c.postmortem_id, label.c.field, label.c.position)
    ):
        labels[pid][name].append(value)
    factors = defaultdict(list)
    factor = Factor.__table__
    for pid, text, category in session.execute(
        select(factor.c.postmortem_id, factor.c.text, factor.c.category)
        .where(factor.c.postmortem_id.in_(ids))
        .order_by(factor.c.postmortem_id, factor.c.position)
    ):
        factors[pid].append({"text": text, "category": category})
    actions = defaultdict(list)
    action = ActionItem.__table__
    for pid, title in session.execute(
        select(action.c.postmortem_id, action.c.title)
        .where(action.c.postmortem_id.in_(ids))
        .order_by(action.c.postmortem_id, action.c.position)
    ):
        actions[pid].append({"title": title})
    out = []
    for row in rows:
        doc = dict(row)
        doc.update(labels[row["id"]])
        doc["contributing_factors"] = factors[row["id"]]
        doc["action_items"] = actions[row["id"]]
        out.append((row["id"], doc, row["version"], row["created_at"]))
    return out
