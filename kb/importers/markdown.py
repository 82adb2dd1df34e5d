"""A postmortem written in free-form Markdown, mapped onto the template.

Sections come from headings of any level, bold labels (`**Summary:** text`), label lines
(`Summary:`, `SUMMARY`) and numbered labels, matched to the template's fields by the aliases
in kb/template.toml. A heading that names no field belongs to the field of the heading above
it; text under none goes to the notes section, so nothing of the original is lost.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from kb.document_format import AUTHOR_RE
from kb.importers import blocks, entries, frontmatter, headings
from kb.importers.times import Clock, find_date
from kb.models import SECTIONS

LISTS = ("timeline", "contributing_factors", "risks", "foreseen", "action_items", "links")
NOTES = "notes"
PREMORTEM_PARTS = ("risks", "change", "rollback")  # a pre-mortem's; another kind's go to notes
LABEL_LEVEL = 7  # label lines rank below every heading
TITLE_MAX = 200
_GENERIC = re.compile(
    r"^(?:post[\s-]?mortem|postmortems?|incident|report|rca|retrospective|review|project|"
    r"analysis|root cause analysis|0x[0-9a-f]+|[\W\d_]|of|the|an?|for)+$",
    re.I,
)
_PREFIX = re.compile(
    r"^(?:[\w ]{0,40}?\b)?"  # "Outage postmortem: ..."
    r"(?:(?:post[\s-]?mortem|incident|rca)(?:\s+report)?(?:\s+\d{4}-\d{2}-\d{2})?"
    r"(?:\s*[:\-–—]\s*|\s+for\s+|\s+of\s+))",
    re.I,
)
# A line about the document rather than the incident ("Here is a postmortem of ...").
_ABOUT = re.compile(r"\b(post[\s-]?mortems?|this (?:report|document))\b", re.I)
_META = re.compile(
    r"^(date|author|authors|owner|written by|participants|status|severity)\s*:\s*(.*)$", re.I
)
_URL = re.compile(r"https?://[^\s)>\]]+")


@dataclass
class Imported:
    """A document ready for kb.document.validate, and what the importer made of the file."""

    document: dict
    mapping: list = field(default_factory=list)  # (label as written, field or "notes")
    problems: list = field(default_factory=list)  # what was not understood
    images: list = field(default_factory=list)  # images the file shows by a relative path


@dataclass
class _Segment:
    label: str
    field: str | None
    level: int
    units: list = field(default_factory=list)
    also: list = field(default_factory=list)  # list fields the label names beside `field`


def read_markdown(text, *, name=""):
    """The document a Markdown postmortem holds (a draft unless its front matter says so)."""
    parsed = blocks.parse(text)
    found = Imported(document={}, images=[s for s in parsed.images if _local(s)])
    if parsed.front_matter_error:
        found.problems.append(parsed.front_matter_error)
    front = parsed.front_matter
    segments = _segments(parsed.units, found)
    doc = found.document
    # The lead: what comes before the first section (title, date and author lines, intro).
    lead_count = next((i for i, seg in enumerate(segments) if i and seg.field), len(segments))
    lead = [u for seg in segments[:lead_count] for u in seg.units]
    meta = _metadata(lead)
    title, title_text = _title(front, segments[:lead_count], lead, name)
    doc["title"] = title[:TITLE_MAX]
    given, names = frontmatter.fields(front, found)
    doc.update(given)
    doc.setdefault("status", "draft")
    meta["names"] += names
    day = frontmatter.day_of(front) or _date(title, meta, parsed.units)
    notes, prose = [], {f: [] for f in (*SECTIONS, NOTES)}
    lists = {f: [] for f in LISTS}
    intro = [u for u in lead if u.text not in (title, title_text) and u not in meta["units"]]
    if meta["units"]:
        prose[NOTES].append(meta["units"])
    if intro:
        prose["summary" if not _has(segments, "summary") else NOTES].append(intro)
    for segment in segments[lead_count:]:
        target = segment.field or NOTES
        if target in PREMORTEM_PARTS and doc.get("kind") != "pre-mortem":
            target = NOTES  # an incident's "Risks" heading: prose, not a pre-mortem's risks
        found.mapping.append((segment.label, target))
        if target in LISTS:
            lists[target].append(segment)
            continue
        prose[target].append(segment.units)
        for extra in segment.also:
            found.mapping.append((segment.label, extra))
            lists[extra].append(
                _Segment(segment.label, extra, segment.level, _first_part(segment.units))
            )
    for key, runs in prose.items():
        text = "\n\n".join(_markdown(units, parsed) for units in runs if units).strip()
        if text:
            doc[key] = text
    clock = Clock(day, meta.get("offset"))
    doc["timeline"] = entries.timeline(lists["timeline"], clock, notes)
    doc["contributing_factors"] = entries.factors(lists["contributing_factors"], notes)
    # Risks are a pre-mortem's (an incident's "Risks" text stays where it was filed).
    doc["risks"] = entries.risks(lists["risks"], notes) if doc.get("kind") == "pre-mortem" else []
    doc["foreseen"] = entries.foreseen(lists["foreseen"], notes) if doc.get("premortem") else []
    if lists["foreseen"] and not doc.get("premortem"):
        notes.extend(_markdown(s.units, parsed) for s in lists["foreseen"])
    doc["action_items"] = entries.actions(lists["action_items"], notes)
    doc["links"] = entries.links(lists["links"], notes)
    timed = [e["at"] for e in doc["timeline"] if e.get("at")]
    if timed:
        doc["started_at"] = timed[0]
    if notes:
        doc[NOTES] = "\n\n".join([doc.get(NOTES, ""), *notes]).strip()
    named = [p for p in meta["names"] if AUTHOR_RE.match(p)]
    if named:  # an author line of the file: names are kept as written (linked at save)
        doc["authors"] = list(dict.fromkeys([*doc.get("authors", []), *named]))[:20]
    for person in meta["names"]:
        if person not in named:
            found.problems.append(
                f"author {person!r} is not a name or an e-mail: kept in the notes"
            )
    return found


def _first_part(units):
    """The items of the first list, or else the first paragraph, of a run of units."""
    items = [u for u in units if u.item >= 0]
    if items:
        first = items[0]
        return [u for u in items if u.level == first.level or u.item == first.item]
    paragraph = next((u.paragraph for u in units if u.kind == "line"), None)
    return [u for u in units if u.kind == "line" and u.paragraph == paragraph]


def _local(source):
    """Whether an image source is a file beside the Markdown (not a URL or an absolute path)."""
    return not re.match(r"^([a-z][a-z0-9+.-]*:|/|#)", source, re.I) and ".." not in source


def relink(doc, urls):
    """The document with each image source in `urls` replaced by its URL in Hindsight."""
    for key in (*SECTIONS, NOTES):
        text = doc.get(key)
        if text:
            for source, url in urls.items():
                text = text.replace(f"]({source})", f"]({url})").replace(
                    f"]({source} ", f"]({url} "
                )
            doc[key] = text
    return doc


def _has(segments, name):
    return any(s.field == name for s in segments)


def _segments(units, found):
    """The file cut at every heading and label, each piece with the field it belongs to.

    A label naming a list field and a section ("Root cause and resolution") files its text
    in the section and its first paragraph or items as the list's entries. Once the last
    sections have been read, a label going back to one already read starts a retelling of
    the same postmortem, which is kept in the notes rather than read twice.
    """
    segments = [_Segment("", "preamble", 0)]
    stack = []  # (level, field) of the headings and labels above the current unit
    seen, retold = [], False
    for unit in units:
        current = segments[-1].field
        label, rest = (None, None) if retold else _label(unit, current, segments[-1].level)
        if label is None:
            segments[-1].units.append(unit)
            continue
        level = unit.level if unit.kind == "heading" else LABEL_LEVEL
        while stack and stack[-1][0] >= level:
            stack.pop()
        named = headings.fields_of(label)
        kept = []  # a heading that names no field stays in the text it heads
        if not named and unit.kind == "heading":
            inherited = next((f for _, f in reversed(stack) if f), None)
            named = [inherited] if inherited else []
            kept = [unit]
        main = next((f for f in named if f not in LISTS), named[0] if named else None)
        also = [f for f in named if f in LISTS and f != main]
        if (
            main
            and main in seen
            and seen[-1] in ("action_items", "lessons", "links")
            and (main in ("summary", "impact", "timeline"))
        ):
            retold = True
            found.problems.append(
                f"the postmortem is told a second time from {label!r} on: kept in the notes"
            )
            main, also, kept, rest = None, [], [unit], ""
        if main and main not in seen:
            seen.append(main)
        stack.append((level, main))
        segment = _Segment(label, main, level, units=kept, also=also)
        if rest:
            segment.units.append(blocks.Unit("line", rest, rest, -1, paragraph=unit.paragraph))
        segments.append(segment)
    return segments


def _label(unit, current, level_of_current=0):
    """(label, text after it) when the unit is a heading or a label, else (None, None).

    Inside a list section, a bold or plain label on a bullet is the list's own sub-heading
    ("**Detection:**" in a timeline), not a new section.
    """
    if unit.kind == "heading":
        return unit.text, ""
    if unit.kind not in ("line", "item") or not unit.text:
        return None, None
    in_list = unit.item >= 0 and not unit.ordered
    if in_list and current in LISTS and level_of_current != LABEL_LEVEL:
        return None, None
    text = unit.text.strip()
    if unit.bold:
        label = unit.bold.strip().rstrip(":").strip()
        after = text[len(unit.bold.strip()) :] if text.startswith(unit.bold.strip()) else ""
        if headings.exact(label) or (_heading_like(label) and headings.fields_of(label)):
            return label, after.lstrip(" :").strip()
    shouted = text.isupper() or text.endswith(":")
    if _heading_like(text) and (headings.exact(text) or (shouted and headings.fields_of(text))):
        return text.rstrip(":").strip(), ""
    if ":" in text and (not in_list or unit.ordered):
        head, _, after = text.partition(":")
        if headings.exact(head) and not re.match(r"^\s*\d", after):
            return head.strip(), after.strip()
    return None, None


def _heading_like(text):
    """A short line that reads as a heading: at most eight words, no sentence inside."""
    words = text.rstrip(":").split()
    return 0 < len(words) <= 8 and not re.search(r"[.!?;]\s", text) and not text.endswith(".")


def _metadata(preamble):
    meta = {"units": [], "names": [], "date": None, "offset": None}
    for unit in preamble:
        match = _META.match(unit.text)
        if not match:
            continue
        meta["units"].append(unit)
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "date":
            meta["date"] = find_date(value)
        elif key.startswith(("author", "written", "owner")):
            for person in re.split(r",|;| and ", value.strip("[]")):
                person = person.strip(" []*_")
                if person:
                    meta["names"].append(person)
        elif key == "participants":
            meta["units"].remove(unit)  # kept with the preamble's text
    return meta


def _title(front, lead_segments, lead, name):
    """(title, the text it was taken from): the front matter's title, else the first heading
    or short line of the lead that is not a generic "Postmortem" (such a prefix dropped)."""
    given = str(front.get("title") or "").strip()
    if len(given) >= 3:
        return given, given
    candidates = [(u.text, True) for u in lead if u.kind == "heading"]
    candidates += [(seg.label, True) for seg in lead_segments[1:]]
    candidates += [(u.text, False) for u in lead if u.kind == "line" and len(u.text) <= 120][:4]
    for candidate, heading in candidates:
        cleaned = _PREFIX.sub("", candidate).strip(" *_#:-–—.")
        if _titled(cleaned, heading):
            return cleaned, candidate
    stem = Path(name).stem if name else ""
    stem = re.sub(r"^\d+[-_]", "", stem).replace("-", " ").replace("_", " ").strip()
    return ((stem[:1].upper() + stem[1:]) if len(stem) >= 3 else "Imported postmortem"), None


def _titled(text, heading=True):
    """Whether `text` can be a title: a short line, not generic, not a link or a sentence,
    not about the document itself; a line that is no heading has two words or more."""
    return (
        3 <= len(text) <= 120
        and (heading or len(text.split()) >= 2)
        and not _ABOUT.search(text)
        and len(text.split()) <= 14
        and not _GENERIC.match(text)
        and not _META.match(text)
        and not _URL.search(text)
        and not re.search(r"[.!?]\s", text)
    )


def _date(title, meta, units):
    for text in (title, *(u.text for u in units[:80])):
        day = meta["date"] or find_date(text)
        if day:
            return day
    return None


def _markdown(units, parsed):
    """The Markdown of a run of units exactly as the file has it (the lines from the first
    unit to the last, blank lines and table rules included), prose indented by mistake
    dedented. A unit made by the importer (text after a label) comes first."""
    made = [u.source for u in units if u.line < 0]
    real = [u for u in units if u.line >= 0]
    body = []
    if real:
        first = min(u.line for u in real)
        last = max(u.line + u.source.count("\n") for u in real)
        for number in range(first, last + 1):
            line = parsed.lines[number] if number < len(parsed.lines) else ""
            body.append(line.strip() if number in parsed.dedented else line)
    return "\n".join([*made, *([""] if made and body else []), *body]).strip()
