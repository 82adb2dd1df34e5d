"""Themes: the pure clustering, the stored rebuild, reading through visibility, trends, pages."""

import re
from datetime import date

import pytest
from sqlmodel import select

from kb import accounts
from kb.insights import clustering, themes
from kb.models import Factor, Postmortem, Theme, ThemeFactor, ThemeRun

CERTIFICATE = [
    "The TLS certificate on the load balancer expired because renewal was manual.",
    "Certificate renewal reminders went to a mailbox nobody read, so it expired.",
    "An expired intermediate certificate broke the certificate chain for old clients.",
    "The certificate expiry was not monitored and renewal was never automated.",
]
DNS = [
    "The DNS resolver cache kept a stale record after the failover.",
    "A DNS record change propagated slowly because the resolver TTL was an hour.",
    "The resolver cached NXDOMAIN answers, so DNS lookups kept failing.",
    "Clients pinned the old DNS record; the resolver never refreshed it.",
]
# (ref, month started, factor texts, category of each)
CORPUS = [
    ("INC-2026-201", "2026-01", [CERTIFICATE[0], DNS[0]], ["certificates", "dns"]),
    ("INC-2026-202", "2026-02", [DNS[1]], ["dns"]),
    ("INC-2026-203", "2026-03", [CERTIFICATE[1]], ["certificates"]),
    ("INC-2026-204", "2026-06", [CERTIFICATE[2], DNS[2]], ["certificates", "dns"]),
    ("INC-2026-205", "2026-06", [CERTIFICATE[3]], ["certificates"]),
    ("INC-2026-206", "2026-06", [DNS[3]], ["dns"]),
]


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
            action_items=[{"title": f"Fix {ref}", "status": "done", "factor": 0}],
        )
    make_postmortem(
        ref="INC-2026-299",
        title="A draft about certificates",
        status="draft",
        contributing_factors=[{"text": "A draft certificate expired factor."}],
    )
    return session


def _membership(session):
    rows = session.exec(
        select(Postmortem.ref, Factor.position, Theme.label)
        .join(Factor, Factor.postmortem_id == Postmortem.id)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
        .join(Theme, Theme.id == ThemeFactor.theme_id)
    ).all()
    return sorted(rows)


def _group_of(session):
    rows = session.exec(
        select(Postmortem.ref, Factor.text, ThemeFactor.theme_id)
        .join(Factor, Factor.postmortem_id == Postmortem.id)
        .join(ThemeFactor, ThemeFactor.factor_id == Factor.id)
    ).all()
    return {text: theme for _ref, text, theme in rows}


# --- the pure part ------------------------------------------------------------------------


def test_clustering_is_deterministic_and_separates_clear_topics():
    texts = CERTIFICATE + DNS
    first = clustering.cluster(texts, k=2)
    second = clustering.cluster(texts, k=2)
    assert first == second
    assert len({first.labels[i] for i in range(4)}) == 1
    assert len({first.labels[i] for i in range(4, 8)}) == 1
    assert first.labels[0] != first.labels[4]
    words = {" ".join(terms) for terms in first.terms}
    assert any("certificate" in w for w in words) and any(
        "dns" in w or "resolver" in w for w in words
    )


def test_the_number_of_themes_follows_the_rule_and_the_authors_categories():
    assert clustering.choose_k(200) == 10  # sqrt(200 / 2)
    assert clustering.choose_k(1) == 1
    # Twelve author categories and 50 factors without one: 12 + sqrt(25).
    assert clustering.choose_k(200, 12, 50) == 17
    assert clustering.choose_k(10_000_000) == clustering.MAX_THEMES


def test_terms_are_taken_only_from_labelable_texts():
    texts = ["Zebrafirewall secret rotated by hand.", *CERTIFICATE]
    result = clustering.cluster(texts, labelable=[False, True, True, True, True], k=1)
    assert result.private_terms == [False]
    assert not any("zebrafirewall" in t for t in result.terms[0])
    alone = clustering.cluster(texts[:1], labelable=[False], k=1)
    assert alone.private_terms == [True]


def test_empty_and_wordless_input():
    assert clustering.cluster([]).k == 0
    result = clustering.cluster(["the", "a"])
    assert result.labels == [-1, -1] and result.k == 0


# --- rebuild and storage ------------------------------------------------------------------


def test_rebuild_stores_rows_and_is_deterministic(corpus):
    report = themes.rebuild(corpus)
    corpus.commit()
    assert report.changed and report.factors == 8 and report.postmortems == 6
    first = _membership(corpus)
    assert len(first) == 8  # the draft's factor is in no theme
    ids = {t.id for t in corpus.exec(select(Theme)).all()}

    again = themes.rebuild(corpus, force=True)
    corpus.commit()
    assert again.changed
    assert _membership(corpus) == first
    assert {t.id for t in corpus.exec(select(Theme)).all()} == ids  # links stay valid


