"""Review that people can find: a request reaches the reviewer's inbox (the home page and the
header) and mailbox, the decision reaches the authors' mailboxes, each person can opt out, a
failed send is retried from the outbox, and the review thread stays on the published page.

The mail goes to a real SMTP server (aiosmtpd on a free port), as in the digest's tests.
"""

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from kb import accounts
from kb.models import ReviewMail
from tests.conftest import _csrf_token
from tests.test_digest_send import Mailbox, free_port

AUTHOR = "author@x.example"
REVIEWER = "reviewer@x.example"
REF = "INC-2026-001"


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


@pytest.fixture
def people(make_user, session):
    author = make_user(AUTHOR, role="author", teams=["payments"])
    author.name = "Avery Author"
    reviewer = make_user(REVIEWER, role="author", teams=["search"])
    reviewer.name = "Robin Reviewer"
    session.commit()
    return {"author": author, "reviewer": reviewer}


@pytest.fixture
def draft(make_postmortem, people):
    return make_postmortem(ref=REF, status="draft", published_at=None, authors=[AUTHOR])


def _token(session, email):
    _row, token = accounts.create_token(session, email, "test")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _ask_review(client, login, people, reviewer=REVIEWER):
    login(people["author"])
    return client.post(
        f"/postmortems/{REF}/transition",
        data={"csrf_token": _csrf_token(client), "action": "request-review", "reviewers": reviewer},
    )


def _text(message):
    return message.get_body(("plain",)).get_content()


def _html(message):
    return message.get_body(("html",)).get_content()


def test_review_request_reaches_the_reviewers_inbox_and_mailbox(
    client, login, session, smtp, people, draft
):
    response = _ask_review(client, login, people)
    assert response.status_code == 302
    [message] = smtp.to(REVIEWER)
    assert message["Subject"].strip() == f"Review requested: {REF} {draft.title}"
    assert "Robin Reviewer" in message["To"]
    text = _text(message)
    assert "Avery Author asks you to review" in text
    assert f"http://hindsight.test/postmortems/{REF}" in text
    assert "http://hindsight.test/settings" in text
    assert f'href="http://hindsight.test/postmortems/{REF}"' in _html(message)
    assert smtp.to(AUTHOR) == []  # asking mails the reviewers only
    rows = session.exec(select(ReviewMail)).all()
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("requested", "sent", 1)]

    login(people["reviewer"])
    home = client.get("/").get_data(as_text=True)
    assert "Waiting for my review" in home
    inbox = home[home.index('id="waiting"') : home.index("</section>", home.index('id="waiting"'))]
    assert draft.title in inbox and REF in inbox
    assert 'class="review-count"' in home
    assert 'Reviews <span class="count">1</span>' in home

    # The author has nothing to review: no list, no count.
    login(people["author"])
    home = client.get("/").get_data(as_text=True)
    assert "Waiting for my review" not in home
    assert "review-count" not in home


@pytest.mark.parametrize(
    ("action", "comment", "subject", "said"),
    [
        ("approve", "Clear and blameless, thank you.", "Published: ", "approved INC-2026-001"),
        ("request-changes", "Add the detection time.", "Changes requested: ", "asked for changes"),
    ],
)
def test_the_decision_reaches_the_authors_mailbox(
    client, login, session, smtp, people, draft, action, comment, subject, said
):
    _ask_review(client, login, people)
    response = client.application.test_client().post(  # the API, with a token
        f"/api/v1/postmortems/{REF}/transitions",
        json={"action": action, "comment": comment},
        headers=_token(session, REVIEWER),
    )
    assert response.status_code == 200, response.json
    [message] = smtp.to(AUTHOR)
    assert message["Subject"].strip().startswith(subject + REF)
    text = _text(message)
    assert f"Robin Reviewer {said}" in text
    assert comment in text
    assert len(smtp.to(REVIEWER)) == 1  # the request only: the reviewer is not told of their own

    # Decided, it leaves the reviewer's inbox.
    login(people["reviewer"])
    home = client.get("/").get_data(as_text=True)
    assert "Waiting for my review" not in home and "review-count" not in home


