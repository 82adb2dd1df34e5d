"""Sending the digest over real SMTP (aiosmtpd on a free port): once, to the right people.

Every test talks to an SMTP server started here in a thread; nothing is mocked.
"""

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from kb.digest.subscriptions import user_for_token
from kb.models import DigestSend

MONTH = "2026-03"  # the default test document is published 2026-03-09


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and can refuse, stop or drop."""

    def __init__(self):
        self.messages = []  # (envelope recipients, parsed message)
        self.refuse = set()  # addresses answered with 550
        self.close_after = None  # accept this many messages, then answer 421
        self.drop_data_for = set()  # close the connection after DATA, without an answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.close_after is not None and len(self.messages) >= self.close_after:
            return "421 4.3.2 shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if set(envelope.rcpt_tos) & self.drop_data_for:
            server.transport.close()
            return "250 never heard"
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 queued"

    def to(self, address):
        """The messages delivered to one address."""
        return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def smtp(app):
    """A running SMTP server, and the app configured to send to it."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        MAIL_FROM="Hindsight <kb@x.example>",
    )
    yield mailbox
    controller.stop()


def send(runner, *args):
    return runner.invoke(args=["digest", "send", "--month", MONTH, *args])


def log_rows(session):
    session.expire_all()
    return {r.address: r for r in session.exec(select(DigestSend)).all()}


@pytest.fixture
def team(make_user, make_postmortem):
    make_postmortem(
        ref="INC-2026-001",
        title="Checkout errors after a configuration push",
        lessons="- Stage every configuration push.\n- Watch the error rate.",
    )
    return [
        make_user("ann@x.example", role="author", teams=["payments"]),
        make_user("bob@x.example"),
        make_user("cy@x.example"),
    ]


