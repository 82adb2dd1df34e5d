"""The shape of the search index: its analyzer, its fields, and one postmortem as index fields.

Text fields carry the words (title above factors above everything else, through field
boosts; stemmed, and as written in `exact`); keyword fields carry the facets and the
visibility rule's inputs; the sections are stored (compressed) so a hit can show the passage
that matched and name its section.
"""

import json
import re
import zlib
from datetime import UTC, datetime

from whoosh import columns, fields
from whoosh.analysis import IDAnalyzer

# The analysis lives in kb.search.analysis. Its classes stay importable from here: an index
# written before they moved names them by this module in its pickled schema.
from kb.search.analysis import (  # noqa: F401
    ANALYZER,
    BOOSTS,
    EXACT_ANALYZER,
    PART,
    ExactText,
    StemmingTokenizer,
    Text,
    WordTokenizer,
)

# Bump when the schema or the analyzer changes: an index of another version is rebuilt.
SCHEMA_VERSION = 2
STATE_ID = "__state__"

# `content` holds every word of a postmortem and answers plain words; `title` and `factors`
# also exist on their own for title: and factor: queries (and for BM25F, kb.search.scoring).
# `exact` holds the same words as `content`, as written (lower-cased, not stemmed, no
# positions): a word typed between quotes ("cert") is searched there, without synonyms.
TEXT_FIELDS = ("content", "title", "factors", "exact")
DEFAULT_FIELD = "content"
EXACT_FIELD = "exact"
# Facets: (index field, label, query prefix the user types).
FACETS = (
    ("severity", "Severity", "severity"),
    ("kind", "Kind", "kind"),
    ("status", "Status", "status"),
    ("services", "Service", "service"),
    ("teams", "Team", "team"),
    ("tags", "Tag", "tag"),
    ("year", "Year", "year"),
)
FACET_FIELDS = tuple(f for f, _l, _p in FACETS)
# Sections, in the order a reader meets them; each hit's passage comes from one of them.
SECTION_KEYS = (
    "change",  # a pre-mortem's: the planned change, its risks and its rollback plan
    "risks",
    "rollback",
    "summary",
    "impact",
    "detection",
    "response",
    "timeline",
    "contributing_factors",
    "went_well",
    "went_poorly",
    "got_lucky",
    "surprises",
    "lessons",
    "action_items",
    "notes",
)

RISK_PARTS = ("text", "mitigation", "signals")  # the words of a risk that are searched


def make_schema():
    """The index schema."""
    return fields.Schema(
        pid=fields.ID(unique=True, stored=True),
        ref=fields.ID(analyzer=IDAnalyzer(lowercase=True)),
        content=Text(analyzer=ANALYZER),
        title=Text(analyzer=ANALYZER),
        factors=Text(analyzer=ANALYZER),
        exact=ExactText(),
        severity=fields.KEYWORD(lowercase=True),
        kind=fields.KEYWORD(lowercase=True),
        status=fields.KEYWORD(lowercase=True),
        trigger=fields.KEYWORD(lowercase=True),
        year=fields.KEYWORD(),
        services=fields.KEYWORD(commas=True, lowercase=True),
        teams=fields.KEYWORD(commas=True, lowercase=True),
        tags=fields.KEYWORD(commas=True, lowercase=True),
        # The visibility rule's inputs, exactly as accounts.Scope compares them.
        visibility=fields.ID(),
        acl=fields.KEYWORD(commas=True),
        started=fields.COLUMN(columns.NumericColumn("q", default=0)),
        meta=fields.STORED(),
        sections=fields.STORED(),
        state=fields.STORED(),
    )


# --- from a document to index fields --------------------------------------------------------

# No repetition may run past the next opening bracket: each match attempt then stops where
# the next one starts, and a text of 50 KB of "[" costs milliseconds, not five seconds.
_IMAGE_RE = re.compile(r"!\[([^\[\]]*)\]\([^()]*\)")
_LINK_RE = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
_TAG_RE = re.compile(r"<[^<>]+>")
_MARKUP_RE = re.compile(r"(^|\s)[#>]+\s|[*`|~]+|^[ \t]*[-+][ \t]+|^[ \t]*\d+\.[ \t]+", re.MULTILINE)
_SPACE_RE = re.compile(r"[ \t]+")


