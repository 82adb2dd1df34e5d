"""Absolute links for e-mail: built from KB_BASE_URL, never from the current request."""

from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import BuildError


def external(endpoint, **values):
    """The absolute URL of an endpoint under BASE_URL, or None when no such page exists."""
    if endpoint not in current_app.view_functions:
        return None
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    try:
        return adapter.build(endpoint, values, force_external=True)
    except BuildError:
        return None


def first_link(*candidates):
    """The first of several (endpoint, values) pairs that has a page: areas come and go."""
    for endpoint, values in candidates:
        url = external(endpoint, **values)
        if url:
            return url
    return None
