"""Migration 0014: an existing postmortem's latest revision takes its version's number."""

from sqlalchemy import create_engine, text

from kb import migrations

POSTMORTEM = (
    "INSERT INTO postmortem (id, ref, title, kind, status, visibility, trigger, summary, impact, "
    "detection, response, went_well, went_poorly, got_lucky, surprises, lessons, timeline, "
    "links, version, created_at, updated_at) VALUES (1, 'INC-2026-001', 'Cache stampede', "
    "'incident', 'draft', 'internal', 'unknown', '', '', '', '', '', '', '', '', '', '[]', '[]', "
    "5, '2026-03-02 09:00:00', '2026-03-02 09:00:00')"
)


def test_the_latest_revision_is_renumbered_as_the_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade("0010", url=url)  # the revision before 0014
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text(POSTMORTEM))
        for number in (1, 2, 3):  # versions 3 to 5 were autosaves folded into revision 3
            db.execute(
                text(
                    "INSERT INTO revision (postmortem_id, number, created_at, note, amendment, "
                    "document) VALUES (1, :n, '2026-03-02 09:00:00', 'edited', '', '{}')"
                ),
                {"n": number},
            )
    migrations.upgrade("head", url=url)
    with engine.connect() as db:
        numbers = db.execute(text("SELECT number FROM revision ORDER BY number")).scalars()
        assert list(numbers) == [1, 2, 5]
    engine.dispose()
