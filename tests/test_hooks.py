"""Outgoing webhooks against real receivers: HTTP servers started here, on 127.0.0.1, that
check the signature as docs/webhooks.md tells a receiver to, and can be told to fail first.

Time is driven by passing `now` to the delivery round (no sleeping through the backoff).
"""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from kb import workflow
from kb.hooks import delivery, events, registry
from kb.models import Hook, HookAttempt, HookDelivery, utcnow
from tests.conftest import _csrf_token

AUTHOR = "author@x.example"
REVIEWER = "reviewer@x.example"
SECRET_A = "a" * 20 + "-first-receiver"
SECRET_B = "b" * 20 + "-second-receiver"


class Receiver:
    """A webhook receiver: keeps every request, verifies X-Hindsight-Signature with its
    secret (401 when wrong), answers `fail_status` to the first `fail_first` requests."""

    def __init__(self, secret=None, fail_first=0, fail_status=500, delay=0.0):
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.requests = []  # dicts: headers, body, payload, verified, answered
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.handle(self)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, headers, body):
        if self.secret is None:
            return "X-Hindsight-Signature" not in headers
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-Hindsight-Signature", ""))

    def handle(self, handler):
        if self.delay:
            threading.Event().wait(self.delay)
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        verified = self.verify(handler.headers, body)
        with self.lock:
            failing = self.fail_first > 0
            self.fail_first -= 1 if failing else 0
            answer = 401 if not verified else (self.fail_status if failing else 204)
            self.requests.append(
                {
                    "headers": dict(handler.headers),
                    "body": body,
                    "payload": json.loads(body),
                    "verified": verified,
                    "answered": answer,
                }
            )
        handler.send_response(answer)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    @property
    def accepted(self):
        return [r for r in self.requests if 200 <= r["answered"] < 300]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**options):
        receiver = Receiver(**options)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
def people(make_user):
    return {
        "author": make_user(AUTHOR, role="author", teams=["payments"]),
        "reviewer": make_user(REVIEWER, role="author", teams=["search"]),
    }


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def add_hook(session, url, **options):
    hook = registry.add_hook(session, url, **options)
    session.commit()
    return hook


def publish(session, make_postmortem, ref="INC-2026-001", **fields):
    """A draft, asked for review and approved: published through the workflow."""
    pm = make_postmortem(ref=ref, status="draft", published_at=None, authors=[AUTHOR], **fields)
    author = session.exec(select_user(AUTHOR)).one()
    reviewer = session.exec(select_user(REVIEWER)).one()
    pm = workflow.transition(session, pm, "request-review", author, reviewers=[REVIEWER])
    session.commit()
    pm = workflow.transition(session, pm, "approve", reviewer, comment="Clear, thank you.")
    session.commit()
    return pm


def select_user(email):
    from kb.models import User

    return select(User).where(User.email == email)


def rounds(session, start, *offsets):
    """Delivery rounds at start + each offset (seconds); the reports."""
    return [
        delivery.deliver_due(session, timeout=5, now=start + timedelta(seconds=s)) for s in offsets
    ]


