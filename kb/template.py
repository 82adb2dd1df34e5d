"""The postmortem template (kb/template.toml): section order, headings, prompts and help."""

import tomllib
from functools import cache
from pathlib import Path

from kb.models import SECTIONS

TEMPLATE_PATH = Path(__file__).with_name("template.toml")


@cache
def load(path=TEMPLATE_PATH):
    """The template as a dict; every section named in it must be a field of the format."""
    with open(path, "rb") as handle:
        template = tomllib.load(handle)
    unknown = [s["field"] for s in template["sections"] if s["field"] not in SECTIONS]
    if unknown:
        raise ValueError(f"{path}: unknown section fields {', '.join(unknown)}")
    return template


def sections():
    """The sections in template order, each a dict with field, heading, prompt and help."""
    return load()["sections"]


def heading(field):
    """The heading of a section or list field."""
    for section in sections():
        if section["field"] == field:
            return section["heading"]
    return load()["lists"].get(field, {}).get("heading", field.replace("_", " ").capitalize())
