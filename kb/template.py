"""The postmortem template (kb/template.toml): section order, headings, prompts and help, and
which kinds of document have each section and list."""

import tomllib
from functools import cache
from pathlib import Path

from kb.models import INCIDENT_KINDS, KINDS, SECTIONS

TEMPLATE_PATH = Path(__file__).with_name("template.toml")


@cache
def load(path=TEMPLATE_PATH):
    """The template as a dict; every section named in it must be a field of the format."""
    with open(path, "rb") as handle:
        template = tomllib.load(handle)
    unknown = [s["field"] for s in template["sections"] if s["field"] not in SECTIONS]
    if unknown:
        raise ValueError(f"{path}: unknown section fields {', '.join(unknown)}")
    parts = [*template["sections"], *template["lists"].values()]
    strange = {k for part in parts for k in part.get("kinds", ()) if k not in KINDS}
    if strange:
        raise ValueError(f"{path}: unknown kinds {', '.join(sorted(strange))}")
    return template


def _has(part, kind):
    return kind is None or kind in part.get("kinds", INCIDENT_KINDS)


def sections(kind=None):
    """The sections in template order (those of `kind` when given), each a dict with field,
    heading, prompt and help."""
    return [s for s in load()["sections"] if _has(s, kind)]


def lists(kind=None):
    """{list field: its heading, help...} (those of `kind` when given)."""
    return {name: part for name, part in load()["lists"].items() if _has(part, kind)}


def heading(field):
    """The heading of a section or list field."""
    for section in sections():
        if section["field"] == field:
            return section["heading"]
    return load()["lists"].get(field, {}).get("heading", field.replace("_", " ").capitalize())
