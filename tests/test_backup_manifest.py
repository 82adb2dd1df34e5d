"""`kb restore` reads only files inside the backup folder, whatever its manifest says."""

import json
import shutil

import pytest
from sqlalchemy import select
from sqlmodel import Session

from kb.models import Postmortem


@pytest.fixture
def backup_folder(runner, make_postmortem, tmp_path):
    """A backup of two postmortems, and a third written after it (restore would drop it)."""
    for i in range(2):
        make_postmortem(title=f"Backed up {i}")
    dest = tmp_path / "backup"
    assert runner.invoke(args=["backup", str(dest)]).exit_code == 0
    make_postmortem(title="Written after the backup")
    return dest


def _refs(app):
    with Session(app.extensions["kb_engine"]) as session:
        return set(session.scalars(select(Postmortem.title)))


def _point(dest, key, value):
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest[key] = value
    (dest / "manifest.json").write_text(json.dumps(manifest))


def _outside_copy(dest, key):
    """A copy of the file the manifest names under `key`, beside the backup folder."""
    name = json.loads((dest / "manifest.json").read_text())[key]
    if name is None:
        pytest.skip("this backup has no database snapshot (pg_dump is not installed)")
    outside = dest.parent / f"outside-{name}"
    shutil.copy(dest / name, outside)
    return outside


@pytest.mark.parametrize("key", ["documents", "snapshot"])
@pytest.mark.parametrize("form", ["relative", "absolute", "link"])
def test_a_manifest_pointing_outside_its_folder_is_refused_and_nothing_restored(
    app, runner, backup_folder, key, form
):
    outside = _outside_copy(backup_folder, key)
    if form == "relative":
        _point(backup_folder, key, f"../{outside.name}")
    elif form == "absolute":
        _point(backup_folder, key, str(outside))
    else:  # a name inside the folder that is a link leading out of it
        (backup_folder / "elsewhere").symlink_to(outside)
        _point(backup_folder, key, "elsewhere")
    before = _refs(app)
    args = ["restore", "--yes", str(backup_folder)]
    outcome = runner.invoke(args=args + (["--from-documents"] if key == "documents" else []))
    assert outcome.exit_code == 1, outcome.output
    assert f"{key} must name a file in the backup folder" in outcome.output
    assert "nothing was restored" in outcome.output
    assert _refs(app) == before and "Written after the backup" in before


@pytest.mark.parametrize("value", [5, ["documents.jsonl"], "", ".", "..", "a/../documents.jsonl"])
def test_a_manifest_naming_no_plain_file_is_refused(app, runner, backup_folder, value):
    _point(backup_folder, "documents", value)
    outcome = runner.invoke(args=["restore", "--yes", str(backup_folder)])
    assert outcome.exit_code == 1
    assert "documents must name a file in the backup folder" in outcome.output


def test_a_manifest_that_is_not_an_object_is_refused(runner, backup_folder):
    (backup_folder / "manifest.json").write_text("[1, 2]")
    outcome = runner.invoke(args=["restore", "--yes", str(backup_folder)])
    assert outcome.exit_code == 1 and "is damaged" in outcome.output
