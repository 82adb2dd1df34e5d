"""Adding imported entries to a timeline: those already in it (same time, same text) are left
out, and each new one goes before the first entry that is later than it, so a timeline in time
order stays in order and the writer's own order is never changed."""

from kb.timeline_sources.entries import same_key


def merged(timeline, entries):
    """(the new timeline, the rows added, how many were there already)."""
    rows = [dict(row) for row in timeline]
    seen = {same_key(row.get("at"), row.get("text")) for row in rows}
    added, duplicates = [], 0
    for entry in sorted(entries, key=lambda e: e.at):
        if entry.key in seen:
            duplicates += 1
            continue
        seen.add(entry.key)
        row = entry.as_row()
        position = next(
            (i for i, old in enumerate(rows) if old.get("at") and old["at"] > row["at"]),
            len(rows),
        )
        rows.insert(position, row)
        added.append(row)
    return rows, added, duplicates


def already_there(timeline, entries):
    """The keys of `entries` that the timeline holds already."""
    seen = {same_key(row.get("at"), row.get("text")) for row in timeline}
    return {entry.key for entry in entries if entry.key in seen}