def test_a_published_postmortem_reaches_each_hook_once_signed_though_it_failed_twice(
    ctx, session, people, make_postmortem, receivers
):
    first = receivers(secret=SECRET_A, fail_first=2)
    second = receivers(secret=SECRET_B, fail_first=2, fail_status=503)
    add_hook(session, first.url, events="postmortem.published", secret=SECRET_A)
    add_hook(session, second.url, events="postmortem.published", secret=SECRET_B)
    publish(session, make_postmortem)
    start = utcnow()

    # 0 s: both fail; 4 s: nothing is due yet; 5 s: both fail again; 35 s: both answer.
    reports = rounds(session, start, 0, 4, 5, 34, 35, 3600, 86_400)
    assert [r.tried for r in reports] == [2, 0, 2, 0, 2, 0, 0]
    assert [r.delivered for r in reports] == [0, 0, 0, 0, 2, 0, 0]

    for receiver, refusal in ((first, 500), (second, 503)):
        assert [r["answered"] for r in receiver.requests] == [refusal, refusal, 204]
        assert all(r["verified"] for r in receiver.requests)  # each one signed, and rightly
        assert len(receiver.accepted) == 1  # exactly once
        # the same delivery id on every attempt of one delivery
        assert len({r["headers"]["X-Hindsight-Delivery"] for r in receiver.requests}) == 1
        assert {r["headers"]["X-Hindsight-Event"] for r in receiver.requests} == {
            "postmortem.published"
        }
        payload = receiver.accepted[0]["payload"]
        assert payload["version"] == 1
        assert payload["event"] == "postmortem.published"
        assert payload["delivery"] == receiver.accepted[0]["headers"]["X-Hindsight-Delivery"]
        assert payload["postmortem"]["ref"] == "INC-2026-001"
        assert payload["postmortem"]["status"] == "published"
        assert payload["postmortem"]["url"] == "http://hindsight.test/postmortems/INC-2026-001"
        assert payload["actor"]["email"] == REVIEWER

    session.expire_all()
    states = {d.state for d in session.exec(select(HookDelivery)).all()}
    assert states == {"delivered"}
    [(d, attempts)] = delivery.deliveries(session, hook_id=1)
    assert [a.status for a in attempts] == [500, 500, 204]
    assert d.attempts == 3 and d.delivered_at is not None


def test_the_documented_signature_check_accepts_a_real_request(
    ctx, session, people, make_postmortem, receivers
):
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 (our own docs)
    check = namespace["is_from_hindsight"]
    receiver = receivers(secret=SECRET_A)
    add_hook(session, receiver.url, events="postmortem.published", secret=SECRET_A)
    publish(session, make_postmortem)
    rounds(session, utcnow(), 0)
    [request] = receiver.requests
    signature = request["headers"]["X-Hindsight-Signature"]
    assert check(SECRET_A, request["body"], signature)
    assert not check(SECRET_B, request["body"], signature)
    assert not check(SECRET_A, request["body"] + b" ", signature)


def test_review_events_carry_the_decision_and_reviewers(
    ctx, session, people, make_postmortem, receivers
):
    receiver = receivers()
    add_hook(session, receiver.url, events="review.requested,review.decided")
    publish(session, make_postmortem)
    rounds(session, utcnow(), 0)
    by_event = {r["payload"]["event"]: r["payload"] for r in receiver.requests}
    assert set(by_event) == {"review.requested", "review.decided"}
    assert by_event["review.requested"]["reviewers"] == [{"email": REVIEWER, "name": "reviewer"}]
    assert by_event["review.requested"]["postmortem"]["status"] == "in-review"
    assert by_event["review.decided"]["decision"] == "approved"
    assert by_event["review.decided"]["comment"] == "Clear, thank you."
    assert all("X-Hindsight-Signature" not in r["headers"] for r in receiver.requests)


def test_a_refused_transition_queues_nothing(ctx, session, people, make_postmortem, receivers):
    receiver = receivers()
    add_hook(session, receiver.url)
    pm = make_postmortem(status="draft", published_at=None, authors=[AUTHOR])
    author = session.exec(select_user(AUTHOR)).one()
    with pytest.raises(workflow.WorkflowError):
        workflow.transition(session, pm, "request-review", author, reviewers=[AUTHOR])
    session.rollback()
    assert session.exec(select(HookDelivery)).all() == []


def test_retries_back_off_from_seconds_to_hourly_and_give_up_after_a_day(
    ctx, session, people, make_postmortem, receivers
):
    receiver = receivers(fail_first=10_000, fail_status=502)
    add_hook(session, receiver.url, events="postmortem.published")
    publish(session, make_postmortem)
    [row] = session.exec(select(HookDelivery)).all()
    now = row.created_at
    gaps = []
    for _ in range(60):
        report = delivery.deliver_due(session, timeout=5, now=now)
        assert report.tried == 1
        session.expire_all()
        row = session.get(HookDelivery, row.id)
        if row.state != "pending":
            break
        gaps.append((row.next_attempt_at - now).total_seconds())
        # a round a second early finds nothing due
        assert (
            delivery.deliver_due(session, now=row.next_attempt_at - timedelta(seconds=1)).tried == 0
        )
        now = row.next_attempt_at
    assert gaps[:7] == [5, 30, 120, 600, 1800, 3600, 3600]
    assert row.state == "given-up"
    assert row.last_status == 502
    assert now - row.created_at <= timedelta(hours=24)
    assert len(receiver.requests) == row.attempts == len(gaps) + 1
    assert len(session.exec(select(HookAttempt)).all()) == row.attempts
    assert delivery.deliver_due(session, now=now + timedelta(days=2)).tried == 0


