"""A postmortem as a Markdown file that people read and `kb import` reads back to the same
document: the fields in YAML front matter, each section under its template heading, the
timeline, factors and action items as tables, links as a list."""

import re

import yaml

from kb import template
from kb.document import to_document

FRONT = (
    "format", "ref", "title", "kind", "status", "severity", "visibility", "trigger",
    "decision", "premortem", "readers", "authors", "teams", "services", "tags",
    "planned_at", "started_at", "detected_at", "mitigated_at", "resolved_at", "published_at",
)  # fmt: skip
RISK_COLUMNS = ("text", "likelihood", "impact", "mitigation", "owner", "signals", "source")
# Characters that mean something in a Markdown line; escaped in table cells and titles.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def cell(text):
    """Text as one table cell that reads back as the same text."""
    return _SPECIAL.sub(r"\\\1", str(text or "")).replace("\n", "<br>")


def _table(key, headings, rows):
    """The lines of a section holding a table: its template heading, the column headings
    and one line per row (cell texts, already escaped)."""
    return [
        "",
        f"## {template.heading(key)}",
        "",
        "| " + " | ".join(headings) + " |",
        "| --- " * len(headings) + "|",
        *("| " + " | ".join(str(value) for value in row) + " |" for row in rows),
    ]


def to_markdown(pm, doc=None):
    """The Markdown file of a postmortem (see the module's docstring); `doc`: its document
    as the reader may see it, when that differs from the stored one."""
    doc = doc or to_document(pm)
    front = {key: doc[key] for key in FRONT if doc.get(key) not in (None, [], "")}
    fields = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000)
    out = ["---", fields.strip(), "---"]
    out += ["", f"# {cell(doc['title'])}"]
    for section in template.sections():
        text = doc.get(section["field"])
        if text:
            out += ["", f"## {section['heading']}", "", text.strip()]
    if doc["risks"]:
        out += _table(
            "risks",
            ("#", "Risk", "Likelihood", "Impact", "Mitigation", "Owner", "Signals", "Source"),
            (
                [i, *(cell(r.get(key)) for key in RISK_COLUMNS)]
                for i, r in enumerate(doc["risks"], start=1)
            ),
        )
    if doc["foreseen"]:
        out += _table(
            "foreseen",
            ("Risk #", "Materialised", "Note"),
            ([f["risk"], f["materialised"], cell(f.get("note"))] for f in doc["foreseen"]),
        )
    if doc["timeline"]:
        out += _table(
            "timeline",
            ("Time (UTC)", "Event", "Source"),
            ([e["at"] or "", cell(e["text"]), cell(e.get("source"))] for e in doc["timeline"]),
        )
    if doc["contributing_factors"]:
        out += _table(
            "contributing_factors",
            ("#", "Factor", "Category"),
            (
                [i, cell(f["text"]), cell(f.get("category"))]
                for i, f in enumerate(doc["contributing_factors"], start=1)
            ),
        )
    if doc["action_items"]:
        # The risk column only where an item mitigates a risk (a pre-mortem's).
        risky = any(a.get("risk") for a in doc["action_items"])
        out += _table(
            "action_items",
            ("Action", "Owner", "Due", "Status", "Link", "Factor")
            + (("Mitigates risk",) if risky else ()),
            (
                [
                    cell(a["title"]),
                    cell(a.get("owner")),
                    a.get("due") or "",
                    a["status"],
                    a.get("url") or "",
                    "" if a.get("factor") is None else a["factor"] + 1,
                ]
                + ([a.get("risk") or ""] if risky else [])
                for a in doc["action_items"]
            ),
        )
    if doc["links"]:
        out += ["", f"## {template.heading('links')}", ""]
        out += [
            f"- [{cell(link['title'])}]({link['url']})"
            if link.get("url")
            else f"- {cell(link['title'])}"
            for link in doc["links"]
        ]
    return "\n".join(out) + "\n"
