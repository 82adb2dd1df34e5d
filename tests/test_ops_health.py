"""/healthz, /readyz, /metrics, request ids and JSON logs (kb/ops, kb/web/health.py)."""

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from kb import create_app
from kb.models import DigestSend, ThemeRun


def _app(tmp_path, database_url, **config):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance-ops"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            **config,
        }
    )


def _samples(body):
    """{(name, frozen labels): value} of a Prometheus text exposition (parsing proves it valid)."""
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_healthz_and_readyz_answer_without_signing_in(client):
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["status"] == "ready"
    assert ready.json["checks"]["database"] == "ok"
    assert ready.json["checks"]["search_index_lag"] == 0
    assert ready.headers["Cache-Control"] == "no-store"


def test_a_connection_lost_while_closing_the_session_keeps_the_answer(client, monkeypatch):
    # The race tests/test_ops_faults.py meets now and then: the database restarts between
    # the response and the rollback that closes the request's session. No real part can hit
    # that instant on demand, so the close is made to fail as psycopg's does.
    real_close = Session.close

    def close_on_a_lost_connection(session):
        real_close(session)
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "close", close_on_a_lost_connection)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["database"] == "ok"


def test_readyz_fails_when_the_index_lags_beyond_the_bound(tmp_path, database_url, session):
    from kb import postmortems
    from kb.document import validate
    from tests.conftest import document

    app = _app(tmp_path, database_url, SEARCH_SYNC="off", READY_MAX_LAG=2)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    for i in range(3):
        postmortems.save_document(session, validate(document(title=f"Lagging {i}")))
        session.commit()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "unavailable"
    assert answer.json["reason"] == "the search index is 3 changes behind (the bound is 2)"
    assert answer.headers["Retry-After"]
    app.extensions["kb_engine"].dispose()


def test_readyz_fails_when_the_database_is_unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'hindsight.db'}"
    app = _app(tmp_path, url)
    answer = app.test_client().get("/readyz", headers={"Accept": "application/json"})
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "unreachable"
    assert answer.json["reason"].startswith("the database is not reachable: ")


def test_readyz_fails_when_the_schema_is_behind_the_code(client, session):
    session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    session.commit()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "the database schema is at 0005" in answer.json["reason"]
    # A revision the code does not know is newer (migrations run before the code): ready.
    session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    session.commit()
    assert client.get("/readyz").status_code == 200


def test_metrics_reports_requests_and_figures(client, session, make_postmortem):
    make_postmortem(title="Published one")  # its action item was due 2026-04-01: overdue
    make_postmortem(title="A draft", status="draft", action_items=[])
    built = datetime.now(UTC) - timedelta(hours=5)
    session.add(ThemeRun(fingerprint="f" * 64, built_at=built))
    sent = datetime.now(UTC) - timedelta(days=3)
    session.add(
        DigestSend(
            month="2026-10", address="a@x.example", variant="list", status="sent", sent_at=sent
        )
    )
    session.add(DigestSend(month="2026-10", address="b@x.example", variant="list", status="failed"))
    session.commit()
    before = _samples(client.get("/metrics").get_data(as_text=True))
    key = (
        "hindsight_http_requests_total",
        frozenset({"endpoint": "health.healthz", "method": "GET", "status": "200"}.items()),
    )
    for _ in range(3):
        client.get("/healthz")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    samples = _samples(answer.get_data(as_text=True))
    assert samples[key] - before.get(key, 0) == 3
    count = (
        "hindsight_http_request_duration_seconds_count",
        frozenset({"endpoint": "health.healthz", "method": "GET"}.items()),
    )
    assert samples[count] >= 3

    def gauge(name, **labels):
        return samples[(name, frozenset(labels.items()))]

    assert gauge("hindsight_database_up") == 1
    assert gauge("hindsight_postmortems", status="published") == 1
    assert gauge("hindsight_postmortems", status="draft") == 1
    assert gauge("hindsight_postmortems", status="in-review") == 0
    assert gauge("hindsight_action_items_overdue") == 1
    # Saved outside any request, so nothing has applied them to the index yet.
    assert gauge("hindsight_search_index_lag") == 2
    assert abs(gauge("hindsight_themes_built_age_seconds") - 5 * 3600) < 120
    assert abs(gauge("hindsight_themes_built_timestamp_seconds") - built.timestamp()) < 1.5
    assert abs(gauge("hindsight_digest_last_sent_age_seconds") - 3 * 86400) < 120
    assert gauge("hindsight_digest_sends", month="2026-10", status="failed") == 1
    assert gauge("hindsight_digest_sends", month="2026-10", status="sent") == 1