def test_each_person_can_opt_out_of_review_mail(client, login, session, smtp, people, draft):
    login(people["reviewer"])
    page = client.get("/settings")
    assert page.status_code == 200 and "Review e-mail to reviewer@x.example" in page.text
    bad = client.post("/settings", data={"csrf_token": _csrf_token(client), "review_mail": "x"})
    assert bad.status_code == 400
    response = client.post(
        "/settings", data={"csrf_token": _csrf_token(client), "review_mail": "off"}
    )
    assert response.status_code == 200 and "You will not receive review e-mail" in response.text
    session.expire_all()
    assert accounts.get_user(session, REVIEWER).review_mail_opt_out is True

    _ask_review(client, login, people)
    assert smtp.messages == []
    assert session.exec(select(ReviewMail)).all() == []
    # No mail, but the inbox still shows it.
    login(people["reviewer"])
    assert "Waiting for my review" in client.get("/").text

    # The author opts out too: the decision mails no one.
    login(people["author"])
    client.post("/settings", data={"csrf_token": _csrf_token(client), "review_mail": "off"})
    login(people["reviewer"])
    client.post(
        f"/postmortems/{REF}/transition",
        data={"csrf_token": _csrf_token(client), "action": "approve"},
    )
    assert smtp.messages == []

    # Back on: mail again.
    login(people["reviewer"])
    client.post("/settings", data={"csrf_token": _csrf_token(client), "review_mail": "on"})
    session.expire_all()
    assert accounts.get_user(session, REVIEWER).review_mail_opt_out is False


def test_the_review_thread_stays_on_the_published_postmortem(
    client, login, session, smtp, people, draft, make_user
):
    _ask_review(client, login, people)
    login(people["reviewer"])
    client.post(
        f"/postmortems/{REF}/transition",
        data={
            "csrf_token": _csrf_token(client),
            "action": "approve",
            "comment": "Clear and blameless, thank you.",
        },
    )
    reader = make_user("reader@x.example", role="reader")
    login(reader)
    page = client.get(f"/postmortems/{REF}").get_data(as_text=True)
    assert "Published" in page
    thread = page[page.index('class="review-thread"') : page.index("</ol>", page.index("review"))]
    assert "Avery Author asked Robin Reviewer to review" in thread
    assert "Robin Reviewer" in thread and "approved" in thread
    assert "Clear and blameless, thank you." in thread


def test_a_failed_send_does_not_fail_the_request_and_is_retried(
    client, login, session, smtp, people, draft, runner
):
    smtp.refuse.add(REVIEWER)
    response = _ask_review(client, login, people)
    assert response.status_code == 302
    session.expire_all()
    [row] = session.exec(select(ReviewMail)).all()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in row.error
    assert smtp.messages == []
    # The transition itself is committed.
    login(people["reviewer"])
    assert "Waiting for my review" in client.get("/").text

    smtp.refuse.clear()
    result = runner.invoke(args=["reviews", "send-mail"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    assert len(smtp.to(REVIEWER)) == 1
    session.expire_all()
    [row] = session.exec(select(ReviewMail)).all()
    assert (row.status, row.attempts) == ("sent", 2)
    # Nothing left: a second run sends nothing again.
    result = runner.invoke(args=["reviews", "send-mail"])
    assert "0 sent, 0 failed" in result.output
    assert len(smtp.to(REVIEWER)) == 1


def test_the_mail_server_down_does_not_fail_the_transition(
    client, login, session, people, draft, app, runner
):
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    response = _ask_review(client, login, people)
    assert response.status_code == 302
    login(people["reviewer"])
    assert "Waiting for my review" in client.get("/").text
    session.expire_all()
    [row] = session.exec(select(ReviewMail)).all()
    assert row.status == "pending"  # kept for the next run
    result = runner.invoke(args=["reviews", "send-mail"])
    assert result.exit_code == 1
    assert "0 sent, 1 failed" in result.output


def test_inbox_and_mail_follow_the_visibility_rule(client, login, session, smtp, people, draft):
    """A reviewer who may no longer read a restricted postmortem neither sees it nor gets mail."""
    smtp.refuse.add(REVIEWER)
    login(people["author"])
    client.post(
        f"/postmortems/{REF}/transition",
        data={"csrf_token": _csrf_token(client), "action": "request-review", "reviewers": REVIEWER},
    )
    # Restricted to the payments team afterwards (an admin's or an author's change).
    from kb.models import Postmortem

    pm = session.exec(select(Postmortem).where(Postmortem.ref == REF)).one()
    pm.visibility = "restricted"
    session.commit()
    login(people["reviewer"])
    home = client.get("/").text
    assert "Waiting for my review" not in home and draft.title not in home
    assert "review-count" not in home

    smtp.refuse.clear()
    runner = client.application.test_cli_runner()
    result = runner.invoke(args=["reviews", "send-mail"])
    assert "0 sent, 0 failed, 1 no longer wanted" in result.output
    assert smtp.messages == []
