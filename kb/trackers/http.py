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
    """A tracker that could not be read or written (its message never holds the token).

    `issue_only`: the failure is the one issue's (it does not exist, or is not an issue);
    otherwise the tracker as a whole is failing (down, slow, refusing the token)."""

    def __init__(self, message, *, issue_only=False):
        super().__init__(message)
        self.issue_only = issue_only


ISSUE_ONLY_STATUSES = {404, 410}
MAX_MESSAGE = 300


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


def request_json(url, *, headers, label, payload=None, timeout=DEFAULT_TIMEOUT, secret=None):
    """GET (or, with a payload, POST) `url` and return the JSON answer; TrackerError if not.

    `secret` (the token) is taken out of every message, whatever the server answered."""
    try:
        return _request_json(url, headers, label, payload, timeout)
    except TrackerError as exc:
        message = str(exc)
        for value in _secrets(headers, secret):
            message = message.replace(value, "***")
        raise TrackerError(message[:MAX_MESSAGE], issue_only=exc.issue_only) from None


def _secrets(headers, secret):
    """The token and every form of it the request carries (a header's value, its credential)."""
    found = {secret} if secret else set()
    for name, value in headers.items():
        if name.lower() in ("authorization", "private-token"):
            found |= {value, value.split(" ", 1)[-1]}
    return sorted((v for v in found if v), key=len, reverse=True)


def _request_json(url, headers, label, payload, timeout):
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
        raise TrackerError(
            f"{label} answered HTTP {exc.code} {exc.reason}".strip(),
            issue_only=exc.code in ISSUE_ONLY_STATUSES,
        ) from None
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
