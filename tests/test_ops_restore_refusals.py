"""`kb backup` names the documents a restore would refuse; `kb restore` and `kb import` exit 1
naming every document they did not take: nothing is dropped silently."""

import json

from sqlmodel import Session, select

from kb.models import Label, Postmortem
from tests.conftest import document
from tests.test_ops_backup import _restored_app, restore_target  # noqa: F401 (a fixture)

AUTHOR = "ana@x.example"


def _restore(url, tmp_path, dest):
    restored = _restored_app(url, tmp_path)
    try:
        outcome = restored.test_cli_runner().invoke(
            args=["restore", "--yes", "--from-documents", str(dest)]
        )
        with Session(restored.extensions["kb_engine"]) as session:
            refs = set(session.scalars(select(Postmortem.ref)))
    finally:
        restored.extensions["kb_engine"].dispose()
    return outcome, refs


def test_a_document_that_would_be_refused_is_named_by_backup_and_restore(
    runner,
    session,
    make_postmortem,
    restore_target,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    kept = make_postmortem(title="Kept whole", authors=[AUTHOR]).ref
    doubled = make_postmortem(title="Authors written twice", authors=[AUTHOR])
    # What two writers appending the same child rows used to leave behind.
    session.add(Label(postmortem_id=doubled.id, field="authors", value=AUTHOR, position=1))
    session.commit()

    dest = tmp_path / "backup"
    taken = runner.invoke(args=["backup", str(dest)])
    assert taken.exit_code == 0, taken.output
    assert f"{doubled.ref}: authors[1]" in taken.output
    assert "a restore from documents would refuse it" in taken.output

    outcome, refs = _restore(restore_target, tmp_path, dest)
    assert outcome.exit_code == 1, outcome.output
    assert f'{doubled.ref}: authors[1]: "{AUTHOR}" is listed twice' in outcome.output
    assert "the backup holds 2 postmortems but only 1 were restored: 1 missing" in outcome.output
    assert refs == {kept}


def test_a_documents_file_cut_short_is_not_restored_silently(
    runner,
    make_postmortem,
    restore_target,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    refs = sorted(make_postmortem(title=f"Postmortem {i}").ref for i in range(3))
    dest = tmp_path / "backup"
    assert runner.invoke(args=["backup", str(dest)]).exit_code == 0
    documents = dest / "documents.jsonl"
    lines = documents.read_text().splitlines(keepends=True)
    documents.write_text("".join(lines[:2]))  # the last line lost (a disk full, a bad copy)

    outcome, restored = _restore(restore_target, tmp_path, dest)
    assert outcome.exit_code == 1, outcome.output
    assert "the backup holds 3 postmortems but only 2 were restored: 1 missing" in outcome.output
    assert restored == set(refs[:2])


def test_an_import_holding_one_ref_twice_takes_the_first_and_names_the_second(
    runner, session, tmp_path
):
    first = document(ref="INC-2026-007", title="The first telling")
    second = document(ref="INC-2026-007", title="The second telling")
    source = tmp_path / "twice.jsonl"
    source.write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n")

    outcome = runner.invoke(args=["import", str(source)])

    assert outcome.exit_code == 1, outcome.output
    assert (
        f"{source}:2: INC-2026-007: not imported: {source}:1 holds the same ref" in outcome.output
    )
    assert "1 created, 0 updated, 0 unchanged, 1 invalid." in outcome.output
    assert session.exec(select(Postmortem.title)).all() == ["The first telling"]
