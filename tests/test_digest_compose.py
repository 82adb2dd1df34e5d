"""What the digest says: the month's postmortems, themes, action items, figures, one pick."""

import re
from datetime import date

import pytest

from kb import months
from kb.digest.compose import INTERNAL_ONLY, compose, key_lesson
from kb.digest.render import duration, render
from kb.months import MonthError, parse_month


def _compose(app, session, viewer, month="2026-03"):
    with app.app_context():
        return compose(session, viewer, parse_month(month, today=date(2026, 11, 27)))


def _render(app, digest, **kwargs):
    with app.app_context():
        return render(digest, **kwargs)


def test_months_are_parsed_strictly():
    today = date(2026, 11, 27)
    assert parse_month("2026-10", today=today) == date(2026, 10, 1)
    assert parse_month(" 2026-11 ", today=today) == date(2026, 11, 1)
    for bad in ("2026-13", "2026-1", "26-10", "", None, "2026-10-01", "1900-01"):
        with pytest.raises(MonthError, match="is not a month"):
            parse_month(bad, today=today)
    with pytest.raises(MonthError, match="has not begun yet"):
        parse_month("2026-12", today=today)
    assert months.last_ended_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert months.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)


def test_the_key_lesson_is_the_first_one():
    assert key_lesson("- Stage pushes. They hurt.\n- Watch errors.") == "Stage pushes."
    assert key_lesson("Keep **guards** in place") == "Keep guards in place"
    assert key_lesson("") == ""


def test_only_this_months_published_postmortems_count(app, session, make_postmortem):
    make_postmortem(ref="INC-2026-001", title="Published in March", severity="SEV3")
    make_postmortem(ref="INC-2026-002", title="Also March, worse", severity="SEV1")
    make_postmortem(
        ref="INC-2026-003", title="Published in April", published_at="2026-04-02T10:00:00Z"
    )
    make_postmortem(ref="INC-2026-004", title="Still a draft", status="draft", published_at=None)
    make_postmortem(ref="INC-2026-005", title="A near miss", kind="near-miss", severity="SEV4")
    make_postmortem(ref="INC-2026-006", title="A game day", kind="game-day", severity="SEV4")
    digest = _compose(app, session, None)
    assert [e.title for e in digest.incidents] == ["Also March, worse", "Published in March"]
    assert [e.title for e in digest.practice] == ["A near miss", "A game day"]
    first = digest.incidents[0]
    assert first.url == "http://hindsight.test/postmortems/INC-2026-002"
    assert first.summary == "Checkout failed for 25 minutes after a configuration push."
    assert digest.incidents_total == 2 and digest.practice_total == 2


def test_restricted_postmortems_appear_only_for_those_who_may_see_them(
    app, session, make_postmortem, make_user
):
    make_postmortem(ref="INC-2026-001", title="Internal one")
    make_postmortem(
        ref="INC-2026-002",
        title="Secret one",
        visibility="restricted",
        teams=["security"],
        action_items=[{"title": "Secret action", "due": "2026-03-20"}],
    )
    insider = make_user("in@x.example", teams=["security"])
    outsider = make_user("out@x.example", teams=["payments"])
    seen = _compose(app, session, insider)
    unseen = _compose(app, session, outsider)
    lists = _compose(app, session, INTERNAL_ONLY)
    assert [e.title for e in seen.incidents] == ["Internal one", "Secret one"]
    assert seen.has_restricted and seen.incidents[1].restricted
    for digest in (unseen, lists):
        assert [e.title for e in digest.incidents] == ["Internal one"]
        assert "Secret" not in repr(digest.as_dict())
        assert digest.figures.incidents == 1  # counts leak nothing either
    assert seen.figures.incidents == 2
    assert lists.internal_only and not unseen.internal_only


def test_action_items_overdue_or_due_next_month_by_team(app, session, make_postmortem):
    make_postmortem(
        ref="INC-2026-001",
        teams=["payments", "platform"],
        action_items=[
            {"title": "Overdue one", "owner": "platform", "due": "2026-02-10"},
            {"title": "Due in April", "owner": "someone@x.example", "due": "2026-04-15"},
            {"title": "Due in May", "owner": "platform", "due": "2026-05-15"},
            {"title": "Done already", "owner": "platform", "due": "2026-02-01", "status": "done"},
            {"title": "No date", "owner": "platform"},
        ],
    )
    digest = _compose(app, session, None)
    teams = {t.team: t for t in digest.actions}
    assert set(teams) == {"platform", "payments"}
    assert [a.title for a in teams["platform"].items] == ["Overdue one"]
    assert teams["platform"].items[0].overdue
    # An owner who is a person counts for the postmortem's first team.
    assert [a.title for a in teams["payments"].items] == ["Due in April"]
    assert not teams["payments"].items[0].overdue
    assert (digest.actions_overdue, digest.actions_due_next_month) == (1, 1)
    assert digest.actions[0].team == "platform"  # most overdue first


def test_a_team_named_only_on_restricted_postmortems_groups_nothing(
    app, session, make_postmortem, make_user
):
    # An owner is grouped under a team of that name only when the reader may know the team:
    # otherwise the grouping would tell that a restricted postmortem names it.
    make_postmortem(
        ref="INC-2026-001",
        teams=["payments"],
        action_items=[{"title": "Rotate keys", "owner": "red-team", "due": "2026-03-20"}],
    )
    make_postmortem(
        ref="INC-2026-002", visibility="restricted", teams=["red-team"], readers=["in@x.example"]
    )
    outsider = make_user("out@x.example", teams=["payments"])
    insider = make_user("in@x.example")  # a named reader: no membership names the team
    assert [t.team for t in _compose(app, session, outsider).actions] == ["payments"]
    assert [t.team for t in _compose(app, session, INTERNAL_ONLY).actions] == ["payments"]
    assert [t.team for t in _compose(app, session, insider).actions] == ["red-team"]


