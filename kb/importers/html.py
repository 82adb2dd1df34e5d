"""A postmortem exported as HTML (Confluence, Google Docs): converted to Markdown with
markdownify, then read as Markdown."""

import re

from markdownify import markdownify

from kb.importers.markdown import read_markdown

_DROP = re.compile(r"<(script|style|head|noscript)\b.*?</\1\s*>", re.I | re.S)


def html_to_markdown(html):
    """The Markdown of an HTML page: ATX headings, '-' bullets, tables kept as tables."""
    html = _DROP.sub("", html)
    text = markdownify(html, heading_style="ATX", bullets="-", strip=["img"])
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def read_html(html, *, name=""):
    """The document an HTML postmortem holds (see kb.importers.markdown.read_markdown)."""
    return read_markdown(html_to_markdown(html), name=name)
