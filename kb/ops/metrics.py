"""The Prometheus exposition (/metrics).

Two kinds of figures:
- request counts and latencies, counted by every process as requests end. Under gunicorn the
  workers share them through files in PROMETHEUS_MULTIPROC_DIR (set by deploy/gunicorn.conf.py),
  so a scrape that reaches any one worker sees the whole server;
- figures read from the database when scraped (postmortems by status, overdue action items,
  the age of the stored themes, the last digest sent, the search index lag), so they are
  the same whichever worker or server answers.

prometheus_client is imported on first use: it reads PROMETHEUS_MULTIPROC_DIR when imported.
"""

import logging
import os
import threading
from types import SimpleNamespace

from kb.ops import health

log = logging.getLogger(__name__)

# Seconds. Pages answer in tens of milliseconds; the 0.5 s bucket is the latency objective.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_request_metrics = None
_lock = threading.Lock()


def multiprocess_dir():
    """The folder the gunicorn workers share their counters through, or None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def request_metrics():
    """The request counter and latency histogram of this process (made on first use)."""
    global _request_metrics
    if _request_metrics is None:
        with _lock:
            if _request_metrics is None:
                import prometheus_client
                from prometheus_client import CollectorRegistry, Counter, Histogram

                prometheus_client.disable_created_metrics()
                registry = CollectorRegistry(auto_describe=True)
                _request_metrics = SimpleNamespace(
                    requests=Counter(
                        "hindsight_http_requests",
                        "HTTP requests answered, by endpoint, method and status code.",
                        ["endpoint", "method", "status"],
                        registry=registry,
                    ),
                    latency=Histogram(
                        "hindsight_http_request_duration_seconds",
                        "Time to answer an HTTP request, by endpoint and method.",
                        ["endpoint", "method"],
                        buckets=BUCKETS,
                        registry=registry,
                    ),
                )
    return _request_metrics


def observe_request(endpoint, method, status, seconds):
    """Count one answered request and its duration."""
    m = request_metrics()
    m.requests.labels(endpoint, method, str(status)).inc()
    m.latency.labels(endpoint, method).observe(seconds)


def exposition(session, app):
    """(body, content type) of a scrape: request metrics plus the database figures."""
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        m = request_metrics()
        registry.register(m.requests)
        registry.register(m.latency)
    registry.register(_DatabaseFigures(session, app))
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4


class _DatabaseFigures:
    """A collector that reads kb.ops.health.figures once per scrape."""

    def __init__(self, session, app):
        self.session = session
        self.app = app

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        info = InfoMetricFamily("hindsight_build", "The running version of Hindsight.")
        info.add_metric([], {"version": health.version()})
        yield info
        up = GaugeMetricFamily(
            "hindsight_database_up", "1 when the database answered during this scrape, else 0."
        )
        try:
            figures = health.figures(self.session, self.app)
        except Exception:  # noqa: BLE001 (a scrape must still answer, with up = 0)
            log.warning("reading the figures for /metrics failed", exc_info=True)
            self.session.rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_status = GaugeMetricFamily(
            "hindsight_postmortems", "Postmortems, by status.", labels=["status"]
        )
        for status, count in figures.postmortems_by_status.items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "hindsight_action_items_overdue",
            "Open or in-progress action items whose due date has passed.",
            value=figures.overdue_action_items,
        )
        if figures.index_lag is not None:
            yield GaugeMetricFamily(
                "hindsight_search_index_lag",
                "Changes in the change log that this server's search index has not applied.",
                value=figures.index_lag,
            )
        yield from _timestamp(
            GaugeMetricFamily,
            "hindsight_themes_built",
            "the stored themes were last rebuilt (kb themes rebuild)",
            figures.themes_built_at,
            figures.now,
        )
        yield from _timestamp(
            GaugeMetricFamily,
            "hindsight_digest_last_sent",
            "a digest message was last accepted by the mail server",
            figures.digest_last_sent_at,
            figures.now,
        )
        if figures.digest_month is not None:
            sends = GaugeMetricFamily(
                "hindsight_digest_sends",
                "Digest messages of the latest month in the send log, by status.",
                labels=["month", "status"],
            )
            for status, count in figures.digest_by_status.items():
                sends.add_metric([figures.digest_month, status], count)
            yield sends


def _timestamp(family, name, what, at, now):
    """Two gauges for one moment: its Unix time and its age in seconds (absent: never)."""
    if at is None:
        return
    yield family(f"{name}_timestamp_seconds", f"When {what} (Unix time).", value=at.timestamp())
    yield family(f"{name}_age_seconds", f"Seconds since {what}.", value=(now - at).total_seconds())