def test_the_message_arrives_with_both_parts_and_the_right_headers(app, smtp, runner, team):
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert "Sent 3; 0 already had it." in result.output
    [message] = smtp.to("ann@x.example")
    assert message["From"] == "Hindsight <kb@x.example>"
    assert message["To"].addresses[0].addr_spec == "ann@x.example"
    assert message["Subject"] == "Hindsight · March 2026: 1 incident"
    assert message["Message-ID"].endswith("@x.example>")
    assert message["Date"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://hindsight.test/digest/unsubscribe/")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Checkout errors after a configuration push" in body
        assert "Stage every configuration push." in body
        assert "http://hindsight.test/postmortems/INC-2026-001" in body
    assert "<script" not in html and 'style="' in html  # inlined for mail clients
    assert "prefers-color-scheme: dark" in html  # kept in a <style> block for those that read it
    # The link in the header is this user's own, signed.
    token = unsubscribe.strip("<>").rsplit("/", 1)[1]
    with app.app_context():
        from kb.db import get_session

        assert user_for_token(get_session(), "test-secret", token).email == "ann@x.example"


def test_a_second_run_sends_nothing(smtp, runner, team, session):
    assert send(runner).exit_code == 0
    assert len(smtp.messages) == 3
    again = send(runner)
    assert again.exit_code == 0, again.output
    assert "Sent 0; 3 already had it." in again.output
    assert len(smtp.messages) == 3
    assert {r.status for r in log_rows(session).values()} == {"sent"}


def test_a_refused_recipient_is_reported_and_only_they_get_the_rerun(smtp, runner, team, session):
    smtp.refuse.add("bob@x.example")
    result = send(runner)
    assert result.exit_code == 1
    assert "Sent 2; 0 already had it." in result.output
    assert "Did not get it (1):" in result.output
    assert "bob@x.example: refused by the server: 550" in result.output
    rows = log_rows(session)
    assert rows["bob@x.example"].status == "failed" and "550" in rows["bob@x.example"].error

    smtp.refuse.clear()
    rerun = send(runner)
    assert rerun.exit_code == 0, rerun.output
    assert "Sent 1; 2 already had it." in rerun.output
    assert [len(smtp.to(a)) for a in ("ann@x.example", "bob@x.example", "cy@x.example")] == [
        1,
        1,
        1,
    ]
    assert log_rows(session)["bob@x.example"].attempts == 2


def test_a_server_that_is_down_is_reported_and_the_rerun_sends_to_everyone(
    app, smtp, runner, team, session
):
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    result = send(runner)
    assert result.exit_code == 1
    assert "Did not get it (3):" in result.output
    assert "ann@x.example: not tried: cannot connect" in result.output
    assert log_rows(session) == {}

    app.config["SMTP_PORT"] = port
    rerun = send(runner)
    assert rerun.exit_code == 0, rerun.output
    assert "Sent 3;" in rerun.output and len(smtp.messages) == 3


def test_a_server_that_goes_away_part_way_stops_the_run_and_the_rest_is_resumed(
    smtp, runner, team, session
):
    smtp.close_after = 1  # ann gets hers, then the server answers 421 to everything
    result = send(runner)
    assert result.exit_code == 1
    assert "Sent 1;" in result.output
    assert "bob@x.example: server unavailable: 421" in result.output
    assert "cy@x.example: not tried:" in result.output
    assert "bob@x.example" in log_rows(session) and "cy@x.example" not in log_rows(session)

    smtp.close_after = None
    rerun = send(runner)
    assert rerun.exit_code == 0, rerun.output
    assert "Sent 2; 1 already had it." in rerun.output
    assert [len(smtp.to(a)) for a in ("ann@x.example", "bob@x.example", "cy@x.example")] == [
        1,
        1,
        1,
    ]


def test_a_message_whose_answer_was_lost_is_never_resent_on_its_own(smtp, runner, team, session):
    smtp.drop_data_for.add("bob@x.example")  # the connection breaks after bob's DATA
    result = send(runner)
    assert result.exit_code == 1
    assert "bob@x.example: may have been delivered (Message-ID <" in result.output
    assert "--resend-uncertain" in result.output
    assert len(smtp.to("cy@x.example")) == 1  # the run went on after reconnecting
    assert log_rows(session)["bob@x.example"].status == "sending"

    smtp.drop_data_for.clear()
    again = send(runner)
    assert again.exit_code == 1 and "may have been delivered" in again.output
    assert smtp.to("bob@x.example") == []

    resend = send(runner, "--resend-uncertain")
    assert resend.exit_code == 0, resend.output
    assert len(smtp.to("bob@x.example")) == 1


def test_restricted_content_reaches_only_those_allowed(
    smtp, runner, make_user, make_postmortem, app
):
    make_postmortem(ref="INC-2026-001", title="An ordinary internal incident")
    make_postmortem(
        ref="INC-2026-002",
        title="Credential leak Quokkafirewall",
        visibility="restricted",
        teams=["security"],
        readers=["named@x.example"],
        lessons="- Rotate Quokkafirewall keys.",
        action_items=[{"title": "Rotate Quokkafirewall keys", "due": "2026-03-20"}],
    )
    make_user("member@x.example", teams=["security"])
    make_user("named@x.example")
    make_user("admin@x.example", role="admin")
    make_user("other@x.example", teams=["storefront"])
    app.config["DIGEST_EXTRA_RECIPIENTS"] = "all-engineering@x.example, sre-list@x.example"
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert "Sent 6;" in result.output
    for address, allowed in [
        ("member@x.example", True),
        ("named@x.example", True),
        ("admin@x.example", True),
        ("other@x.example", False),
        ("all-engineering@x.example", False),
        ("sre-list@x.example", False),
    ]:
        [message] = smtp.to(address)
        raw = message.as_string() + message.get_body(("plain",)).get_content()
        raw += message.get_body(("html",)).get_content()
        assert ("Quokkafirewall" in raw) is allowed, address
        assert ("INC-2026-002" in raw) is allowed, address
        assert "An ordinary internal incident" in raw
        # Incident counts leak nothing either: 2 for those who may see both, else 1.
        assert message["Subject"].endswith("2 incidents" if allowed else "1 incident"), address
    lists = smtp.to("sre-list@x.example")[0]
    assert "List-Unsubscribe" not in lists  # one member must not stop it for the whole list
    assert "distribution list" in lists.get_body(("plain",)).get_content()


def test_people_who_opted_out_or_are_disabled_get_nothing(smtp, runner, team, make_user, session):
    from kb import accounts

    make_user("gone@x.example", active=False)
    accounts.get_user(session, "cy@x.example").digest_opt_out = True
    session.commit()
    result = send(runner)
    assert "Sent 2;" in result.output
    assert smtp.to("cy@x.example") == [] and smtp.to("gone@x.example") == []


def test_a_test_copy_goes_to_one_address_and_leaves_the_log_alone(smtp, runner, team, session):
    result = send(runner, "--to", "qa@x.example")
    assert result.exit_code == 0, result.output
    assert "Sent a test copy of March 2026 to qa@x.example" in result.output
    assert len(smtp.messages) == 1 and smtp.to("qa@x.example")
    assert log_rows(session) == {}
    assert "Sent 3;" in send(runner).output  # everyone still gets theirs


def test_a_dry_run_sends_nothing_and_lists_who_would_get_it(smtp, runner, team, session):
    result = send(runner, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would send to 3 (1 distinct version); 0 already have it." in result.output
    assert "bob@x.example" in result.output
    assert smtp.messages == [] and log_rows(session) == {}


def test_bad_input_gets_a_clear_message(smtp, runner, team, app):
    assert "is not a month" in runner.invoke(args=["digest", "send", "--month", "2026-13"]).output
    assert (
        "has not begun yet" in runner.invoke(args=["digest", "send", "--month", "2999-01"]).output
    )
    app.config["MAIL_BACKEND"] = "pigeon"
    assert "KB_MAIL_BACKEND must be one of" in send(runner).output
    app.config["MAIL_BACKEND"] = "smtp"
    app.config["DIGEST_EXTRA_RECIPIENTS"] = "not-an-address"
    result = send(runner)
    assert result.exit_code == 1 and "is not an e-mail address" in result.output


def test_the_console_backend_prints_the_message(app, runner, team):
    app.config["MAIL_BACKEND"] = "console"
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert "Subject: Hindsight · March 2026: 1 incident" in result.output
    assert "Checkout errors after a configuration push" in result.output
    assert "[text/html part:" in result.output
