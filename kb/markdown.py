"""Markdown for postmortem sections: sanitised HTML for pages, plain text for indexing."""

import html
import re
from functools import lru_cache

import markdown as md
import nh3

_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
    "del", "sup", "sub", "dl", "dt", "dd", "img",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"[ \t]+")


def render(text):
    """Markdown to HTML that keeps no script, style, event handler or javascript: URL."""
    if not text:
        return ""
    return _render(text)


def render_once(text):
    """render(text) without remembering it: for text typed into a request (the editor's
    preview), which would otherwise fill the cache with up to 4,096 request bodies."""
    return _render.__wrapped__(text) if text else ""


@lru_cache(maxsize=4096)
def _render(text):
    # Pages render the same sections again and again; the result depends on the text alone.
    raw = md.markdown(text, extensions=_EXTENSIONS, output_format="html")
    return nh3.clean(
        raw,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(text):
    """Markdown to plain text, for the search index and e-mail summaries."""
    if not text:
        return ""
    rendered = render(text)
    without_tags = _TAG_RE.sub(" ", rendered)
    lines = (_SPACE_RE.sub(" ", line).strip() for line in html.unescape(without_tags).splitlines())
    return "\n".join(line for line in lines if line)


def first_sentence(text, limit=240):
    """The first sentence of a section, shortened to `limit` characters."""
    plain = plain_text(text).replace("\n", " ")
    match = re.search(r"(.+?[.!?])(\s|$)", plain)
    sentence = match.group(1) if match else plain
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