def test_finished_deliveries_are_forgotten_after_30_days(
    ctx, session, people, make_postmortem, receivers
):
    receiver = receivers(fail_first=1)
    add_hook(session, receiver.url, events="postmortem.published,review.decided")
    publish(session, make_postmortem)
    start = utcnow()
    rounds(session, start, 0)  # the first fails (retried later), the second is delivered
    assert delivery.prune(session, start + timedelta(days=29)) == 0
    assert delivery.prune(session, start + timedelta(days=31)) == 1  # the pending one stays
    session.commit()
    [(row, [attempt])] = delivery.deliveries(session)
    assert row.state == "pending" and attempt.status == 500
    assert len(session.exec(select(HookAttempt)).all()) == 1


def test_restricted_postmortems_go_only_to_hooks_marked_for_them(
    ctx, session, people, make_postmortem, receivers
):
    plain, trusted = receivers(), receivers()
    add_hook(session, plain.url, events="postmortem.published")
    add_hook(session, trusted.url, events="postmortem.published", receives_restricted=True)
    publish(
        session,
        make_postmortem,
        ref="INC-2026-007",
        title="The secret outage",
        visibility="restricted",
        readers=[REVIEWER],
    )
    rounds(session, utcnow(), 0)
    assert plain.requests == []
    [request] = trusted.requests
    assert request["payload"]["postmortem"]["title"] == "The secret outage"


def test_a_postmortem_restricted_after_the_event_is_withheld(
    ctx, session, people, make_postmortem, receivers
):
    receiver = receivers()
    add_hook(session, receiver.url, events="postmortem.published")
    pm = publish(session, make_postmortem)
    pm.visibility = "restricted"
    session.add(pm)
    session.commit()
    [report] = rounds(session, utcnow(), 0)
    assert report.skipped == 1 and receiver.requests == []
    [row] = session.exec(select(HookDelivery)).all()
    assert row.state == "skipped"


