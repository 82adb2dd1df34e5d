"""Between rebuilds, publishing puts a postmortem in the themes and similar incidents at once,
and unpublishing takes it out."""

from datetime import date

from sqlmodel import select

from kb import postmortems, workflow
from kb.digest import compose
from kb.insights import dashboard, similar, themes
from kb.models import PostmortemTerm, Theme, ThemeFactor
from tests.test_themes_curation import corpus  # noqa: F401 (the fixture)

NEW_FACTOR = "The payment gateway TLS certificate expired because renewal was a manual task."


def _cert_theme(session, user):
    views = themes.list_themes(session, user, today=date(2026, 6, 20))
    return next(v for v in views if "certificate" in v.label.lower())


def _publish(make_postmortem):
    return make_postmortem(
        ref="INC-2026-250",
        title="Payment gateway certificate expired",
        summary="Card payments failed while the gateway certificate was expired.",
        started_at="2026-06-12T10:00:00Z",
        detected_at="2026-06-12T10:10:00Z",
        mitigated_at="2026-06-12T10:20:00Z",
        resolved_at="2026-06-12T11:00:00Z",
        published_at="2026-06-15T10:00:00Z",
        services=["payments-gateway"],
        contributing_factors=[{"text": NEW_FACTOR, "category": "certificates"}],
    )


def test_publishing_joins_the_nearest_theme_and_similar_incidents_at_once(
    app,
    corpus,  # noqa: F811
    make_postmortem,
    make_user,
):
    reader = make_user("reader@x.example")
    before = _cert_theme(corpus, reader)
    run_before = themes.last_run(corpus)
    revision = run_before.revision
    june = date(2026, 6, 1)
    top_before = dict(
        (theme_id, n)
        for theme_id, _l, n in dashboard.dashboard(corpus, reader, june, june).top_themes
    )
    pm = _publish(make_postmortem)
    # No rebuild: the factor is in the certificate theme already.
    after = _cert_theme(corpus, reader)
    assert after.id == before.id
    assert (after.size, after.postmortems) == (before.size + 1, before.postmortems + 1)
    corpus.expire_all()  # the fixture's session keeps objects after a commit
    assert corpus.get(Theme, before.id).size == before.size + 1
    found = themes.theme_of_factors(corpus, reader, [f.id for f in pm.factors])
    assert [theme_id for theme_id, _label in found.values()] == [before.id]
    corpus.refresh(run_before)
    assert themes.last_run(corpus).revision == revision + 1
    # Similar incidents: it finds the certificate incidents, and they find it.
    assert "INC-2026-203" in [s["ref"] for s in similar.similar_to(corpus, reader, pm)]
    other = postmortems.get(corpus, "INC-2026-205", reader)
    assert "INC-2026-250" in [s["ref"] for s in similar.similar_to(corpus, reader, other, 10)]
    shared = next(s for s in similar.similar_to(corpus, reader, pm) if s["ref"] == "INC-2026-205")
    assert [t["id"] for t in shared["shared"]["themes"]] == [before.id]
    # The figures' top themes and the digest's trends count it.
    board = dashboard.dashboard(corpus, reader, june, june)
    assert (before.id, after.label, top_before[before.id] + 1) in board.top_themes
    june = themes.trending(corpus, reader, date(2026, 6, 1))
    assert "INC-2026-250" in next(t for t in june if t.id == before.id).refs
    with app.app_context():
        digest = compose.compose(corpus, reader, date(2026, 6, 1))
    assert any("INC-2026-250" in t.refs for t in digest.themes)


def test_unpublishing_takes_it_out_again(corpus, make_postmortem, make_user):  # noqa: F811
    admin = make_user("admin@x.example", role="admin")
    reader = make_user("reader@x.example")
    before = _cert_theme(corpus, reader)
    pm = _publish(make_postmortem)
    assert _cert_theme(corpus, reader).size == before.size + 1
    workflow.transition(corpus, pm, "unpublish", admin, comment="published by mistake")
    corpus.commit()
    assert _cert_theme(corpus, reader).size == before.size
    corpus.expire_all()
    assert corpus.get(Theme, before.id).size == before.size
    assert corpus.exec(select(ThemeFactor).where(ThemeFactor.postmortem_id == pm.id)).all() == []
    terms = select(PostmortemTerm).where(PostmortemTerm.postmortem_id == pm.id)
    assert corpus.exec(terms).all() == []
    other = postmortems.get(corpus, "INC-2026-205", reader)
    assert "INC-2026-250" not in [s["ref"] for s in similar.similar_to(corpus, reader, other, 10)]


def test_a_factor_like_no_theme_waits_for_the_rebuild(
    corpus,  # noqa: F811
    make_postmortem,
):
    pm = make_postmortem(
        ref="INC-2026-251",
        title="Zebra",
        summary="Quux.",
        contributing_factors=[{"text": "Xylophone marmalade wobbled."}],
    )
    assert corpus.exec(select(ThemeFactor).where(ThemeFactor.postmortem_id == pm.id)).all() == []


def test_publishing_before_any_rebuild_changes_nothing(make_postmortem, session):
    pm = _publish(make_postmortem)
    assert session.exec(select(ThemeFactor)).all() == []
    assert session.exec(select(PostmortemTerm)).all() == []
    assert pm.status == "published"