def plain(markdown_text):
    """Markdown to plain text, quickly: links keep their words, markup characters go.

    kb.markdown.plain_text renders through the sanitiser and is ~100 times slower; for the
    index, words are all that count.
    """
    if not markdown_text:
        return ""
    text = _IMAGE_RE.sub(r"\1", markdown_text)
    text = _LINK_RE.sub(r"\1", text)
    text = _TAG_RE.sub(" ", text)
    text = _MARKUP_RE.sub(" ", text)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return "\n".join(
        line for line in (_SPACE_RE.sub(" ", s).strip() for s in text.splitlines()) if line
    )


def _epoch(value):
    if value is None:
        return 0
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def sections_of(doc):
    """[(section key, plain text)] for every non-empty section of a document."""
    out = []
    for key in SECTION_KEYS:
        if key == "timeline":
            text = "\n".join(plain(e.get("text", "")) for e in doc.get("timeline") or ())
        elif key == "contributing_factors":
            text = "\n".join(
                plain(f.get("text", "")) for f in doc.get("contributing_factors") or ()
            )
        elif key == "risks":
            text = "\n".join(
                " ".join(plain(r.get(part) or "") for part in RISK_PARTS).strip()
                for r in doc.get("risks") or ()
            )
        elif key == "action_items":
            text = "\n".join(a.get("title", "") for a in doc.get("action_items") or ())
        else:
            text = plain(doc.get(key) or "")
        if text:
            out.append((key, text))
    return out


def fields_for(pid, doc, version=1, created_at=None):
    """The index fields of one postmortem, from its document (kb.document's format)."""
    sections = sections_of(doc)
    labels = [*doc.get("services", ()), *doc.get("teams", ()), *doc.get("tags", ())]
    # Services, teams and tags are words too: "checkout-api" typed alone finds its incidents.
    body = "\n".join([*(t for k, t in sections if k != "contributing_factors"), " ".join(labels)])
    factor_text = "\n".join(
        " ".join(filter(None, (plain(f.get("text", "")), f.get("category") or "")))
        for f in doc.get("contributing_factors") or ()
    )
    # A pre-mortem's date is when its change is planned.
    started = _epoch(doc.get("started_at")) or _epoch(doc.get("planned_at")) or _epoch(created_at)
    year = str(datetime.fromtimestamp(started, UTC).year) if started else ""
    title = doc["title"]
    people = [p.lower() for p in (*doc.get("authors", ()), *doc.get("readers", ()))]
    acl = [f"team:{t}" for t in doc.get("teams", ())] + [f"person:{p}" for p in people]
    meta = {
        "ref": doc["ref"],
        "title": title,
        "severity": doc.get("severity"),
        "kind": doc.get("kind"),
        "status": doc.get("status"),
        "visibility": doc.get("visibility"),
        "started": started or None,
        "services": list(doc.get("services", ())),
        "teams": list(doc.get("teams", ())),
        "tags": list(doc.get("tags", ())),
        "version": version,
    }
    packed = zlib.compress(json.dumps(sections, separators=(",", ":")).encode(), 1)
    words = f"{title}{PART}{factor_text}{PART}{body}"
    return {
        "pid": str(pid),
        "ref": doc["ref"],
        "title": title,
        "factors": factor_text,
        "content": words,
        "exact": words,
        "severity": doc.get("severity") or "none",
        "kind": doc.get("kind") or "",
        "status": doc.get("status") or "",
        "trigger": doc.get("trigger") or "",
        "year": year,
        "services": ",".join(doc.get("services", ())),
        "teams": ",".join(doc.get("teams", ())),
        "tags": ",".join(doc.get("tags", ())),
        "visibility": doc.get("visibility") or "internal",
        "acl": ",".join(acl),
        "started": started,
        "meta": meta,
        "sections": packed,
    }


def unpack_sections(packed):
    """The stored sections of a hit, [(key, text)]."""
    return [tuple(s) for s in json.loads(zlib.decompress(packed))] if packed else []