def test_rebuild_does_nothing_until_a_published_postmortem_changes(corpus, make_postmortem):
    themes.rebuild(corpus)
    corpus.commit()
    assert themes.is_stale(corpus) is False
    assert themes.rebuild(corpus).changed is False
    make_postmortem(ref="INC-2026-207", contributing_factors=[{"text": CERTIFICATE[0]}])
    assert themes.is_stale(corpus) is True
    assert themes.rebuild(corpus).changed is True
    corpus.commit()
    assert len(corpus.exec(select(ThemeRun)).all()) == 2


def test_the_authors_categories_guide_the_themes():
    # Different words, same category: the authors' filing keeps them together.
    texts = [
        "The card provider timed out under load.",
        "An upstream SMS vendor dropped messages silently.",
        "The map tiles API changed its response without notice.",
        "No alert fired on the error rate.",
        "The dashboard showed the backlog but nobody was paged.",
        "The threshold was calibrated for daytime traffic.",
    ]
    categories = ["dependencies"] * 3 + ["monitoring"] * 3
    result = clustering.cluster(texts, categories=categories)
    assert result.k == 2
    assert len(set(result.labels[:3])) == 1 and len(set(result.labels[3:])) == 1
    assert sorted(result.categories) == ["dependencies", "monitoring"]
    assert clustering.label_for(["timed out"], "dependencies") == "Dependencies: timed out"


def test_rebuilt_themes_follow_topic_and_category(corpus):
    themes.rebuild(corpus)
    corpus.commit()
    group = _group_of(corpus)
    assert len({group[t] for t in CERTIFICATE}) == 1
    assert len({group[t] for t in DNS}) == 1
    assert group[CERTIFICATE[0]] != group[DNS[0]]
    labels = {t.label for t in corpus.exec(select(Theme)).all()}
    # Labels are short phrases from the factors themselves, not keyword lists.
    assert all(2 <= len(label.split()) <= 6 and "," not in label for label in labels), labels
    assert any("certificate" in label.lower() for label in labels), labels
    assert any("dns" in label.lower() or "resolver" in label.lower() for label in labels), labels


# --- reading ------------------------------------------------------------------------------


def test_list_and_detail_read_the_stored_themes(corpus):
    themes.rebuild(corpus)
    corpus.commit()
    views = themes.list_themes(corpus, None, today=date(2026, 6, 20))
    assert [v.recurring for v in views] == sorted((v.recurring for v in views), reverse=True)
    cert = next(v for v in views if "certificate" in v.label.lower())
    assert cert.size == 4 and cert.postmortems == 4
    assert cert.per_month[date(2026, 6, 1)] == 2
    detail = themes.get_theme(corpus, None, cert.id)
    assert {q["ref"] for q in detail.quotes} == {
        "INC-2026-201",
        "INC-2026-203",
        "INC-2026-204",
        "INC-2026-205",
    }
    # Action items linked to a factor of the theme: each postmortem's first factor.
    assert detail.actions_total >= 2 and detail.actions_done == detail.actions_total


def test_trending_finds_new_and_growing_themes(corpus):
    assert themes.trending(corpus, None, date(2026, 6, 1)) == []  # nothing stored yet
    themes.rebuild(corpus)
    corpus.commit()
    june = themes.trending(corpus, None, date(2026, 6, 1))
    assert june, "both themes have two factors in June against about one in six months"
    cert = next(t for t in june if "certificate" in t.label.lower())
    assert cert.this_month == 2 and cert.is_growing and not cert.is_new
    assert cert.monthly_average == round(2 / 6, 2)  # January and March, over Dec-May
    assert cert.refs[:2] == ["INC-2026-205", "INC-2026-204"]
    assert cert.size == 4 and cert.postmortems == 4
    january = themes.trending(corpus, None, date(2026, 1, 1))
    assert january == []  # one postmortem so far: not recurring yet
    february = themes.trending(corpus, None, date(2026, 2, 1))
    assert all(t.size <= 2 for t in february)  # only what existed by the end of February


def test_a_restricted_factor_is_not_counted_for_those_who_may_not_see_it(
    corpus, make_postmortem, make_user
):
    make_postmortem(
        ref="INC-2026-250",
        title="Restricted certificate incident",
        visibility="restricted",
        teams=["security"],
        started_at="2026-06-07T10:00:00Z",
        detected_at="2026-06-07T10:10:00Z",
        mitigated_at="2026-06-07T10:20:00Z",
        resolved_at="2026-06-07T11:00:00Z",
        published_at="2026-06-09T10:00:00Z",
        contributing_factors=[
            {"text": "The certificate expired; renewal was manual.", "category": "certificates"}
        ],
    )
    themes.rebuild(corpus)
    corpus.commit()
    outsider = make_user("out@x.example", teams=["storefront"])
    insider = make_user("in@x.example", teams=["security"])
    size = {}
    for name, user in (("out", outsider), ("in", insider)):
        views = themes.list_themes(corpus, user)
        size[name] = next(v.size for v in views if "certificate" in v.label.lower())
    assert size == {"out": 4, "in": 5}


