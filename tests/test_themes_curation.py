"""Admins rename, merge and split themes; the edits survive rebuilds and are audited."""

import re

import pytest
from sqlmodel import select

from kb.insights import themes
from kb.insights.themes import curation
from kb.models import AuditEvent, Factor, Postmortem, Theme, ThemeCuration, ThemeFactor
from tests.test_insights_themes import CERTIFICATE, CORPUS, DNS


@pytest.fixture
def corpus(make_postmortem, session):
    for ref, month, texts, categories in CORPUS:
        make_postmortem(
            ref=ref,
            title=f"Incident {ref}",
            summary="Customers saw errors.",
            started_at=f"{month}-05T10:00:00Z",
            detected_at=f"{month}-05T10:10:00Z",
            mitigated_at=f"{month}-05T10:20:00Z",
            resolved_at=f"{month}-05T11:00:00Z",
            published_at=f"{month}-09T10:00:00Z",
            contributing_factors=[
                {"text": t, "category": c} for t, c in zip(texts, categories, strict=True)
            ],
        )
    themes.rebuild(session)
    session.commit()
    return session


def _theme_of(session):
    """{factor text: (theme id, theme label)}."""
    rows = session.exec(
        select(Factor.text, Theme.id, Theme.label)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
        .join(Theme, Theme.id == ThemeFactor.theme_id)
    ).all()
    return {text: (theme_id, label) for text, theme_id, label in rows}


def _rebuild(session):
    report = themes.rebuild(session, force=True)
    session.commit()
    assert report.changed


def _audit(session, action):
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_pinned_label_survives_a_rebuild_and_can_be_unpinned(corpus, make_user):
    admin = make_user("admin@x.example", role="admin")
    theme_id, automatic = _theme_of(corpus)[CERTIFICATE[0]]
    curation.rename(corpus, admin, theme_id, "  Expired   certificates ")
    corpus.commit()
    assert _theme_of(corpus)[CERTIFICATE[0]][1] == "Expired certificates"
    (event,) = _audit(corpus, "theme-rename")
    assert event.actor_email == "admin@x.example" and "Expired certificates" in event.detail
    # Kept by its factors, not the theme's id: rebuilt, it lands on the certificate theme.
    stored = corpus.exec(select(ThemeCuration)).one()
    assert len(stored.factors) == len(CERTIFICATE) and all(":" in k for k in stored.factors)
    _rebuild(corpus)
    _rebuild(corpus)
    found = _theme_of(corpus)
    assert {found[t][1] for t in CERTIFICATE} == {"Expired certificates"}
    assert all(found[t][1] != "Expired certificates" for t in DNS)
    assert corpus.get(Theme, found[CERTIFICATE[0]][0]).pinned
    # An empty label unpins: the automatic label again, now and after a rebuild.
    curation.rename(corpus, admin, found[CERTIFICATE[0]][0], "")
    corpus.commit()
    assert _theme_of(corpus)[CERTIFICATE[0]][1] == automatic
    _rebuild(corpus)
    assert _theme_of(corpus)[CERTIFICATE[0]][1] == automatic


def test_a_merge_survives_a_rebuild(corpus, make_user):
    admin = make_user("admin@x.example", role="admin")
    before = _theme_of(corpus)
    dns_theme, cert_theme = before[DNS[0]][0], before[CERTIFICATE[0]][0]
    assert dns_theme != cert_theme
    curation.merge(corpus, admin, dns_theme, cert_theme)
    corpus.commit()
    after = _theme_of(corpus)
    assert {after[t][0] for t in DNS + CERTIFICATE} == {cert_theme}
    assert corpus.get(Theme, dns_theme) is None
    assert corpus.get(Theme, cert_theme).size == len(DNS) + len(CERTIFICATE)
    _rebuild(corpus)
    rebuilt = _theme_of(corpus)
    assert len({rebuilt[t][0] for t in DNS + CERTIFICATE}) == 1
    (event,) = _audit(corpus, "theme-merge")
    assert f"theme {dns_theme}" in event.detail and f"into {cert_theme}" in event.detail


def test_a_split_survives_a_rebuild(corpus, make_user):
    admin = make_user("admin@x.example", role="admin")
    theme_id, _label = _theme_of(corpus)[DNS[0]]
    members = curation.members(corpus, theme_id)
    moving = [m[0] for m in members if m[2] in (DNS[1], DNS[3])]
    new = curation.split(corpus, admin, theme_id, moving, "Resolver caching")
    corpus.commit()
    after = _theme_of(corpus)
    assert after[DNS[1]] == after[DNS[3]] == (new.id, "Resolver caching")
    assert after[DNS[0]][0] == after[DNS[2]][0] == theme_id
    _rebuild(corpus)
    rebuilt = _theme_of(corpus)
    assert rebuilt[DNS[1]][1] == rebuilt[DNS[3]][1] == "Resolver caching"
    assert rebuilt[DNS[0]][0] == rebuilt[DNS[2]][0] != rebuilt[DNS[1]][0]
    (event,) = _audit(corpus, "theme-split")
    assert "2 factors" in event.detail


