"""Import and export: idempotent by ref, whole records only, lossless round trip."""

import json

from sqlalchemy import event

from kb import seed, transfer
from kb.models import Factor, Postmortem, Revision
from tests.conftest import document


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_import_reports_bad_records_and_keeps_the_good_ones(runner, session, tmp_path):
    good = [document(ref=f"INC-2026-{n:03d}", title=f"Incident number {n}") for n in range(1, 4)]
    lines = [json.dumps(good[0]), "{not json", json.dumps(good[1])]
    lines.append(json.dumps(document(ref="INC-2026-099", severity="SEV7")))
    lines.append(json.dumps(good[2]))
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = runner.invoke(args=["import", str(source)])

    assert result.exit_code == 1
    assert f"{source}:2: not valid JSON" in result.output
    assert f"{source}:4: INC-2026-099: severity: must be one of" in result.output
    assert "3 created, 0 updated, 0 unchanged, 2 invalid." in result.output
    refs = sorted(session.exec(Postmortem.__table__.select()).all(), key=lambda r: r.ref)
    assert [r.ref for r in refs] == ["INC-2026-001", "INC-2026-002", "INC-2026-003"]


def test_importing_again_updates_and_never_duplicates(runner, session, tmp_path):
    source = write_jsonl(tmp_path / "a.jsonl", [document(ref="INC-2026-001")])
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    again = runner.invoke(args=["import", str(source)])
    assert "0 created, 0 updated, 1 unchanged" in again.output

    write_jsonl(source, [document(ref="INC-2026-001", title="A better title")])
    assert "0 created, 1 updated" in runner.invoke(args=["import", str(source)]).output
    rows = session.exec(Postmortem.__table__.select()).all()
    assert [(r.ref, r.title, r.version) for r in rows] == [("INC-2026-001", "A better title", 2)]
    assert len(session.exec(Revision.__table__.select()).all()) == 2


def test_a_record_the_database_refuses_is_not_half_written(session):
    """A failure after the postmortem row is written rolls back that whole record only."""

    def refuse(_mapper, _connection, target):
        if target.text == "the database refuses this factor":
            raise RuntimeError("refused by the database")

    records = [
        transfer.Record("x", 1, data=document(ref="INC-2026-001")),
        transfer.Record("x", 2, data=document(ref="INC-2026-002")),
        transfer.Record("x", 3, data=document(ref="INC-2026-003")),
    ]
    records[1].data["contributing_factors"] = [
        {"text": "a factor that is fine"},
        {"text": "the database refuses this factor"},
    ]
    event.listen(Factor, "before_insert", refuse)
    try:
        report = transfer.import_records(session, records)
    finally:
        event.remove(Factor, "before_insert", refuse)
    session.commit()
    assert report.created == 2
    assert report.problems == ["x:2: could not be saved: refused by the database"]
    refs = sorted(r.ref for r in session.exec(Postmortem.__table__.select()).all())
    assert refs == ["INC-2026-001", "INC-2026-003"]
    assert len(session.exec(Factor.__table__.select()).all()) == 2
    assert len(session.exec(Revision.__table__.select()).all()) == 2


def test_round_trip_over_the_whole_seed_is_identical(app, runner, session, tmp_path):
    report = seed.load_postmortems(session)
    session.commit()
    assert report.ok, report.problems
    assert report.created >= 30
    first, second = tmp_path / "first", tmp_path / "second"
    assert runner.invoke(args=["export", str(first)]).exit_code == 0

    for table in ("revision", "actionitem", "factor", "label", "change", "auditevent"):
        session.exec(Postmortem.metadata.tables[table].delete())
    session.exec(Postmortem.__table__.delete())
    session.commit()

    assert runner.invoke(args=["import", str(first)]).exit_code == 0
    assert runner.invoke(args=["export", str(second)]).exit_code == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert len(names) == report.created
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_kb_seed_loads_once_and_says_how_to_sign_in(runner):
    first = runner.invoke(args=["seed", "--if-empty", "--no-hint"])
    assert first.exit_code == 0 and "40 postmortems created" in first.output
    assert "Sign in" not in first.output
    again = runner.invoke(args=["seed", "--if-empty"])
    assert "demo data not loaded" in again.output and "Sign in at" in again.output
    hint = runner.invoke(args=["seed", "--hint-only"])
    assert hint.exit_code == 0 and "reader@brightcart.example" in hint.output
    assert "password: hindsight-demo" in hint.output and "Loaded" not in hint.output


def test_export_markdown_and_jsonl(runner, make_postmortem, tmp_path):
    make_postmortem(ref="INC-2026-001", summary="The **summary**.")
    assert (
        runner.invoke(args=["export", "--format", "markdown", str(tmp_path / "md")]).exit_code == 0
    )
    text = (tmp_path / "md" / "INC-2026-001.md").read_text()
    assert text.startswith("---\nformat: hindsight/postmortem@1\nref: INC-2026-001\n")
    assert "\n# Checkout errors" in text
    assert "## Summary\n\nThe **summary**." in text
    assert "## Contributing factors" in text
    result = runner.invoke(args=["export", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 0
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["ref"] == "INC-2026-001"


def test_refs_are_generated_when_absent(runner, session, tmp_path):
    docs = [document(title="First of the year"), document(title="Second of the year")]
    source = write_jsonl(tmp_path / "new.jsonl", docs)
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    refs = sorted(r.ref for r in session.exec(Postmortem.__table__.select()).all())
    assert refs == ["INC-2026-001", "INC-2026-002"]


def test_a_json_array_and_a_folder_can_be_imported(runner, session, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "one.json").write_text(json.dumps(document(ref="INC-2026-001")))
    (folder / "two.json").write_text(
        json.dumps([document(ref="INC-2026-002"), document(ref="INC-2026-003")])
    )
    (folder / "broken.json").write_text('{\n  "title": \n}')
    result = runner.invoke(args=["import", str(folder)])
    assert result.exit_code == 1
    assert "broken.json:3: not valid JSON" in result.output
    assert "3 created" in result.output
