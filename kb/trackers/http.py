"""Requests to a tracker's REST API: JSON in and out, a bounded time and size, no redirects
(a token is never sent on to another address), and errors that never hold the token."""

import http.client
import json
import os
import urllib.error
import urllib.request

MAX_ANSWER_BYTES = 1024 * 1024  # an issue's JSON is a few kilobytes
DEFAULT_TIMEOUT = 10.0


class TrackerError(Exception):
    """A tracker that could not be read or written (its message never holds the token)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx becomes an HTTPError, reported as such


_opener = urllib.request.build_opener(_NoRedirects)


def token(tracker):
    """The tracker's API token from the environment variable it names (None: no token)."""
    if not tracker.token_env:
        return None
    value = os.environ.get(tracker.token_env, "")
    if not value:
        raise TrackerError(f"the environment variable {tracker.token_env} is not set")
    return value


def request_json(url, *, headers, label, payload=None, timeout=DEFAULT_TIMEOUT):
    """GET (or, with a payload, POST) `url` and return the JSON answer; TrackerError if not."""
    data = None
    headers = {"Accept": "application/json", "User-Agent": "Hindsight", **headers}
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    # The address is the tracker's --api-url (http or https only, checked when it was added)
    # followed by parts of a link that kb.trackers.kinds matched against a strict pattern.
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as answer:
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise TrackerError(f"{label} answered HTTP {exc.code} {exc.reason}".strip()) from None
    except (OSError, http.client.HTTPException) as exc:
        # Connection refused, DNS, TLS, timeouts, a broken answer: out of reach for now.
        reason = getattr(exc, "reason", None) or exc
        raise TrackerError(f"{label} could not be reached: {reason}") from None
    if len(body) > MAX_ANSWER_BYTES:
        raise TrackerError(f"{label}'s answer is larger than {MAX_ANSWER_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise TrackerError(f"{label}'s answer is not JSON") from None