def test_key_figures_sit_beside_the_previous_month(app, session, make_postmortem):
    make_postmortem(ref="INC-2026-001", severity="SEV1")  # started 2 March, detected in 17 min
    make_postmortem(
        ref="INC-2026-002",
        severity="SEV2",
        started_at="2026-02-10T09:00:00Z",
        detected_at="2026-02-10T10:00:00Z",
        mitigated_at="2026-02-10T10:30:00Z",
        resolved_at="2026-02-10T11:00:00Z",
        published_at="2026-02-20T09:00:00Z",
    )
    digest = _compose(app, session, None)
    figures = {f.label: f for f in digest.key_figures}
    assert (figures["SEV1"].this, figures["SEV1"].previous) == (1, 0)
    detect = figures["Median time to detect"]
    assert (detect.this, detect.previous, detect.better) == (17, 60, True)
    assert digest.previous_figures.month == date(2026, 2, 1)


def test_the_recommended_read_falls_back_to_the_most_severe_with_lessons(
    app, session, make_postmortem
):
    make_postmortem(ref="INC-2026-001", severity="SEV1", title="Worst, no lessons")
    make_postmortem(ref="INC-2026-002", severity="SEV2", title="Bad, lessons", lessons="- Learn.")
    make_postmortem(ref="INC-2026-003", severity="SEV3", title="Mild, lessons", lessons="- Ok.")
    digest = _compose(app, session, None)
    assert digest.themes == ()  # no `kb themes rebuild` has run
    assert digest.recommended.entry.title == "Bad, lessons"
    assert digest.recommended.rule == "most-severe-this-month"
    assert "most severe incident published in March (SEV2)" in digest.recommended.reason


def test_the_recommended_read_is_an_earlier_postmortem_in_a_rising_theme(
    app, session, make_postmortem
):
    from kb.insights import themes

    factor = "The certificate on the load balancer expired because renewal was manual."
    for n, (month, severity) in enumerate(
        [("2025-11", "SEV3"), ("2025-12", "SEV2"), ("2026-03", "SEV3"), ("2026-03", "SEV4")]
    ):
        make_postmortem(
            ref=f"INC-2026-{n + 1:03d}",
            title=f"Certificate expiry {n}",
            severity=severity,
            started_at=f"{month}-02T09:14:00Z",
            detected_at=f"{month}-02T09:31:00Z",
            mitigated_at=f"{month}-02T10:05:00Z",
            resolved_at=f"{month}-02T11:40:00Z",
            published_at=f"{month}-09T16:00:00Z",
            lessons="- Automate renewals.",
            contributing_factors=[{"text": factor, "category": "certificates"}],
        )
    for n in range(4):  # other themes, so there is something to tell apart
        make_postmortem(
            ref=f"INC-2025-{n + 1:03d}",
            title=f"Other {n}",
            started_at="2025-06-02T09:14:00Z",
            detected_at=None,
            mitigated_at=None,
            resolved_at=None,
            published_at="2025-06-09T16:00:00Z",
            contributing_factors=[
                {"text": "The connection pool was sized for average load.", "category": "capacity"}
            ],
        )
    themes.rebuild(session, force=True)
    session.commit()
    digest = _compose(app, session, None)
    rising = [t for t in digest.themes if "INC-2026-003" in t.refs]
    assert rising and rising[0].this_month == 2
    pick = digest.recommended
    assert pick.rule == "earlier-in-rising-theme"
    assert pick.entry.ref == "INC-2026-002"  # the most severe one published before March
    assert pick.factor == factor and "met the same problem" in pick.reason


def test_text_and_html_carry_the_same_content(app, session, make_postmortem):
    make_postmortem(ref="INC-2026-001", title="Payments <b>down</b>", lessons="- Stage pushes.")
    make_postmortem(ref="INC-2026-002", title="Drill", kind="game-day", severity="SEV4")
    digest = _compose(app, session, None)
    content = _render(app, digest, to="a@x.example", unsubscribe_url="http://hindsight.test/u/t")
    assert content.subject == "Hindsight · March 2026: 1 incident, 1 game day"
    for body in (content.text, content.html):
        for words in (
            "Stage pushes.",
            "INC-2026-001",
            "Drill",
            "Key figures",
            "http://hindsight.test/u/t",
        ):
            assert words.lower() in body.lower(), words
    assert "Payments <b>down</b>" in content.text
    assert "Payments &lt;b&gt;down&lt;/b&gt;" in content.html  # escaped, never markup
    assert "<script" not in content.html and "<style>" in content.html
    assert re.search(r'<table class="card"[^>]* style="[^"]*border-radius', content.html)  # inlined
    assert 'name="color-scheme" content="light dark"' in content.html
    assert "\n\n\n" not in content.text and "  \n" not in content.text


def test_a_quiet_month_still_says_so(app, session):
    digest = _compose(app, session, None, month="2026-06")
    content = _render(app, digest, to="a@x.example")
    assert digest.is_quiet and digest.recommended is None
    assert content.subject == "Hindsight · June 2026: a quiet month"
    assert "No incident postmortem was published this month." in content.text


def test_durations_read_at_a_glance():
    assert [duration(m) for m in (None, 5, 60, 190, 60 * 24 * 2 + 240)] == [
        "–",
        "5 min",
        "1 h",
        "3 h 10 min",
        "2 d 4 h",
    ]