def test_metrics_without_themes_or_digest_omits_their_ages(client):
    names = {name for name, _labels in _samples(client.get("/metrics").get_data(as_text=True))}
    assert "hindsight_themes_built_age_seconds" not in names
    assert "hindsight_digest_last_sent_age_seconds" not in names
    assert "hindsight_postmortems" in names


def test_metrics_is_refused_outside_the_allowed_networks_unless_a_token_is_sent(
    tmp_path, database_url
):
    app = _app(tmp_path, database_url, METRICS_TOKEN="s3cret-scrape", METRICS_ALLOW="10.0.0.0/8")
    client = app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", environ_base=outside, headers=wrong).status_code == 403
    right = {"Authorization": "Bearer s3cret-scrape"}
    assert client.get("/metrics", environ_base=outside, headers=right).status_code == 200
    inside = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=inside).status_code == 200
    # The health checks stay open to everyone (load balancers, kubelets).
    assert client.get("/healthz", environ_base=outside).status_code == 200
    app.extensions["kb_engine"].dispose()


def test_request_ids_are_kept_from_trusted_proxies_and_made_otherwise(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["X-Request-ID"] != made
    kept = client.get("/healthz", headers={"X-Request-ID": "nginx-7f3a"})
    assert kept.headers["X-Request-ID"] == "nginx-7f3a"  # the test client is 127.0.0.1
    untrusted = client.get(
        "/healthz",
        headers={"X-Request-ID": "forged"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert untrusted.headers["X-Request-ID"] != "forged"
    malformed = client.get("/healthz", headers={"X-Request-ID": 'x" {"level":"error"}'})
    assert re.fullmatch(r"[0-9a-f]{32}", malformed.headers["X-Request-ID"])
    # Errors and refusals carry one too.
    assert client.get("/no-such-page").headers["X-Request-ID"]
    assert client.post("/sign-in", data={}).headers["X-Request-ID"]


@pytest.fixture
def json_logging():
    """Let an app install its JSON handler on the root logger, and take it away afterwards."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if getattr(h, "_kb_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_every_log_line_is_json_with_the_request_id(tmp_path, database_url, json_logging, capsys):
    app = _app(tmp_path, database_url, LOG_FORMAT="json")

    @app.route("/_test/log")
    def _log_something():
        logging.getLogger("kb.somewhere").warning("inside the request", extra={"ref": "INC-1"})
        return "ok"

    client = app.test_client()
    capsys.readouterr()
    answer = client.get("/_test/log", headers={"X-Request-ID": "trace-42"})
    assert answer.headers["X-Request-ID"] == "trace-42"
    client.get("/healthz")  # health checks log at DEBUG: not shown at INFO
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    inside, access = lines
    assert inside["message"] == "inside the request" and inside["level"] == "warning"
    assert inside["ref"] == "INC-1" and inside["logger"] == "kb.somewhere"
    assert access["logger"] == "kb.access" and access["status"] == 200
    assert access["path"] == "/_test/log" and access["duration_ms"] >= 0
    assert {line["request_id"] for line in lines} == {"trace-42"}
    app.extensions["kb_engine"].dispose()