def test_edits_that_cannot_be_made_say_why_and_change_nothing(corpus, make_user):
    admin = make_user("admin@x.example", role="admin")
    theme_id, _label = _theme_of(corpus)[DNS[0]]
    everything = [m[0] for m in curation.members(corpus, theme_id)]
    attempts = [
        lambda: curation.merge(corpus, admin, theme_id, theme_id),
        lambda: curation.merge(corpus, admin, theme_id, 999_999),
        lambda: curation.split(corpus, admin, theme_id, [], ""),
        lambda: curation.split(corpus, admin, theme_id, everything, ""),
        lambda: curation.split(corpus, admin, theme_id, ["999999"], ""),
        lambda: curation.rename(corpus, admin, 999_999, "x"),
        lambda: curation.rename(corpus, admin, theme_id, "x" * 201),
    ]
    for attempt in attempts:
        with pytest.raises(curation.CurationError):
            attempt()
        corpus.rollback()
    assert corpus.exec(select(ThemeCuration)).all() == []
    assert _audit(corpus, "theme-merge") == _audit(corpus, "theme-split") == []


def _csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_theme_page_offers_admins_the_forms_and_refuses_others(
    corpus, client, login, make_user
):
    theme_id, _label = _theme_of(corpus)[CERTIFICATE[0]]
    login(make_user("reader@x.example"))
    page = client.get(f"/themes/{theme_id}").get_data(as_text=True)
    assert "Curate this theme" not in page
    response = client.post(
        f"/themes/{theme_id}/rename", data={"label": "Mine", "csrf_token": _csrf(page)}
    )
    assert response.status_code == 403
    assert corpus.exec(select(ThemeCuration)).all() == []

    login(make_user("admin@x.example", role="admin"))
    page = client.get(f"/themes/{theme_id}").get_data(as_text=True)
    for action in ("rename", "merge", "split"):
        assert f'action="/themes/{theme_id}/{action}"' in page
    assert 'name="factor"' in page and 'id="merge-into"' in page
    token = _csrf(page)
    response = client.post(
        f"/themes/{theme_id}/rename",
        data={"label": "Certificates nobody renewed", "csrf_token": token},
    )
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Certificates nobody renewed" in shown and "Label pinned" in shown
    # Bad input: a message on the page, nothing changed, never a 500.
    response = client.post(f"/themes/{theme_id}/merge", data={"into": "nope", "csrf_token": token})
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Choose the theme to merge this one into" in shown
    response = client.post(f"/themes/{theme_id}/split", data={"csrf_token": token})
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Tick the factors" in shown
    response = client.post("/themes/999999/rename", data={"label": "x", "csrf_token": token})
    assert response.status_code == 302
    assert len(corpus.exec(select(ThemeCuration)).all()) == 1


def test_a_split_off_restricted_factor_never_names_itself_to_readers(
    corpus, make_postmortem, make_user, client, login
):
    make_postmortem(
        ref="INC-2026-290",
        title="Secret incident",
        summary="Customers saw errors.",
        visibility="restricted",
        teams=["security"],
        contributing_factors=[
            {
                "text": "The quokkagate certificate expired: quokkagate renewal was manual.",
                "category": "certificates",
            }
        ],
    )
    _rebuild(corpus)
    admin = make_user("admin@x.example", role="admin")
    secret = corpus.exec(
        select(Factor.id, ThemeFactor.theme_id)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
        .join(Postmortem, Postmortem.id == Factor.postmortem_id)
        .where(Postmortem.ref == "INC-2026-290")
    ).one()
    new = curation.split(corpus, admin, secret[1], [secret[0]], "")
    corpus.commit()
    assert new.private_label  # labelled from a restricted factor only
    login(make_user("out@x.example", teams=["storefront"]))
    pages = [client.get(p).get_data(as_text=True) for p in ("/themes", f"/themes/{secret[1]}")]
    assert all("quokkagate" not in page.lower() for page in pages)
    assert client.get(f"/themes/{new.id}").status_code == 404
    _rebuild(corpus)
    page = client.get("/themes").get_data(as_text=True)
    assert "quokkagate" not in page.lower()