def test_two_servers_never_send_one_delivery_at_once(
    app, ctx, session, people, make_postmortem, receivers
):
    from sqlmodel import Session

    receiver = receivers(delay=0.3)
    for _ in range(3):
        add_hook(session, receiver.url, events="postmortem.published")
    publish(session, make_postmortem)
    now = utcnow()
    results = []

    def server():
        with Session(app.extensions["kb_engine"]) as own:
            results.append(delivery.deliver_due(own, timeout=5, now=now))

    threads = [threading.Thread(target=server) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.delivered for r in results) == 3
    ids = [r["headers"]["X-Hindsight-Delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 3

    # The claim itself: of two claims of one due row, one wins.
    row = session.exec(select(HookDelivery)).first()
    session.execute(
        HookDelivery.__table__.update()
        .where(HookDelivery.__table__.c.id == row.id)
        .values(state="pending", claimed_until=None)
    )
    session.commit()
    lease = delivery.lease_for(5)
    with Session(app.extensions["kb_engine"]) as other:
        assert delivery.claim(session, row.id, now, lease) is True
        assert delivery.claim(other, row.id, now, lease) is False
        assert delivery.claim(other, row.id, now + lease + timedelta(seconds=1), lease) is True


def test_slack_format_sends_a_chat_message(ctx, session, people, make_postmortem, receivers):
    receiver = receivers(secret=SECRET_A)
    add_hook(session, receiver.url, events="postmortem.published", format="slack", secret=SECRET_A)
    publish(session, make_postmortem, title="Checkout <errors> & retries")
    rounds(session, utcnow(), 0)
    [request] = receiver.requests
    assert request["verified"]
    assert set(request["payload"]) == {"text"}
    text = request["payload"]["text"]
    assert text.startswith(
        "Postmortem published: INC-2026-001: Checkout &lt;errors&gt; &amp; retries"
    )
    assert text.endswith("\nhttp://hindsight.test/postmortems/INC-2026-001")
    assert request["headers"]["X-Hindsight-Event"] == "postmortem.published"


def test_redirects_are_not_followed(ctx, session, people, make_postmortem, receivers):
    target = receivers()

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(307)
            self.send_header("Location", target.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        add_hook(
            session,
            f"http://127.0.0.1:{server.server_address[1]}/old",
            events="postmortem.published",
        )
        publish(session, make_postmortem)
        [report] = rounds(session, utcnow(), 0)
    finally:
        server.shutdown()
        server.server_close()
    assert report.failed == 1 and target.requests == []
    [row] = session.exec(select(HookDelivery)).all()
    assert row.last_status == 307 and "do not follow redirects" in row.last_error


def test_an_unreachable_hook_is_a_failed_attempt(ctx, session, people, make_postmortem):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add_hook(session, f"http://127.0.0.1:{port}/", events="postmortem.published")
    publish(session, make_postmortem)
    [report] = rounds(session, utcnow(), 0)
    assert report.failed == 1
    [(row, [attempt])] = delivery.deliveries(session)
    assert attempt.status is None and "refused" in attempt.error.lower()
    assert row.state == "pending"


def test_a_slow_receiver_is_a_failed_attempt_after_the_timeout(
    ctx, session, people, make_postmortem, receivers
):
    receiver = receivers(delay=3.0)
    add_hook(session, receiver.url, events="postmortem.published")
    publish(session, make_postmortem)
    report = delivery.deliver_due(session, timeout=1, now=utcnow())
    assert report.failed == 1
    [(row, [attempt])] = delivery.deliveries(session)
    assert attempt.status is None and "timed out" in attempt.error
    assert attempt.duration_ms < 2500
    assert row.state == "pending" and row.attempts == 1


def test_overdue_action_items_are_told_once_a_day(ctx, session, people, make_postmortem, receivers):
    from datetime import date

    receiver = receivers()
    add_hook(session, receiver.url, events="action_item.overdue")
    make_postmortem(
        action_items=[
            {"title": "Stage configuration pushes", "owner": "platform", "due": "2026-04-01"},
            {"title": "Done already", "owner": "platform", "due": "2026-04-01", "status": "done"},
        ]
    )
    make_postmortem(
        ref="INC-2026-002",
        visibility="restricted",
        readers=[REVIEWER],
        action_items=[{"title": "Hidden", "owner": "secops", "due": "2026-04-01"}],
    )
    day = date(2026, 4, 10)
    assert events.queue_overdue(session, day) == 1
    session.commit()
    assert events.queue_overdue(session, day) == 0  # the same day: nothing new
    session.commit()
    rounds(session, utcnow(), 0)
    [request] = receiver.requests
    item = request["payload"]["action_item"]
    assert item["title"] == "Stage configuration pushes"
    assert item["days_overdue"] == 9 and item["due"] == "2026-04-01"
    assert events.queue_overdue(session, day + timedelta(days=1)) == 1  # the next day, again
    session.commit()


def test_the_digest_run_tells_hooks_once_per_month(
    app, session, people, make_postmortem, receivers, runner
):
    from aiosmtpd.controller import Controller

    from tests.test_digest_send import MONTH, Mailbox, free_port

    receiver = receivers()
    with app.app_context():
        add_hook(session, receiver.url, events="digest.sent")
    make_postmortem()
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        result = runner.invoke(args=["digest", "send", "--month", MONTH])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["digest", "send", "--month", MONTH])  # nothing new
    finally:
        controller.stop()
    result = runner.invoke(args=["hooks", "deliver"])
    assert result.exit_code == 0, result.output
    [request] = receiver.requests
    assert request["payload"]["digest"]["month"] == MONTH
    assert request["payload"]["digest"]["sent"] == 2  # the two people
    assert request["payload"]["digest"]["url"] == f"http://hindsight.test/digest/{MONTH}"


def test_the_cli_adds_lists_delivers_and_removes(
    session, people, make_postmortem, receivers, runner, app
):
    receiver = receivers(secret=SECRET_A, fail_first=1)
    result = runner.invoke(
        args=[
            "hooks",
            "add",
            receiver.url,
            "--events",
            "postmortem.published",
            "--secret",
            SECRET_A,
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Added hook 1" in result.output
    result = runner.invoke(args=["hooks", "list"])
    assert receiver.url in result.output and "signed" in result.output
    assert SECRET_A not in result.output

    with app.app_context():
        publish(session, make_postmortem)
    result = runner.invoke(args=["hooks", "deliver"])
    assert result.exit_code == 1  # the first request failed: it is retried later
    assert "0 delivered, 1 failed" in result.output
    session.execute(HookDelivery.__table__.update().values(next_attempt_at=utcnow()))
    session.commit()
    result = runner.invoke(args=["hooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert "1 delivered, 0 failed" in result.output

    result = runner.invoke(args=["hooks", "deliveries", "--hook", "1"])
    assert "postmortem.published  delivered" in result.output
    assert "#1" in result.output and "500" in result.output and "#2" in result.output
    assert runner.invoke(args=["hooks", "deliveries", "--hook", "9"]).exit_code == 1

    result = runner.invoke(args=["hooks", "remove", "1"])
    assert result.exit_code == 0 and "Removed hook 1" in result.output
    session.expire_all()
    assert session.exec(select(Hook)).all() == []
    assert session.exec(select(HookDelivery)).all() == []
    assert session.exec(select(HookAttempt)).all() == []
    result = runner.invoke(args=["hooks", "remove", "1"])
    assert result.exit_code == 1 and "There is no hook 1" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://x.example/"], "is not an http:// or https:// URL"),
        (["http://"], "has no host name"),
        (["https://user:pw@x.example/"], "Credentials in the URL are not sent"),
        (["http://x.example:99999/"], "is not a valid URL"),
        (
            ["https://x.example/", "--events", "postmortem.deleted"],
            "Unknown event 'postmortem.deleted'",
        ),
        (["https://x.example/", "--format", "teams"], "Unknown format 'teams'"),
        (["https://x.example/", "--secret", "short"], "16 to 200 printable characters"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(runner, session, args, message):
    result = runner.invoke(args=["hooks", "add", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert session.exec(select(Hook)).all() == []


def test_a_generated_secret_is_shown_once(runner, session):
    result = runner.invoke(args=["hooks", "add", "https://x.example/h", "--generate-secret"])
    assert result.exit_code == 0, result.output
    secret = result.output.rsplit(": ", 1)[1].strip()
    assert len(secret) == 64
    assert session.exec(select(Hook)).one().secret == secret
    assert secret not in runner.invoke(args=["hooks", "list"]).output


def test_the_admin_page_is_for_admins(client, login, make_user, session):
    assert client.get("/admin/hooks").status_code == 302  # to sign in
    login(make_user(AUTHOR, role="author"))
    assert client.get("/admin/hooks").status_code == 403
    response = client.post(
        "/admin/hooks", data={"csrf_token": _csrf_token(client), "url": "https://x.example/h"}
    )
    assert response.status_code == 403
    assert session.exec(select(Hook)).all() == []


def test_the_admin_page_adds_lists_and_removes_hooks(client, login, make_user, session):
    login(make_user("admin@x.example", role="admin"))
    page = client.get("/admin/hooks")
    assert page.status_code == 200 and "No hooks yet." in page.get_data(as_text=True)

    bad = client.post(
        "/admin/hooks",
        data={
            "csrf_token": _csrf_token(client),
            "url": "javascript:alert(1)",
            "events": ["digest.sent"],
        },
    )
    assert bad.status_code == 400
    assert "is not an http:// or https:// URL" in bad.get_data(as_text=True)
    unknown = client.post(
        "/admin/hooks",
        data={"csrf_token": _csrf_token(client), "url": "https://x.example/h", "events": ["nope"]},
    )
    assert unknown.status_code == 400 and "Unknown event" in unknown.get_data(as_text=True)
    assert client.post("/admin/hooks", data={"url": "https://x.example/h"}).status_code == 400
    assert session.exec(select(Hook)).all() == []

    added = client.post(
        "/admin/hooks",
        data={
            "csrf_token": _csrf_token(client),
            "url": "https://chat.x.example/hooks/abc",
            "events": ["postmortem.published", "digest.sent"],
            "format": "slack",
            "secret": SECRET_B,
            "receives_restricted": "on",
        },
    )
    assert added.status_code == 302
    hook = session.exec(select(Hook)).one()
    assert hook.events == ["postmortem.published", "digest.sent"]
    assert hook.format == "slack" and hook.receives_restricted and hook.secret == SECRET_B
    body = client.get("/admin/hooks").get_data(as_text=True)
    assert "https://chat.x.example/hooks/abc" in body and "signed" in body
    assert SECRET_B not in body

    paused = client.post(f"/admin/hooks/{hook.id}/pause", data={"csrf_token": _csrf_token(client)})
    assert paused.status_code == 302
    session.expire_all()
    assert session.get(Hook, hook.id).active is False
    removed = client.post(
        f"/admin/hooks/{hook.id}/remove", data={"csrf_token": _csrf_token(client)}
    )
    assert removed.status_code == 302
    assert session.exec(select(Hook)).all() == []
    from kb.models import AuditEvent

    logged = session.exec(
        select(AuditEvent).where(AuditEvent.action.startswith("hook-")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_email) for e in logged] == [
        ("hook-add", "admin@x.example"),
        ("hook-pause", "admin@x.example"),
        ("hook-remove", "admin@x.example"),
    ]
    assert "receives restricted postmortems" in logged[0].detail
    assert SECRET_B not in logged[0].detail
    missing = client.post(
        f"/admin/hooks/{hook.id}/remove", data={"csrf_token": _csrf_token(client)}
    )
    assert missing.status_code == 404


def test_the_background_thread_delivers_and_stops(database_url, tmp_path, receivers):
    from kb import create_app
    from kb.hooks.worker import worker_for

    receiver = receivers()
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "worker"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "HOOKS_WORKER": "on",
            "HOOKS_POLL_SECONDS": 0.2,
        }
    )
    from sqlmodel import Session

    with Session(app.extensions["kb_engine"]) as session:
        add_hook(session, receiver.url, events="digest.sent")
        with app.app_context():
            events.queue(session, "digest.sent", {"digest": {"month": "2026-03"}})
            session.commit()
    worker = worker_for(app)
    assert not worker.running
    app.test_client().get("/healthz")  # a request starts it
    assert worker.running
    for _ in range(100):
        if receiver.accepted:
            break
        threading.Event().wait(0.05)
    worker.stop()
    assert not worker.running
    [request] = receiver.requests
    assert request["payload"]["event"] == "digest.sent"
    app.extensions["kb_engine"].dispose()


def test_the_worker_is_off_in_the_test_app(app, client):
    from kb.hooks.worker import worker_for

    client.get("/healthz")
    assert not worker_for(app).running


@pytest.mark.parametrize(
    ("setting", "value"),
    [("HOOKS_WORKER", "sometimes"), ("HOOKS_TIMEOUT", 0), ("HOOKS_POLL_SECONDS", 60)],
)
def test_bad_settings_are_refused(tmp_path, setting, value):
    from kb import create_app

    with pytest.raises(ValueError, match=f"KB_{setting}"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), setting: value})


def test_a_test_client_of_a_serving_app_starts_no_thread(database_url, tmp_path):
    # Without TESTING the default is "on when serving": a request through a server (which
    # names itself in SERVER_SOFTWARE) starts the thread, a test client's does not.
    from kb import create_app
    from kb.hooks.worker import worker_for

    app = create_app({"INSTANCE_PATH": str(tmp_path / "served"), "DATABASE_URL": database_url})
    worker = worker_for(app)
    app.test_client().get("/healthz")
    assert not worker.running
    app.test_client().get("/healthz", environ_base={"SERVER_SOFTWARE": "gunicorn/23.0"})
    assert worker.running
    worker.stop()
    assert not worker.running
    app.extensions["kb_engine"].dispose()
