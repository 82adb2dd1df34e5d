"""Reading pages as a browser would: elements and attributes, not strings."""

from html.parser import HTMLParser


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def elements(page):
    """Every start tag of a page as (tag, attributes)."""
    collector = _Collector()
    collector.feed(page)
    return collector.elements


def dangerous_markup(page):
    """Scripts, event handlers and javascript: URLs a browser would act on."""
    found = []
    for tag, attrs in elements(page):
        if tag in ("script", "iframe", "object", "embed") and not attrs.get("src", "").startswith(
            "/static/"
        ):
            found.append(tag)
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{tag} {name}")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                ("javascript:", "data:text")
            ):
                found.append(f"{tag} {name}={value}")
    return found
