"""Request ids, structured JSON logs and request metrics, for every request.

Every request gets an id: the X-Request-ID header when a trusted proxy (KB_TRUSTED_PROXIES)
sent a well-formed one, else a new random one. It is returned in the X-Request-ID response
header and written on every log line logged while the request runs, so one grep finds
everything a request did, from nginx's access log to the app's lines.
"""

import ipaddress
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request

from kb.ops import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")  # nothing that could forge a log line
_QUIET_ENDPOINTS = {"health.healthz", "health.readyz", "health.metrics", "static"}
access_log = logging.getLogger("kb.access")

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def init_app(app: Flask):
    """Install the request id, access log and metrics hooks, and the log format."""
    app.extensions["kb_trusted_proxies"] = parse_networks(app.config["TRUSTED_PROXIES"])
    configure_logging(app)
    # First of all before_request hooks, so that even a refused request (CSRF) has an id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)


def parse_networks(value):
    """A tuple of ip networks from a comma-separated list ("127.0.0.1/32, 10.0.0.0/8")."""
    networks = []
    for item in (value or "").split(","):
        item = item.strip()
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"not an IP address or network: {item!r}") from exc
    return tuple(networks)


def address_in(address, networks):
    """True when the IP address string belongs to one of the networks."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in networks)


def request_id():
    """The id of the current request (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = _incoming_id() or uuid.uuid4().hex
    return g.request_id


def _incoming_id():
    from flask import current_app

    value = request.headers.get(REQUEST_ID_HEADER, "")
    if not _VALID_ID.match(value):
        return None
    trusted = current_app.extensions.get("kb_trusted_proxies", ())
    # The connection's own address: remote_addr is the client's once a proxy named it.
    peer = request.environ.get("kb.peer_addr", request.remote_addr)
    return value if address_in(peer, trusted) else None


def _start():
    g.request_started = time.perf_counter()
    request_id()


def _finish(response):
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    response.headers[REQUEST_ID_HEADER] = request_id()
    endpoint = request.endpoint or "unmatched"  # unknown URLs share one label
    metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    level = logging.DEBUG if endpoint in _QUIET_ENDPOINTS else logging.INFO
    if access_log.isEnabledFor(level):
        access_log.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "event": "request",
                "method": request.method,
                "path": request.path,
                "endpoint": endpoint,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "remote_addr": request.remote_addr,
            },
        )
    return response


# --- logging ------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extra fields."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record (None outside requests)."""

    def filter(self, record):
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id()
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (it may be replaced, as pytest does)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(app: Flask):
    """Send every logger's records to stderr, as JSON (default) or text (KB_LOG_FORMAT).

    Under test (TESTING without an explicit LOG_FORMAT) logging is left alone.
    """
    fmt = app.config.get("LOG_FORMAT") or (None if app.testing else "json")
    if fmt is None:
        return
    if fmt not in ("json", "text"):
        raise ValueError(f"KB_LOG_FORMAT must be json or text, not {fmt!r}")
    from flask.logging import default_handler

    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_kb_handler", False)), None)
    if handler is None:
        handler = StderrHandler()
        handler._kb_handler = True
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(str(app.config.get("LOG_LEVEL") or "INFO").upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # noise
    app.logger.removeHandler(default_handler)  # the root handler writes Flask's lines too
