"""Health and metrics for operators: /healthz, /readyz and /metrics, without signing in.

/metrics answers clients in KB_METRICS_ALLOW (loopback and private networks by default) and,
when KB_METRICS_TOKEN is set, any client sending `Authorization: Bearer <token>`. It reports
counts over every postmortem, restricted ones included: keep it away from the public (the
nginx example in deploy/ refuses it from outside).
"""

import hmac

from flask import Blueprint, Response, current_app, jsonify, request

from kb.db import get_session
from kb.ops import health, metrics
from kb.ops.observability import address_in, parse_networks
from kb.search.service import service_for

bp = Blueprint("health", __name__)
_NO_STORE = {"Cache-Control": "no-store"}


@bp.record_once
def _setup(state):
    state.app.extensions["kb_metrics_allow"] = parse_networks(state.app.config["METRICS_ALLOW"])


@bp.route("/healthz")
def healthz():
    """Alive: the process answers (nothing else is checked, so a restart is the only cure)."""
    return jsonify(status="ok"), 200, _NO_STORE


@bp.route("/readyz")
def readyz():
    """Ready: the database answers and the search index is not too far behind."""
    _kick_search_sync()
    report = health.readiness(get_session(), current_app)
    body = {"status": "ready" if report.ready else "unavailable", "checks": report.checks}
    if not report.ready:
        body["reason"] = report.reason
    headers = dict(_NO_STORE)
    if not report.ready:
        headers["Retry-After"] = "5"
    return jsonify(body), 200 if report.ready else 503, headers


@bp.route("/metrics", endpoint="metrics")
def metrics_page():
    """The Prometheus text exposition."""
    if not _may_scrape():
        return Response(
            "403 Forbidden: /metrics is for the monitoring system "
            "(see KB_METRICS_ALLOW and KB_METRICS_TOKEN in docs/operations.md).\n",
            status=403,
            mimetype="text/plain",
        )
    body, content_type = metrics.exposition(get_session(), current_app)
    return Response(body, status=200, content_type=content_type, headers=_NO_STORE)


def _kick_search_sync():
    # A server that has had no search or save yet must still catch up, or it would never
    # become ready (and so never get the requests that would start its sync).
    service_for(current_app).start()


def _may_scrape():
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    allowed = current_app.extensions.get("kb_metrics_allow", ())
    return address_in(request.remote_addr, allowed)