# --- pages, API and the command -----------------------------------------------------------


@pytest.fixture
def built(corpus, runner):
    result = runner.invoke(args=["themes", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "themes from 8 factors of 6 published postmortems" in result.output
    again = runner.invoke(args=["themes", "rebuild"])
    assert "Nothing changed since the last rebuild" in again.output
    return corpus


def test_themes_page_leads_with_recurring_themes(built, client, login, make_user):
    login(make_user("r@x.example"))
    body = client.get("/themes").get_data(as_text=True)
    assert "Recurring themes" in body
    assert re.search(r'<h2><a href="/themes/\d+">[^<]*[Cc]ertificate', body)
    assert CERTIFICATE[0] in body and 'href="/postmortems/INC-2026-201#factor-0"' in body
    assert 'class="sparkline"' in body and 'style="' not in body
    theme_id = next(
        t.id for t in built.exec(select(Theme)).all() if "certificate" in t.label.lower()
    )
    detail = client.get(f"/themes/{theme_id}").get_data(as_text=True)
    assert "Action items for these factors" in detail and "Fix INC-2026-205" in detail
    assert client.get("/themes/999999").status_code == 404


def test_themes_api_shape(built, client, make_user, session):
    make_user("api@x.example")
    _row, token = accounts.create_token(session, "api@x.example", "t")
    session.commit()
    data = client.get("/api/v1/themes", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert data["total"] == len(data["items"]) >= 2
    item = data["items"][0]
    assert set(item) >= {"id", "label", "terms", "size", "postmortems", "factors"}
    assert item["size"] == len(item["factors"])
    assert {"ref", "index"} <= set(item["factors"][0])
    assert all(ref.startswith("INC-") for ref in item["postmortems"])


def test_a_label_quotes_nothing_from_a_postmortem_made_restricted_after_the_rebuild(
    corpus, make_postmortem, make_user, client, login
):
    from kb.insights import dashboard, similar
    from kb.postmortems import get

    fields = dict(
        ref="INC-2026-270",
        title="Incident INC-2026-270",
        summary="Customers saw errors.",
        started_at="2026-06-20T10:00:00Z",
        detected_at="2026-06-20T10:10:00Z",
        mitigated_at="2026-06-20T10:20:00Z",
        resolved_at="2026-06-20T11:00:00Z",
        published_at="2026-06-25T10:00:00Z",
        contributing_factors=[
            {
                "text": "The quokkagate certificate expired: quokkagate renewal was manual.",
                "category": "certificates",
            }
        ],
    )
    make_postmortem(**fields)
    themes.rebuild(corpus)
    corpus.commit()
    stored = corpus.exec(select(Theme).where(Theme.label.ilike("%certificate%"))).one()
    assert "quokkagate" in stored.terms  # the rebuild took a word from the internal one
    # Made restricted after the rebuild: its words must leave every label at once, for
    # those who may not read it, without waiting for the next rebuild.
    make_postmortem(**fields, visibility="restricted", teams=["security"])
    outsider = make_user("out@x.example", teams=["storefront"])
    insider = make_user("in@x.example", teams=["security"])

    def shown_to(user):
        views = themes.list_themes(corpus, user)
        one = themes.get_theme(corpus, user, stored.id)
        factors = [f.id for f in get(corpus, "INC-2026-203", user).factors]
        pm = get(corpus, "INC-2026-205", user)
        figures = dashboard.dashboard(corpus, user, date(2026, 1, 1), date(2026, 6, 1))
        return repr(
            (
                [(v.label, v.terms) for v in views],
                (one.label, one.terms),
                themes.theme_of_factors(corpus, user, factors),
                similar.similar_to(corpus, user, pm),
                similar.suggest(corpus, user, "certificate renewal expired"),
                figures.top_themes,
                themes.trending(corpus, user, date(2026, 6, 1)),
            )
        )

    seen, unseen = shown_to(insider), shown_to(outsider)
    assert "quokkagate" in seen
    assert "quokkagate" not in unseen.lower()
    # Labelled from the factors left to see.
    assert any("certificate" in v.label.lower() for v in themes.list_themes(corpus, outsider))
    login(outsider)
    pages = [client.get(p).get_data(as_text=True) for p in ("/themes", f"/themes/{stored.id}")]
    assert all("quokkagate" not in page.lower() for page in pages)
